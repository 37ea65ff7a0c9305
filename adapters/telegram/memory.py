"""Small in-memory TTL stores of the Telegram adapter: used button tokens and long choices.

In-memory on purpose for this release: a restart forgets them, which only means a replay
of a token pressed before the restart is answered by core ("already acknowledged") and
a cached choice asks to type the command again. Several processes would need a shared
store (the database or Redis).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from datetime import datetime, timedelta

from core.ports import Clock

MAX_ENTRIES = 50_000


class UsedTokens:
    """Remembers pressed action tokens until they expire, to refuse a replayed press."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._used: OrderedDict[str, datetime] = OrderedDict()

    def claim(self, token: str, expires_at: datetime) -> bool:
        """Mark `token` used; False when it already was (a replay)."""
        self._prune()
        if token in self._used:
            return False
        self._used[token] = expires_at
        return True

    def release(self, token: str) -> None:
        """Forget a claim whose press changed nothing (it may be pressed again)."""
        self._used.pop(token, None)

    def _prune(self) -> None:
        now = self._clock.now()
        while self._used and (
            len(self._used) > MAX_ENTRIES or next(iter(self._used.values())) <= now
        ):
            self._used.popitem(last=False)


class ChoiceCache:
    """Commands too long for 64 bytes of callback data, kept under a short id for a day."""

    def __init__(self, clock: Clock, ttl: timedelta = timedelta(days=1)) -> None:
        self._clock = clock
        self._ttl = ttl
        self._choices: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    def put(self, command: str) -> str:
        """Keep `command`; return its short id (12 URL-safe characters)."""
        now = self._clock.now()
        while self._choices and (
            len(self._choices) >= MAX_ENTRIES or next(iter(self._choices.values()))[1] <= now
        ):
            self._choices.popitem(last=False)
        key = secrets.token_urlsafe(9)
        self._choices[key] = (command, now + self._ttl)
        return key

    def get(self, key: str) -> str | None:
        found = self._choices.get(key)
        if found is None or found[1] <= self._clock.now():
            return None
        return found[0]
