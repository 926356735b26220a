# src/bus
