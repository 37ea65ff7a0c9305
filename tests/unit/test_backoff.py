"""Backoff: exponential ceilings, jitter bounds, the cap, Retry-After used exactly."""

from __future__ import annotations

import random

import pytest

from core.backoff import Jitter, RetryPolicies, RetryPolicy, next_delay


def test_ceiling_grows_by_factor_and_stops_at_cap() -> None:
    policy = RetryPolicy(base_s=2.0, factor=3.0, cap_s=100.0, attempts=10)
    assert [policy.ceiling(n) for n in range(1, 7)] == [2.0, 6.0, 18.0, 54.0, 100.0, 100.0]
    assert policy.ceiling(10_000) == 100.0  # no overflow for absurd attempt numbers


def test_full_jitter_stays_within_zero_and_the_ceiling(rng: random.Random) -> None:
    policy = RetryPolicy(base_s=1.0, factor=2.0, cap_s=30.0, attempts=20)
    for attempt in range(1, 12):
        delays = [next_delay(policy, attempt, rng) for _ in range(300)]
        ceiling = min(30.0, 2.0 ** (attempt - 1))
        assert all(0.0 <= d <= ceiling for d in delays)
        # Jitter really spreads the delays over the range rather than pinning them.
        assert max(delays) > 0.8 * ceiling
        assert min(delays) < 0.2 * ceiling


def test_decorrelated_jitter_is_between_base_and_cap(rng: random.Random) -> None:
    policy = RetryPolicy(base_s=0.5, factor=2.0, cap_s=8.0, attempts=9, jitter=Jitter.DECORRELATED)
    previous = None
    for attempt in range(1, 40):
        delay = next_delay(policy, attempt, rng, previous_s=previous)
        assert 0.5 <= delay <= 8.0
        if previous is not None:
            assert delay <= max(0.5, previous * 3)
        previous = delay


def test_retry_after_is_used_exactly_even_above_the_cap(rng: random.Random) -> None:
    policy = RetryPolicy(base_s=1.0, factor=2.0, cap_s=10.0, attempts=5)
    assert next_delay(policy, 3, rng, retry_after=7.25) == 7.25
    assert next_delay(policy, 1, rng, retry_after=3600.0) == 3600.0
    assert next_delay(policy, 1, rng, retry_after=0.0) == 0.0


def test_same_seed_same_delays() -> None:
    policy = RetryPolicy()
    first = [next_delay(policy, n, random.Random(7)) for n in range(1, 6)]
    again = [next_delay(policy, n, random.Random(7)) for n in range(1, 6)]
    assert first == again


def test_policies_from_settings_one_per_level() -> None:
    policies = RetryPolicies.from_settings(1.5, 3.0, 120.0, [2.0, 3.0, 4.0, 5.0, 9.0])
    assert [policies.for_level(level).attempts for level in range(1, 6)] == [2, 3, 4, 5, 9]
    assert policies.for_level(5) == RetryPolicy(1.5, 3.0, 120.0, 9)
    assert policies.for_level(0).attempts == 2 and policies.for_level(9).attempts == 9
    assert policies.for_level(4).exhausted(5) and not policies.for_level(4).exhausted(4)


def test_defaults_match_the_settings_defaults() -> None:
    defaults = RetryPolicies.default()
    assert [defaults.for_level(n).attempts for n in range(1, 6)] == [4, 6, 8, 10, 12]
    assert defaults.for_level(3).base_s == 2.0 and defaults.for_level(3).cap_s == 600.0


@pytest.mark.parametrize(
    ("kwargs", "attempts"),
    [
        ({"base_s": 0.0}, [1, 1, 1, 1, 1]),
        ({"factor": 0.5}, [1, 1, 1, 1, 1]),
        ({}, [1, 1, 1, 1]),
        ({}, [1, 0, 1, 1, 1]),
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float], attempts: list[float]) -> None:
    values = {"base_s": 1.0, "factor": 2.0, "cap_s": 10.0} | kwargs
    with pytest.raises(ValueError):
        RetryPolicies.from_settings(values["base_s"], values["factor"], values["cap_s"], attempts)
