# src/modhost
