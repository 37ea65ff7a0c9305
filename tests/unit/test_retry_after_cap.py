"""A platform's Retry-After is honoured up to an hour, never beyond (core.backoff).

A receiver that sends `1e12`, or a Unix timestamp as seconds, would otherwise overflow
date arithmetic (the send's task dies and the row is sent again at once) or block its
destination for decades.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from core.backoff import MAX_RETRY_AFTER_S, RetryPolicy, clamp_retry_after, next_delay
from core.clock import FakeClock
from core.ratelimit import RateLimiter, SharedSlot, penalise_shared

HUGE = [1e12, 1_710_936_000.0, float("inf")]  # absurd, an epoch timestamp, infinite


def test_the_cap_is_one_hour() -> None:
    assert MAX_RETRY_AFTER_S == 3600.0


@pytest.mark.parametrize(
    ("asked", "honoured"),
    [(None, None), (float("nan"), None), (-3.0, 0.0), (7.5, 7.5), (3600.0, 3600.0)]
    + [(value, 3600.0) for value in HUGE],
)
def test_clamp_retry_after(asked: float | None, honoured: float | None) -> None:
    assert clamp_retry_after(asked) == honoured


@pytest.mark.parametrize("asked", HUGE)
def test_a_huge_retry_after_delays_the_retry_by_an_hour_at_most(asked: float) -> None:
    delay = next_delay(RetryPolicy(cap_s=60.0), 1, random.Random(1), retry_after=asked)

    assert delay == MAX_RETRY_AFTER_S


@pytest.mark.parametrize("asked", HUGE)
def test_a_huge_retry_after_blocks_the_scope_for_an_hour_at_most(asked: float) -> None:
    clock = FakeClock(datetime(2024, 3, 20, 12, tzinfo=UTC))
    limiter = RateLimiter(clock)
    scope = ("webhook", "7")

    limiter.penalise(scope, asked)  # used to raise OverflowError, or block for 54 years

    assert limiter.blocked_for((scope,)) == MAX_RETRY_AFTER_S
    clock.advance(MAX_RETRY_AFTER_S)
    assert limiter.blocked_for((scope,)) == 0.0


@pytest.mark.parametrize("asked", HUGE)
def test_a_huge_retry_after_blocks_the_shared_slot_for_an_hour_at_most(asked: float) -> None:
    slot = SharedSlot()

    penalise_shared(slot, 1_000.0, asked)

    assert (slot.blocked_until, slot.tat) == (1_000.0 + MAX_RETRY_AFTER_S,) * 2
