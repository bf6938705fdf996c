"""Where the daemon keeps its state, and the SQLite store that keeps it there."""
