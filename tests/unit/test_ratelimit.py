"""Token buckets per destination scope: windows, several buckets at once, 429 penalties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import FakeClock
from core.ratelimit import (
    HEADROOM,
    PLATFORM_LIMITS,
    RateLimiter,
    Scope,
    configure_platform_limits,
    destination_scopes,
)

CHAT = (("telegram", "bot"), ("telegram", "chat", "42"))


def sends_within(
    limiter: RateLimiter, clock: FakeClock, scopes: tuple[Scope, ...], seconds: float, step: float
) -> int:
    """How many sends `reserve` allows when asked every `step` seconds for `seconds`."""
    allowed = 0
    for _ in range(round(seconds / step)):
        if limiter.reserve(scopes) == 0:
            allowed += 1
        clock.advance(step)
    return allowed


def test_burst_then_steady_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.configure(("webhook",), rate_per_s=10, burst=5)
    scope = (("webhook", "1"),)
    assert [limiter.reserve(scope) for _ in range(5)] == [0.0] * 5
    wait = limiter.reserve(scope)
    assert wait == pytest.approx(0.1)
    clock.advance(0.05)
    assert limiter.reserve(scope) == pytest.approx(0.05)  # nothing was taken meanwhile
    clock.advance(0.05)
    assert limiter.reserve(scope) == 0.0
    # Over 10 s of asking every 10 ms, the rate holds at 10/s (plus nothing: bucket empty).
    assert sends_within(limiter, clock, scope, 10.0, 0.01) == pytest.approx(100, abs=1)


def test_each_endpoint_has_its_own_bucket(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.configure("webhook", rate_per_s=1, burst=1)
    assert limiter.reserve((("webhook", "1"),)) == 0.0
    assert limiter.reserve((("webhook", "2"),)) == 0.0
    assert limiter.reserve((("webhook", "1"),)) > 0


def test_longest_prefix_wins(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.configure(("webhook",), rate_per_s=1, burst=1)
    limiter.configure(("webhook", "vip"), rate_per_s=100, burst=3)
    assert [limiter.reserve((("webhook", "vip"),)) for _ in range(3)] == [0.0] * 3
    assert limiter.limit_for(("webhook", "7")).rate_per_s == 1  # type: ignore[union-attr]
    assert limiter.limit_for(("slack", "x")) is None


def test_webhooks_are_sent_a_little_under_the_receivers_limit(clock: FakeClock) -> None:
    limiter = configure_platform_limits(RateLimiter(clock), 200, 4)
    limit = limiter.limit_for(("webhook", "7"))
    assert limit is not None and limit.burst == 4
    assert 196 <= limit.rate_per_s < 200  # HEADROOM: 2% under, no more
    assert limit.rate_per_s == pytest.approx(200 * HEADROOM)


def test_unconfigured_scopes_are_unlimited(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    assert all(limiter.reserve((("console", "me"),)) == 0.0 for _ in range(1000))


def test_several_buckets_govern_one_send(clock: FakeClock) -> None:
    """Telegram: 30/s per bot AND 1/s per chat; the stricter one decides."""
    limiter = configure_platform_limits(RateLimiter(clock), 20, 20)
    assert limiter.reserve(CHAT) == 0.0
    assert limiter.reserve(CHAT) == pytest.approx(1.0)  # the chat's bucket is empty
    # Other chats still go, until the bot-wide burst is used up.
    bot = PLATFORM_LIMITS[("telegram", "bot")]
    burst = int(bot.burst)
    others = [
        limiter.reserve((("telegram", "bot"), ("telegram", "chat", str(n))))
        for n in range(burst - 1)
    ]
    assert others == [0.0] * (burst - 1)
    assert limiter.reserve((("telegram", "bot"), ("telegram", "chat", "999"))) == pytest.approx(
        1 / bot.rate_per_s
    )
    assert 29 <= bot.rate_per_s <= 30  # a little headroom under Telegram's 30/s, no more
    assert 1 < bot.burst < 30  # a burst that leaves the Bot API's own bucket some slack


def test_refused_send_takes_no_token_from_any_bucket(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.configure(("a",), rate_per_s=1, burst=1)
    limiter.configure(("b",), rate_per_s=1, burst=2)
    assert limiter.reserve((("a", "x"),)) == 0.0
    # "a" refuses, so "b" must keep both of its tokens.
    assert limiter.reserve((("b", "y"), ("a", "x"))) > 0
    assert limiter.reserve((("b", "y"),)) == 0.0
    assert limiter.reserve((("b", "y"),)) == 0.0
    assert limiter.reserve((("b", "y"),)) > 0


def test_booking_ahead_spaces_sends_at_the_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.configure("webhook", rate_per_s=200, burst=1)
    scope = (("webhook", "1"),)
    waits = [limiter.reserve(scope, max_wait=1.0) for _ in range(201)]
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([n / 200 for n in range(1, 201)])
    assert limiter.reserve(scope, max_wait=1.0) > 1.0  # beyond the horizon: not booked
    assert limiter.reserve(scope, max_wait=1.0) == pytest.approx(201 / 200)


def test_penalty_blocks_the_scope_for_retry_after(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.configure("webhook", rate_per_s=100, burst=100)
    scope = ("webhook", "1")
    limiter.penalise(scope, 7.5)
    assert limiter.reserve((scope,)) == pytest.approx(7.5)
    assert limiter.blocked_for((scope,)) == pytest.approx(7.5)
    assert limiter.reserve((("webhook", "2"),)) == 0.0  # other endpoints are not blocked
    clock.advance(7.4)
    assert limiter.reserve((scope,)) == pytest.approx(0.1)
    clock.advance(0.1)
    assert limiter.blocked_for((scope,)) == 0.0
    assert limiter.reserve((scope,)) == 0.0
    # A shorter later penalty does not cut an earlier, longer one short.
    limiter.penalise(scope, 10)
    limiter.penalise(scope, 1)
    assert limiter.reserve((scope,)) == pytest.approx(10)


def test_penalty_applies_to_unconfigured_scopes_too(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.penalise(("slack", "channel", "C1"), 3)
    assert limiter.reserve((("slack", "channel", "C1"),)) == pytest.approx(3)
    clock.advance(3)
    assert limiter.reserve((("slack", "channel", "C1"),)) == 0.0


def test_bad_configuration_is_refused(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    with pytest.raises(ValueError):
        limiter.configure("webhook", 0, 1)
    with pytest.raises(ValueError):
        limiter.configure("webhook", 1, 0)


def test_destination_scopes() -> None:
    assert destination_scopes("webhook", "https://x", 7) == (("webhook", "7"),)
    assert destination_scopes("telegram", "42") == CHAT
    assert destination_scopes("discord", "c9")[0] == ("discord", "global")
    assert destination_scopes("sms", "+15550100") == (("sms", "from"),)


def test_a_429_lowers_the_rate_and_quiet_time_restores_it() -> None:
    clock = FakeClock(datetime(2024, 3, 20, 12, 0, tzinfo=UTC))
    limiter = RateLimiter(clock)
    limiter.configure(("webhook",), 200.0, 1)
    scope = ("webhook", "1")
    assert limiter.rate_for(scope) == 200.0
    limiter.penalise(scope, 1.0)
    limiter.penalise(scope, 1.0)
    lowered = limiter.rate_for(scope)
    assert 180.0 < lowered < 200.0
    for _ in range(100):
        limiter.penalise(scope, 0.0)
    assert limiter.rate_for(scope) == 100.0  # never below half the configured rate
    clock.advance(seconds=60)
    assert 100.0 < limiter.rate_for(scope) < 200.0
    clock.advance(seconds=600)
    assert limiter.rate_for(scope) == 200.0


def test_pace_spaces_sends_that_woke_up_together() -> None:
    clock = FakeClock(datetime(2024, 3, 20, 12, 0, tzinfo=UTC))
    limiter = RateLimiter(clock)
    limiter.configure(("webhook",), 100.0, 1)
    scopes = (("webhook", "1"),)
    assert limiter.pace(scopes) == 0.0
    wait = limiter.pace(scopes)  # a second send at the same instant must wait
    assert wait == pytest.approx(0.009)
    clock.advance(seconds=wait)
    assert limiter.pace(scopes) == 0.0
    assert limiter.pace((("unlimited", "x"),)) == 0.0
