"""The Bot API's flood limits as the fake enforces them.

Per bot: 30 messages/s (a bucket of 30). Per private chat: 1 message/s, short bursts of
a few tolerated, as Telegram documents ("we may allow short bursts"). Per group: at most
20 messages in any minute. A refused request is answered 429 with
`parameters.retry_after` in whole seconds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

BOT_RATE, BOT_BURST = 30.0, 30.0
CHAT_RATE, CHAT_BURST = 1.0, 3.0
GROUP_PER_MINUTE = 20


@dataclass(slots=True)
class _Bucket:
    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> float | None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            return None
        return (1.0 - self.tokens) / self.rate

    def commit(self) -> None:
        self.tokens -= 1.0


@dataclass(slots=True)
class FloodLimits:
    """Decides whether one message-producing call to `chat_id` may go now."""

    clock: Callable[[], float]
    bot: _Bucket | None = None
    chats: dict[str, _Bucket] = field(default_factory=dict)
    groups: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, chat_id: str) -> int | None:
        """Take the send's share of every limit; return retry_after seconds when refused."""
        now = self.clock()
        if self.bot is None:
            self.bot = _Bucket(BOT_RATE, BOT_BURST, BOT_BURST, now)
        waits = []
        bot_wait = self.bot.take(now)
        if bot_wait is not None:
            waits.append(bot_wait)
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = _Bucket(CHAT_RATE, CHAT_BURST, CHAT_BURST, now)
        chat_wait = chat.take(now)
        if chat_wait is not None:
            waits.append(chat_wait)
        window = None
        if chat_id.startswith("-"):
            window = self.groups.setdefault(chat_id, deque())
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= GROUP_PER_MINUTE:
                waits.append(window[0] + 60.0 - now)
        if waits:
            return max(1, math.ceil(max(waits)))
        self.bot.commit()
        chat.commit()
        if window is not None:
            window.append(now)
        return None
