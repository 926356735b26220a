# modules/wordfilter (example module)
