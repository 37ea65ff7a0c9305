"""Redis-backed shared state (rate limits shared by several processes)."""
