# src/identity
