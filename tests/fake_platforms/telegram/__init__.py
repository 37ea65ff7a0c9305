"""A loopback fake of the Telegram Bot API (see `server.FakeBotApi`)."""

from tests.fake_platforms.telegram.server import ApiCall, FakeBotApi, SentMessage

__all__ = ["ApiCall", "FakeBotApi", "SentMessage"]
