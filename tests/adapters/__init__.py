"""Adapter tests: each platform against its loopback fake."""
