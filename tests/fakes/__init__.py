"""Working in-memory test doubles (`Fake*`) of the ports."""
