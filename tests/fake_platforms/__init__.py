"""Loopback fakes of outside systems, speaking their real wire protocols."""
