# src/feed
