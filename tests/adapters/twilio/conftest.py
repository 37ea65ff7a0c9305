"""The loopback Twilio `world` fixture (defined with the adapter's own tests) for every
test module in this folder."""

from tests.adapters.twilio.test_twilio import world

__all__ = ["world"]
