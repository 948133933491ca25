"""Console accounts, roles, sessions, API tokens and the append-only audit log."""
