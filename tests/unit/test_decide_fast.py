"""Snapshot-level factors computed without reasons give the values (and, on demand, the
reasons) of the full factor functions, exactly."""

from __future__ import annotations

import random
from datetime import timedelta

from core.factors import (
    MarketContext,
    availability_factor,
    demand_factor,
    reliability_factor,
    urgency_factor,
)
from core.scoring import event_factors
from tests.builders import NOW
from tests.unit.test_rescore_fast import _event, _forecast, _point


def test_event_factors_hold_the_full_factors_values_and_reasons() -> None:
    rng = random.Random(99)
    for _ in range(3000):
        event, forecast = _event(rng), _forecast(rng)
        now = NOW + timedelta(seconds=rng.uniform(0, 8 * 3600))
        point = _point(rng, NOW - timedelta(seconds=rng.uniform(0, 30000)))
        previous = _point(rng, NOW - timedelta(hours=rng.uniform(0.001, 30)))
        ctx = MarketContext(
            point,
            rng.choice([None, previous]),
            rng.choice([None, 50.0]),
            rng.choice([None, rng.randrange(0, 900)]),
        )
        full = (
            availability_factor(ctx, forecast),
            urgency_factor(event, forecast, now, point=ctx.point),
            demand_factor(forecast),
            reliability_factor(ctx.point, forecast, now),
        )
        bare = (
            availability_factor(ctx, forecast, explain=False),
            urgency_factor(event, forecast, now, explain=False),
            reliability_factor(ctx.point, forecast, now, explain=False),
        )
        assert [value for value, _ in bare] == [full[0][0], full[1][0], full[3][0]]
        assert [reason for _, reason in bare] == ["", "", ""]
        shared = event_factors(ctx, event, forecast, now)
        assert shared.values == tuple(round(min(max(v, 0.0), 1.0), 4) for v, _ in full)
        assert shared.reasons() == tuple(reason for _, reason in full)
        assert all(shared.reasons())
