"""One file per model; see docs/architecture.md for the shared forward() contract."""
