# src/commit
