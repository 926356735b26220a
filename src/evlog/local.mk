# src/evlog
