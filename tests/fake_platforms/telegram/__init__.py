"""A loopback fake of the Telegram Bot API (see `server.FakeBotApi`)."""

from tests.fake_platforms.telegram.server import (
    GROUP_ANONYMOUS_BOT,
    MEDIA,
    ApiCall,
    FakeBotApi,
    SentMessage,
)

__all__ = ["GROUP_ANONYMOUS_BOT", "MEDIA", "ApiCall", "FakeBotApi", "SentMessage"]
