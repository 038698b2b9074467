"""Training pipeline: runs recorded in SQLite, done by worker processes, step by step."""
