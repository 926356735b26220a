# src/ws
