"""One contract test class run against every core.ports.Channel implementation."""
