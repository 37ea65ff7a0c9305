"""Scoring: each factor, the weights (and learned blending), and the level thresholds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain import EventRef, Level, Match, TriggerKind, WatchSpec
from core.factors import (
    MarketContext,
    availability_factor,
    demand_factor,
    preference_factor,
    price_factor,
    reliability_factor,
    urgency_factor,
)
from core.scoring import (
    DEFAULT_WEIGHTS,
    FACTOR_NAMES,
    blend_weights,
    event_factors,
    level_for,
    score,
)
from tests.builders import NOW, game, point
from tests.fakes.predictor import make_forecast

EVENT = game(starts_at=NOW + timedelta(days=11))


def match(price: float | None = 28.0, **fields: object) -> Match:
    values: dict[str, object] = {"event_id": 1, "max_price": 40.0}
    values.update(fields)
    watch = WatchSpec(id=1, user_id=1, **values)  # type: ignore[arg-type]
    return Match(watch, EVENT, TriggerKind.PRICE_BELOW, "test", price)


# --- levels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (1.0, Level.CRITICAL),
        (0.8, Level.CRITICAL),
        (0.7999, Level.HIGH),
        (0.6, Level.HIGH),
        (0.59, Level.MEDIUM),
        (0.4, Level.MEDIUM),
        (0.3999, Level.NORMAL),
        (0.2, Level.NORMAL),
        (0.1999, Level.LOW),
        (0.0, Level.LOW),
    ],
)
def test_level_thresholds(value: float, level: Level) -> None:
    assert level_for(value) is level


# --- factors ----------------------------------------------------------------------------


def test_price_factor_grows_with_the_distance_under_the_max() -> None:
    at_max, reason_at_max = price_factor(match(40.0), MarketContext(point(40.0)))
    under, reason = price_factor(match(28.0), MarketContext(point(28.0)))
    assert at_max == pytest.approx(0.3) and under == pytest.approx(1.0)
    assert "0% under your max $40" in reason_at_max
    assert reason == "$28 is 30% under your max $40"
    small, _ = price_factor(match(36.0), MarketContext(point(36.0)))
    assert at_max < small < under


def test_price_factor_counts_the_drop_vs_the_24h_high() -> None:
    alone, _ = price_factor(match(38.0), MarketContext(point(38.0)))
    dropped, reason = price_factor(match(38.0), MarketContext(point(38.0), high_24h=50.0))
    assert dropped > alone
    assert "down 24% vs the 24 h high $50" in reason


def test_price_factor_without_price() -> None:
    value, reason = price_factor(match(None), MarketContext(point(None)))
    assert value == 0.0 and reason == "no price on sale"


def test_availability_scarcity_drain_and_sellout() -> None:
    plenty, _ = availability_factor(MarketContext(point(tickets=5000)), None)
    scarce, reason = availability_factor(MarketContext(point(tickets=10)), None)
    assert plenty < 0.05 and scarce > 0.8 and "10 tickets left" in reason
    earlier = point(tickets=2000, at=NOW - timedelta(hours=1))
    draining, reason = availability_factor(
        MarketContext(point(tickets=1600), previous=earlier), None
    )
    assert draining == pytest.approx(1.0)
    assert "400 listed tickets gone in 1 h (20.0% an hour)" in reason
    risky, reason = availability_factor(
        MarketContext(point(tickets=5000)), make_forecast(p_sellout=0.9)
    )
    assert risky == pytest.approx(0.9) and "90% chance of a sell-out (stub)" in reason


def test_availability_drain_compares_event_totals_not_the_wanted_quantity() -> None:
    """Few tickets fit a person's quantity: that is scarcity, not a market selling out."""
    earlier = point(tickets=1000, at=NOW - timedelta(minutes=30))
    now = point(tickets=990)
    value, reason = availability_factor(MarketContext(now, previous=earlier, tickets_left=11), None)
    assert "11 tickets left" in reason
    assert "10 listed tickets gone in 30 min (2.0% an hour)" in reason
    assert value == pytest.approx(max(1.0 / (1.0 + 11 / 50.0), 0.2))
    refilled, reason = availability_factor(
        MarketContext(point(tickets=1100), previous=earlier, tickets_left=11), None
    )
    assert "gone" not in reason and refilled == pytest.approx(1.0 / (1.0 + 11 / 50.0))
    crawl, reason = availability_factor(  # 1 of 10,000 in 5 h: "0.0% an hour" says nothing
        MarketContext(
            point(tickets=9999), previous=point(tickets=10000, at=NOW - timedelta(hours=5))
        ),
        None,
    )
    assert reason == "9,999 tickets left" and crawl > 0.0


def test_availability_drain_needs_snapshots_at_least_5_min_apart() -> None:
    """A few tickets gone in 30 s are no rate (it read "falling 3230.8% an hour")."""
    alone, _ = availability_factor(MarketContext(point(tickets=1300)), None)
    for gap in (timedelta(seconds=30), timedelta(minutes=4, seconds=59)):
        earlier = point(tickets=1344, at=NOW - gap)
        value, reason = availability_factor(MarketContext(point(tickets=1300), earlier), None)
        assert reason == "1,300 tickets left" and value == alone
    earlier = point(tickets=1344, at=NOW - timedelta(minutes=15))
    value, reason = availability_factor(MarketContext(point(tickets=1300), earlier), None)
    assert reason == "1,300 tickets left; 44 listed tickets gone in 15 min (13.1% an hour)"
    assert value == pytest.approx(1.0)


def test_availability_never_extrapolates_past_100_pct_an_hour() -> None:
    earlier = point(tickets=1000, at=NOW - timedelta(minutes=20))
    value, reason = availability_factor(MarketContext(point(tickets=400), earlier), None)
    assert reason == "400 tickets left; 600 listed tickets gone in 20 min (60% of them)"
    assert value == pytest.approx(1.0)  # bounded, as every factor
    earlier = point(tickets=2, at=NOW - timedelta(hours=2))
    _, reason = availability_factor(MarketContext(point(tickets=1), earlier), None)
    assert reason.endswith("1 listed ticket gone in 2 h (25.0% an hour)")


def test_availability_uses_tickets_for_the_wanted_quantity() -> None:
    total, _ = availability_factor(MarketContext(point(tickets=5000)), None)
    wanted, reason = availability_factor(MarketContext(point(tickets=5000), tickets_left=4), None)
    assert wanted > total and "4 tickets left" in reason


def test_urgency_by_time_to_event_and_depletion() -> None:
    soon = EventRef(1, "x", NOW + timedelta(hours=12))
    mid = EventRef(1, "x", NOW + timedelta(days=7))
    far = EventRef(1, "x", NOW + timedelta(days=60))
    values = [urgency_factor(e, None, NOW)[0] for e in (soon, mid, far)]
    assert values[0] == 1.0 and 0.0 < values[1] < 1.0 and values[2] == 0.0
    fast, reason = urgency_factor(far, make_forecast(hours_to_depletion=3.0), NOW)
    assert fast == 1.0 and "listed tickets run out in about 3 h" in reason
    assert "starts in 60 days" in urgency_factor(far, None, NOW)[1]
    slow = urgency_factor(mid, make_forecast(hours_to_depletion=24.0 * 300), NOW)[1]
    assert slow == "starts in 7 days"  # running out after the start is not news


@pytest.mark.parametrize(("tickets", "listings"), [(0, 0), (0, None), (None, 0)])
def test_urgency_with_nothing_listed_says_so(tickets: int | None, listings: int | None) -> None:
    """QA: "listed tickets run out in under a minute" of an event with none listed."""
    far = EventRef(1, "x", NOW + timedelta(days=60))
    empty = point(tickets=tickets, listings=listings)
    value, reason = urgency_factor(far, make_forecast(hours_to_depletion=0.0), NOW, point=empty)

    assert value == 1.0 and reason == "starts in 60 days; no tickets listed right now"
    ctx = MarketContext(empty)
    shared = event_factors(ctx, far, make_forecast(hours_to_depletion=0.0), NOW)
    assert shared.reasons()[1] == reason  # as an alert's factors say it
    listed = urgency_factor(far, make_forecast(hours_to_depletion=0.0), NOW, point=point())[1]
    assert listed == "starts in 60 days; listed tickets run out in under a minute at this pace"


def test_preference_factor() -> None:
    assert preference_factor(match().watch, EVENT) == (0.7, "the event you picked")
    favourite, _ = preference_factor(match(favourite=True).watch, EVENT)
    team, reason = preference_factor(match(event_id=None, terms=("Colorado Rockies",)).watch, EVENT)
    search, _ = preference_factor(match(event_id=None, terms=("mlb",)).watch, EVENT)
    zoned, zone_reason = preference_factor(match(zones=("112",)).watch, EVENT)
    assert favourite == 1.0
    assert team == 0.6 and reason == "your team/performer Colorado Rockies"
    assert search == 0.4
    assert zoned == pytest.approx(0.85) and "your zone 112" in zone_reason


def test_demand_factor() -> None:
    assert demand_factor(None) == (0.5, "no forecast; assuming average demand")
    value, reason = demand_factor(make_forecast(demand=0.9))
    assert value == 0.9 and reason.startswith("high demand")
    assert demand_factor(make_forecast(demand=1.7))[0] == 1.0


def test_reliability_factor_prefers_fresh_complete_confident_data() -> None:
    fresh, reason = reliability_factor(point(), make_forecast(confidence=1.0), NOW)
    stale, stale_reason = reliability_factor(
        point(at=NOW - timedelta(hours=7), tickets=None, listings=None),
        make_forecast(confidence=0.0),
        NOW,
    )
    assert fresh == pytest.approx(1.0) and reason.startswith("fresh data")
    assert stale == pytest.approx(0.125) and "7 h old" in stale_reason


# --- the score --------------------------------------------------------------------------


def test_score_is_the_weighted_mean_of_the_factors() -> None:
    result = score(match(), MarketContext(point()), make_forecast(), NOW)
    assert [f.name for f in result.factors] == list(FACTOR_NAMES)
    assert [f.weight for f in result.factors] == list(DEFAULT_WEIGHTS)
    expected = sum(f.value * f.weight for f in result.factors)
    assert result.value == pytest.approx(expected, abs=1e-3)
    assert result.level is level_for(result.value)
    assert all(0.0 <= f.value <= 1.0 and f.reason for f in result.factors)


def test_weights_are_normalised_and_steer_the_score() -> None:
    ctx = MarketContext(point())
    only_demand = score(match(), ctx, make_forecast(demand=0.9), NOW, (0, 0, 0, 0, 5, 0))
    assert only_demand.value == pytest.approx(0.9) and only_demand.level is Level.CRITICAL
    only_price = score(match(40.0), ctx, make_forecast(), NOW, (1, 0, 0, 0, 0, 0))
    assert only_price.value == pytest.approx(0.3) and only_price.level is Level.NORMAL


def test_blend_weights_needs_enough_feedback() -> None:
    learned = {"price": 1.0, "availability": 0.0}
    assert blend_weights(DEFAULT_WEIGHTS, learned, 5) == DEFAULT_WEIGHTS
    assert blend_weights(DEFAULT_WEIGHTS, None, 500) == DEFAULT_WEIGHTS
    blended = blend_weights(DEFAULT_WEIGHTS, learned, 50)
    assert sum(blended) == pytest.approx(1.0)
    # Half learned: price (0.5 * 0.25 + 0.5 * 1.0) keeps its ratio to the untouched factors;
    # availability (0.5 * 0.2) sits on its floor, half its default.
    assert blended[0] / blended[2] == pytest.approx((0.5 * 0.25 + 0.5 * 1.0) / 0.20)
    assert blended[1] == pytest.approx(0.5 * 0.20)
    assert blended[3] / blended[2] == pytest.approx(0.15 / 0.20)
    capped = blend_weights(DEFAULT_WEIGHTS, learned, 100_000)
    assert capped[0] == pytest.approx(2.0 * 0.25)  # the learned share caps at 0.8, then 2x


def test_blend_ignores_invalid_learned_weights() -> None:
    blended = blend_weights(DEFAULT_WEIGHTS, {"price": -1, "demand": "x"}, 50)
    assert blended == pytest.approx(DEFAULT_WEIGHTS)


@pytest.mark.parametrize(
    ("price", "fields", "high"),
    [(28.0, {}, 45.0), (52.0, {}, None), (28.0, {"max_price": None}, 30.0), (None, {}, None)],
)
def test_an_unexplained_price_factor_has_the_same_value_and_no_reason(
    price: float | None, fields: dict[str, object], high: float | None
) -> None:
    m = match(price, **fields)
    ctx = MarketContext(point(price, 400), high_24h=high, tickets_left=400)
    full = price_factor(m, ctx)
    quick = price_factor(m, ctx, explain=False)
    assert quick[0] == full[0]
    assert full[1]  # the explained one says why
    assert quick[1] in ("", "no price on sale")
