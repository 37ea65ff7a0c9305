"""Retry timing for the outbox: exponential backoff with jitter, per alert level.

Pure: the random source is injected and nothing here sleeps or reads the clock. A
platform's `Retry-After` always wins over the computed delay, exactly as given up to
`MAX_RETRY_AFTER_S` (one hour): no real rate-limit window is longer, while a larger value
is a platform's bug (a Unix timestamp sent as seconds, `1e12`) that would otherwise block a
destination for decades or overflow date arithmetic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# The longest Retry-After honoured; see the module docstring.
MAX_RETRY_AFTER_S = 3600.0


class Jitter(StrEnum):
    """How a delay is randomised so that many failing rows do not retry in lockstep."""

    FULL = "full"  # uniform(0, exponential ceiling)
    DECORRELATED = "decorrelated"  # uniform(base, 3 * previous delay), capped


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one level retries.

    Attributes:
        base_s: the ceiling of the first retry delay, in seconds.
        factor: how much the ceiling grows with each attempt (>= 1).
        cap_s: no delay is ever longer than this (except an explicit Retry-After).
        attempts: total sends allowed, the first one included; then the row is dead.
        jitter: the randomisation strategy.
    """

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 600.0
    attempts: int = 6
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s <= 0:
            raise ValueError("base_s and cap_s must be positive")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt number `attempt` (1-based), capped."""
        exponent = max(0, attempt - 1)
        # Compare in log space so that huge attempt numbers cannot overflow a float.
        if exponent * math.log(self.factor) >= math.log(self.cap_s / self.base_s):
            return self.cap_s
        return min(self.cap_s, self.base_s * self.factor**exponent)

    def exhausted(self, attempts_made: int) -> bool:
        """True when `attempts_made` sends used up this policy."""
        return attempts_made >= self.attempts


@dataclass(frozen=True, slots=True)
class RetryPolicies:
    """One RetryPolicy per level 1..5 (index 0 is level 1)."""

    levels: tuple[RetryPolicy, RetryPolicy, RetryPolicy, RetryPolicy, RetryPolicy]

    @classmethod
    def from_settings(
        cls,
        base_s: float,
        factor: float,
        cap_s: float,
        attempts: Sequence[float],
        jitter: Jitter = Jitter.FULL,
    ) -> RetryPolicies:
        """Build the five policies from the settings values.

        Args:
            base_s: HDT_RETRY_BASE_S.
            factor: HDT_RETRY_FACTOR.
            cap_s: HDT_RETRY_CAP_S.
            attempts: HDT_RETRY_ATTEMPTS, five counts for levels 1..5.
            jitter: the jitter strategy for every level.

        Raises:
            ValueError: when `attempts` does not hold exactly five counts >= 1.
        """
        if len(attempts) != 5:
            raise ValueError("attempts needs five counts, one per level 1..5")
        made = tuple(RetryPolicy(base_s, factor, cap_s, int(a), jitter) for a in attempts)
        return cls((made[0], made[1], made[2], made[3], made[4]))

    @classmethod
    def default(cls) -> RetryPolicies:
        """The defaults of bot/settings.py: base 2 s, factor 2, cap 600 s, 4..12 attempts."""
        return cls.from_settings(2.0, 2.0, 600.0, [4, 6, 8, 10, 12])

    def for_level(self, level: int) -> RetryPolicy:
        """The policy of `level`; out-of-range levels are clamped to 1..5."""
        return self.levels[min(5, max(1, int(level))) - 1]


def clamp_retry_after(seconds: float | None) -> float | None:
    """A platform's Retry-After made safe to add to a date.

    Args:
        seconds: the wait the platform asked for, as parsed.

    Returns:
        `seconds` within 0..MAX_RETRY_AFTER_S (infinity becomes the maximum); None when
        there is none or it is not a number (NaN).
    """
    if seconds is None or math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, float(seconds)))


def next_delay(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random,
    *,
    retry_after: float | None = None,
    previous_s: float | None = None,
) -> float:
    """Seconds to wait before the next send after failed attempt number `attempt`.

    Args:
        policy: the level's policy.
        attempt: how many sends have failed so far (1 after the first failure).
        rng: the injected random source.
        retry_after: the platform's Retry-After; when given it is returned exactly, up
            to MAX_RETRY_AFTER_S.
        previous_s: the previous delay, for decorrelated jitter (defaults to the
            un-jittered delay of the attempt before).

    Returns:
        A delay in seconds, never negative and never above `policy.cap_s` unless it is
        the platform's own Retry-After.
    """
    honoured = clamp_retry_after(retry_after)
    if honoured is not None:
        return honoured
    if policy.jitter is Jitter.DECORRELATED:
        previous = previous_s if previous_s is not None else policy.ceiling(attempt - 1)
        upper = max(policy.base_s, previous * 3.0)
        return min(policy.cap_s, rng.uniform(policy.base_s, upper))
    return rng.uniform(0.0, policy.ceiling(attempt))
