"""Re-scores without reasons (`score_value`, `Decider.update`) decide exactly as full scores.

The numeric path must give the value and level `score` (and `keep_critical`) give, to
the last bit, on random matches, markets, forecasts and weights; and the engine's
decisions on random alerts must be those of a decider that always scores in full.
"""

from __future__ import annotations

import random
from dataclasses import astuple
from datetime import datetime, timedelta

from core.delivery_plan import Recipient
from core.domain import (
    EventRef,
    Level,
    Listing,
    MarketPoint,
    Match,
    StoredSnapshot,
    TriggerKind,
    WatchSpec,
)
from core.engine_batch import ActiveAlert, Batch, Snap
from core.engine_decide import Decider
from core.factors import (
    MarketContext,
    availability_factor,
    demand_factor,
    preference_factor,
    price_factor,
    reliability_factor,
    urgency_factor,
)
from core.metrics import NullMetrics
from core.planning import HOLDS, EngineConfig, dedup_key, plan_clear
from core.ports import Forecast
from core.rules import WatchIndex, evaluate
from core.scoring import (
    DEFAULT_WEIGHTS,
    FACTOR_NAMES,
    blend_weights,
    event_factors,
    keep_critical,
    level_for,
    score,
    score_value,
)
from tests.builders import NOW
from tests.fakes.predictor import make_forecast

EVENT_ID = 7
CASES = 4000


def _event(rng: random.Random) -> EventRef:
    return EventRef(
        id=EVENT_ID,
        name="Rockies at Diamondbacks",
        starts_at=NOW + timedelta(hours=rng.choice([-1.0, 0.5, 12.0, 100.0, rng.uniform(0, 900)])),
        category="mlb",
        performers=("Arizona Diamondbacks", "Colorado Rockies"),
        venue="Chase Field",
    )


def _watch(rng: random.Random, watch_id: int) -> WatchSpec:
    return WatchSpec(
        id=watch_id,
        user_id=rng.randrange(1, 4),
        event_id=rng.choice([None, EVENT_ID]),
        terms=rng.choice([(), ("rockies",), ("Colorado Rockies",), ("mlb",), ("arizona",)]),
        venue=rng.choice([None, "Chase Field"]),
        max_price=rng.choice([None, 0.0, 30.0, round(rng.uniform(5, 150), 2)]),
        quantity=rng.choice([1, 1, 2, 4]),
        zones=rng.choice([(), ("112",), ("1", "2")]),
        triggers=frozenset(rng.sample(list(TriggerKind), rng.randrange(1, 6))),
        drop_pct=rng.choice([None, rng.uniform(1, 30)]),
        low_inventory=rng.choice([None, rng.randrange(1, 3000)]),
        min_level=rng.choice(list(Level)),
        cooldown_s=rng.choice([0, 600, 3600]),
        active=rng.random() < 0.95,
        snoozed_until=rng.choice([None, None, NOW + timedelta(minutes=5), NOW - timedelta(1)]),
        snooze_below=rng.choice([None, None, rng.uniform(5, 100)]),
        favourite=rng.random() < 0.3,
    )


def _point(rng: random.Random, at: datetime) -> MarketPoint:
    price = rng.choice([None, 30.0, round(rng.uniform(1, 160), 2)])
    tickets = rng.choice([None, 0, 40, rng.randrange(1, 5000)])
    return MarketPoint(
        EVENT_ID,
        at,
        price,
        rng.choice([None, 80.0]),
        rng.choice([None, 83.0]),
        473.0,
        rng.choice([None, rng.randrange(0, 400)]),
        tickets,
    )


def _forecast(rng: random.Random) -> Forecast | None:
    if rng.random() < 0.2:
        return None
    return make_forecast(
        demand=rng.uniform(-0.2, 1.2),
        p_sellout=rng.choice([None, rng.random()]),
        hours_to_depletion=rng.choice([None, rng.uniform(-5, 400)]),
        confidence=rng.random(),
    )


def _weights(rng: random.Random) -> tuple[float, ...]:
    kind = rng.randrange(4)
    if kind == 0:
        return DEFAULT_WEIGHTS
    if kind == 1:
        return tuple(rng.choice([0.0, rng.random()]) for _ in FACTOR_NAMES)
    learned = {n: rng.choice([0.0, rng.uniform(0, 3), 1e9, "x"]) for n in FACTOR_NAMES}
    return blend_weights(DEFAULT_WEIGHTS, learned, rng.randrange(0, 500))


def _reference(
    match: Match,
    ctx: MarketContext,
    forecast: Forecast | None,
    now: datetime,
    weights: tuple[float, ...],
) -> tuple[list[float], list[float], float]:
    """A score spelled out: each factor clamped and rounded to 4 places, each weight's
    share to 4 places, and the weighted sum in factor order over the total weight,
    rounded to 4 places."""
    raws = (
        price_factor(match, ctx)[0],
        availability_factor(ctx, forecast)[0],
        urgency_factor(match.event, forecast, now)[0],
        preference_factor(match.watch, match.event)[0],
        demand_factor(forecast)[0],
        reliability_factor(ctx.point, forecast, now)[0],
    )
    values = [round(min(max(raw, 0.0), 1.0), 4) for raw in raws]
    total = sum(weights) or 1.0
    acc = 0.0
    for value, weight in zip(values, weights, strict=True):
        acc += value * weight
    return values, [round(weight / total, 4) for weight in weights], round(acc / total, 4)


def test_score_value_is_the_score_bit_for_bit() -> None:
    rng = random.Random(20240320)
    levels, kept = set(), 0
    for _ in range(CASES):
        event = _event(rng)
        now = NOW + timedelta(seconds=rng.uniform(0, 8 * 3600))
        point = _point(rng, NOW - timedelta(seconds=rng.uniform(0, 3600)))
        earlier = _point(rng, NOW - timedelta(hours=rng.uniform(0.001, 3)))
        previous = earlier if rng.random() < 0.5 else None
        high = rng.choice([None, 0.0, rng.uniform(1, 200)])
        ctx = MarketContext(point, previous, high, rng.choice([None, rng.randrange(0, 900)]))
        watch = _watch(rng, 1)
        price = rng.choice([None, point.min_price, round(rng.uniform(1, 160), 2)])
        match = Match(watch, event, TriggerKind.PRICE_BELOW, "why", price)
        forecast, weights = _forecast(rng), _weights(rng)
        shared = event_factors(ctx, event, forecast, now)
        mine = rng.choice([None, preference_factor(watch, event)])

        full = score(match, ctx, forecast, now, weights)
        values, shares, value = _reference(match, ctx, forecast, now, weights)
        assert full.value == value
        assert [(f.name, f.value, f.weight) for f in full.factors] == list(
            zip(FACTOR_NAMES, values, shares, strict=True)
        )
        assert full.level is level_for(full.value)
        fast = score_value(match, ctx, weights, shared=shared, preference=mine)
        assert fast == (full.value, full.level)

        expected = keep_critical(full, DEFAULT_WEIGHTS)
        fast_kept = score_value(
            match, ctx, weights, shared=shared, preference=mine, keep=DEFAULT_WEIGHTS
        )
        assert fast_kept == (expected.value, expected.level)
        assert isinstance(fast_kept[0], float)
        levels.add(full.level)
        kept += expected is not full
    assert levels == set(Level)  # the cases span every level...
    assert kept > 0  # ...and learned weights that keep_critical overrides


def test_score_uses_a_given_preference_and_shared_factors() -> None:
    rng = random.Random(7)
    for _ in range(300):
        event, watch = _event(rng), _watch(rng, 1)
        ctx = MarketContext(_point(rng, NOW), None, rng.choice([None, 60.0]))
        match = Match(watch, event, TriggerKind.DROP_PCT, "why", rng.choice([None, 25.0]))
        forecast = _forecast(rng)
        shared = event_factors(ctx, event, forecast, NOW)
        given = score(
            match,
            ctx,
            forecast,
            NOW,
            shared=shared,
            preference=preference_factor(watch, event),
        )
        assert given == score(match, ctx, forecast, NOW)


def test_a_holding_condition_clears_nothing() -> None:
    since = NOW - timedelta(hours=1)
    plan = plan_clear(
        since, True, hard_reason=None, soft_reason="x", config=EngineConfig(), now=NOW
    )
    assert plan is HOLDS
    assert (HOLDS.resolve, HOLDS.clear_since) == (False, None)


class _AlwaysExplained(Decider):
    """The reference: every re-score builds the full, explained Score."""

    def score_value(self, batch: Batch, snap: Snap, match: Match) -> float:
        return self.score(batch, snap, match).value


def _alerts(rng: random.Random, specs: list[WatchSpec], first_id: int) -> list[ActiveAlert]:
    out = []
    for spec in specs:
        for kind in [*sorted(spec.triggers), "retired_kind"]:
            if rng.random() < 0.3:
                continue
            level = rng.choice(list(Level))
            out.append(
                ActiveAlert(
                    id=first_id + len(out),
                    dedup_key=dedup_key(spec.id, EVENT_ID, kind),
                    watch_id=spec.id,
                    user_id=spec.user_id,
                    event_id=EVENT_ID,
                    kind=str(kind),
                    score=round(rng.random(), 4),
                    level=int(level),
                    price=rng.choice([None, 30.0, rng.uniform(1, 160)]),
                    status=rng.choice(["open", "open", "open", "acknowledged", "snoozed"]),
                    reason="opened",
                    opened_at=NOW - timedelta(days=1),
                    updated_at=NOW - timedelta(hours=1),
                    snoozed_until=rng.choice([None, NOW - timedelta(1), NOW + timedelta(1)]),
                    snooze_below=rng.choice([None, rng.uniform(1, 100)]),
                    clear_since=rng.choice([None, NOW - timedelta(minutes=rng.uniform(0, 30))]),
                    last_notified_at=rng.choice([None, NOW - timedelta(hours=rng.uniform(0, 3))]),
                    last_notified_price=rng.choice([None, rng.uniform(1, 160)]),
                    frozen_level=rng.choice([None, int(level), int(rng.choice(list(Level)))]),
                )
            )
    return out


def _listings(rng: random.Random) -> tuple[Listing, ...]:
    if rng.random() < 0.5:
        return ()
    return tuple(
        Listing(
            f"l{i}",
            round(rng.uniform(5, 160), 2),
            rng.choice([None, "112", "Section 1", "300"]),
            quantity=rng.choice([None, 1, 2, 4, 8]),
        )
        for i in range(rng.randrange(1, 6))
    )


def _run(seed: int, decider_type: type[Decider]) -> list[object]:
    """Three snapshots of one event through `rescore` and `open`; everything decided."""
    rng = random.Random(seed)
    event = _event(rng)
    specs = [_watch(rng, i) for i in range(1, 9)]
    people = {}
    for user_id in range(1, 4):
        learned = {n: rng.uniform(0, 3) for n in FACTOR_NAMES} if rng.random() < 0.6 else None
        quiet = rng.choice([(None, None), ("00:00", "23:59")])
        people[user_id] = Recipient(
            user_id,
            quiet_start=quiet[0],
            quiet_end=quiet[1],
            learned_weights=learned,
            feedback_count=rng.randrange(0, 300),
        )
    config = EngineConfig(cooldown_s=rng.choice([0, 600]), resolve_hold_s=rng.choice([0, 900]))
    decider = decider_type(WatchIndex(), NullMetrics(), config)
    alerts = _alerts(rng, specs, 1000)
    forecast = _forecast(rng)
    previous = _point(rng, NOW - timedelta(hours=2))
    high: float | None = rng.choice([None, rng.uniform(20, 200)])
    snaps = []
    for n in range(3):
        point = _point(rng, NOW - timedelta(seconds=rng.uniform(0, 20000) / (n + 1)))
        listings = _listings(rng)
        stored = StoredSnapshot(100 + n, event, point, previous, listings, ("l0",)[: len(listings)])
        later_high = max(high or 0.0, point.min_price or 0.0) or None
        matches = [
            m
            for spec in specs
            for m in evaluate(spec, event, point, previous, later_high, stored.new_listing_ids, NOW)
        ]
        snaps.append(Snap(stored, later_high, matches, previous_high=high))
        previous, high = point, later_high
    batch = Batch(now=NOW, snaps=snaps, people=people)
    batch.specs = {s.id: s for s in specs if rng.random() < 0.9}  # some watches are gone
    if forecast is not None:
        batch.forecasts[EVENT_ID] = forecast
    for alert in alerts:
        batch.add_active(alert)
    for snap in snaps:
        decider.rescore(batch, snap)
        decider.open(batch, snap)
    rounds = [(r.alert.dedup_key, r.event_type, r.score, r.audit, r.fence) for r in batch.rounds]
    return [
        [astuple(a) for a in alerts + batch.new_alerts],
        rounds,
        [(a.dedup_key, kind, text) for a, kind, text in batch.audits],
        [(a.dedup_key, reason) for a, reason in batch.resolves],
        batch.renotified,
        batch.updated,
    ]


def test_update_decides_as_a_decider_that_always_explains() -> None:
    updated, notified = 0, 0
    for seed in range(150):
        fast = _run(seed, Decider)
        assert fast == _run(seed, _AlwaysExplained)
        updated += fast[5]  # type: ignore[operator]
        notified += len(fast[1])  # type: ignore[arg-type]
    assert updated > 100 and notified > 50  # the inputs re-score and notify a lot


def test_a_changed_watch_is_scored_with_its_new_preference() -> None:
    """The per-(watch, event) preference cache never serves an edited watch's old value."""
    rng = random.Random(3)
    event = _event(rng)
    point = MarketPoint(EVENT_ID, NOW, 30.0, None, 83.0, 473.0, 300, 1200)
    snap = Snap(StoredSnapshot(1, event, point, None), None, [])
    decider = Decider(WatchIndex(), NullMetrics(), EngineConfig())
    plain = WatchSpec(id=1, user_id=1, event_id=None, terms=("mlb",), max_price=40.0)
    for watch in (plain, WatchSpec(id=1, user_id=1, event_id=EVENT_ID, favourite=True)):
        batch = Batch(now=NOW, snaps=[snap])
        match = Match(watch, event, TriggerKind.PRICE_BELOW, "why", 30.0)
        full = score(match, MarketContext(point, None, None, 1200), None, NOW)
        assert decider.score_value(batch, snap, match) == full.value
        assert decider.score(batch, snap, match) == full
