"""When to retry a Bot API call that is not an outbox delivery (start-up, getUpdates, replies).

Outbox deliveries are retried by core delivery; these calls are retried here. A failure
is transient when waiting can fix it: a 429 (its `retry_after` is waited exactly), a
5xx, a network error or timeout, a competing getUpdates (409). Other waits back off
exponentially with full jitter, capped (`core.backoff`). A refused token is fatal: no
wait fixes it. Anything else (a 400, a 403) is a refusal of this one call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from telegram.error import (
    BadRequest,
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from adapters.telegram.errors import retry_after_seconds
from core.backoff import RetryPolicy, next_delay


def transient(exc: TelegramError) -> bool:
    """True when the same call may work after a wait: 429, 5xx, network errors, 409."""
    if isinstance(exc, BadRequest):  # PTB derives BadRequest (400) from NetworkError
        return False
    return isinstance(exc, RetryAfter | Conflict | NetworkError)


def fatal(exc: TelegramError) -> bool:
    """True when Telegram refused the bot token (401/404): the channel cannot work at all."""
    return isinstance(exc, InvalidToken)


@dataclass(slots=True)
class Backoff:
    """The waits of one call retried again and again; `reset()` once it worked."""

    rng: random.Random
    base_s: float
    cap_s: float
    attempt: int = 0

    def next_wait(self, exc: TelegramError) -> float:
        """Seconds to wait after failure `exc`: a 429's retry_after exactly, else backoff."""
        self.attempt += 1
        retry_after = retry_after_seconds(exc) if isinstance(exc, RetryAfter) else None
        # The loops using this are bounded by time or run until cancelled, not by a count.
        policy = RetryPolicy(base_s=self.base_s, cap_s=self.cap_s)
        return next_delay(policy, self.attempt, self.rng, retry_after=retry_after)

    def reset(self) -> None:
        self.attempt = 0
