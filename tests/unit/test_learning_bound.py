"""Learned weights never silence a critical alert: the bound of `blend_weights`.

What is guaranteed: each blended weight stays within 0.5-2x its default, so
1 - score at most doubles. An alert critical under the defaults (score >= 0.8) scores
>= 0.6 — high, level 4 — under any learned weights; it can lose at most one level.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import timedelta

import pytest

from core.domain import Level, Match, TriggerKind, WatchSpec
from core.factors import MarketContext
from core.scoring import (
    DEFAULT_WEIGHTS,
    FACTOR_NAMES,
    LEARNED_BOUNDS,
    blend_weights,
    keep_critical,
    level_for,
    score,
)
from ml.learning import HIGH, LOW, PersonModel
from tests.builders import NOW, game, point
from tests.fakes.predictor import make_forecast


def _weakest_critical(weights: Sequence[float]) -> float:
    """The lowest score under `weights` of any factor values critical under the defaults.

    An exact adversary: it spends the defaults' 0.2 of slack below a perfect score on
    the factors `weights` values most relative to the defaults (a fractional knapsack).
    """
    total = sum(weights)
    budget, loss = 0.2, 0.0
    ratio = sorted(range(6), key=lambda i: -weights[i] / DEFAULT_WEIGHTS[i])
    for i in ratio:
        drop = min(1.0, budget / DEFAULT_WEIGHTS[i])  # how far factor i falls below 1
        loss += weights[i] / total * drop
        budget -= DEFAULT_WEIGHTS[i] * drop
    return 1.0 - loss


def _extreme_documents() -> list[dict[str, object]]:
    """Learned documents at every corner: each factor 0, default or enormous, and the
    PersonModel's own extremes (each coefficient at its clip bound)."""
    docs: list[dict[str, object]] = []
    for corner in itertools.product((0.0, None, 1e9), repeat=len(FACTOR_NAMES)):
        docs.append({n: v for n, v in zip(FACTOR_NAMES, corner, strict=True) if v is not None})
    for corner in itertools.product((math.log(LOW), math.log(HIGH)), repeat=len(FACTOR_NAMES)):
        docs.append(PersonModel(coef=list(corner), count=10_000).to_json())
    return docs


def _unbounded_blend(learned: dict[str, object], count: int) -> list[float]:
    """What blend_weights did before the bound: the share-weighted mix, no projection."""
    share = min(0.8, count / (count + 50.0))
    out = []
    for name, base in zip(FACTOR_NAMES, DEFAULT_WEIGHTS, strict=True):
        raw = learned.get(name)
        mine = float(raw) if isinstance(raw, int | float) else base
        out.append((1 - share) * base + share * mine)
    return out


@pytest.mark.parametrize("count", [20, 60, 200, 10_000])
def test_no_learned_weights_take_a_critical_alert_below_high(count: int) -> None:
    worst = min(
        _weakest_critical(blend_weights(DEFAULT_WEIGHTS, d, count)) for d in _extreme_documents()
    )
    assert worst >= 0.6 - 1e-9
    assert level_for(round(worst, 4)) >= Level.HIGH


def test_the_bound_is_what_holds_it() -> None:
    # Without the projection, a model that loves demand and reliability took a critical
    # alert (stale data, average demand) down to medium: this is what the bound stops.
    person = PersonModel(coef=[math.log(LOW)] * 4 + [math.log(HIGH)] * 2, count=10_000)
    unbounded = _unbounded_blend(person.to_json(), 10_000)
    assert level_for(round(_weakest_critical(unbounded), 4)) is Level.MEDIUM
    bounded = blend_weights(DEFAULT_WEIGHTS, person.to_json(), 10_000)
    assert level_for(round(_weakest_critical(bounded), 4)) is Level.HIGH
    low, high = LEARNED_BOUNDS
    for weight, default in zip(bounded, DEFAULT_WEIGHTS, strict=True):
        assert low * default - 1e-9 <= weight <= high * default + 1e-9
    assert sum(bounded) == pytest.approx(1.0)


def test_a_real_critical_alert_stays_high_for_a_person_who_only_cares_about_demand() -> None:
    event = game(starts_at=NOW + timedelta(hours=6))
    watch = WatchSpec(id=1, user_id=1, event_id=event.id, max_price=100.0, favourite=True)
    match = Match(watch, event, TriggerKind.PRICE_BELOW, "test", 40.0)
    ctx = MarketContext(point(40.0, 10), high_24h=80.0, tickets_left=10)
    forecast = make_forecast(demand=0.0, p_sellout=0.9, confidence=0.0)
    default = score(match, ctx, forecast, NOW)
    assert default.level is Level.CRITICAL
    learned = {"demand": 1e9}  # everything on the factor this alert is weakest in
    mine = score(match, ctx, forecast, NOW, blend_weights(DEFAULT_WEIGHTS, learned, 10_000))
    assert mine.value < default.value and mine.level >= Level.HIGH
    unbounded = score(match, ctx, forecast, NOW, _unbounded_blend(learned, 10_000))
    assert unbounded.level <= Level.NORMAL  # without the bound the alert all but vanished


def test_keep_critical_restores_critical_and_leaves_other_levels_alone() -> None:
    event = game(starts_at=NOW + timedelta(hours=6))
    watch = WatchSpec(id=1, user_id=1, event_id=event.id, max_price=100.0, favourite=True)
    match = Match(watch, event, TriggerKind.PRICE_BELOW, "test", 40.0)
    ctx = MarketContext(point(40.0, 10), high_24h=80.0, tickets_left=10)
    forecast = make_forecast(demand=0.0, p_sellout=0.9, confidence=0.0)
    learned = blend_weights(DEFAULT_WEIGHTS, {"demand": 1e9}, 10_000)
    mine = score(match, ctx, forecast, NOW, learned)
    assert mine.level is Level.HIGH  # the bound alone lets it slip one level
    kept = keep_critical(mine, DEFAULT_WEIGHTS)
    assert kept.level is Level.CRITICAL
    assert kept.value == score(match, ctx, forecast, NOW).value
    assert kept.factors == mine.factors  # the explanation still shows the person's weights
    # An alert that is not critical under the defaults keeps its learned level.
    calm = MarketContext(point(95.0, 5000), high_24h=96.0, tickets_left=5000)
    quiet = score(match, calm, make_forecast(demand=0.1, confidence=0.2), NOW, learned)
    assert quiet.level < Level.CRITICAL
    assert keep_critical(quiet, DEFAULT_WEIGHTS) == quiet
