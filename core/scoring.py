"""Priority: the six factors (`core.factors`) weighted into a score and a level.

DESIGN.md §5. Pure: the market context, the forecast and `now` are passed in. The
weights are the configured defaults, blended with a person's learned weights once they
have given enough feedback (`blend_weights`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from core.domain import EventRef, Factor, Level, Match, Score
from core.factors import (
    MarketContext,
    Part,
    availability_factor,
    clamp,
    demand_factor,
    preference_factor,
    price_factor,
    reliability_factor,
    urgency_factor,
)
from core.ports import Forecast

FACTOR_NAMES = ("price", "availability", "urgency", "preference", "demand", "reliability")
DEFAULT_WEIGHTS: tuple[float, ...] = (0.25, 0.20, 0.20, 0.15, 0.10, 0.10)
LEVEL_THRESHOLDS: tuple[tuple[float, Level], ...] = (
    (0.8, Level.CRITICAL),
    (0.6, Level.HIGH),
    (0.4, Level.MEDIUM),
    (0.2, Level.NORMAL),
)
# The rule: a person's weights start to adapt after 10 feedback events.
MIN_FEEDBACK = 10
LEVEL_MARGIN = 0.02
# Learned weights stay within these multiples of the configured ones (`bound_weights`).
LEARNED_BOUNDS = (0.5, 2.0)


def level_for(value: float) -> Level:
    """Map a score in [0, 1] to its level: >=0.8 critical ... <0.2 low."""
    for threshold, level in LEVEL_THRESHOLDS:
        if value >= threshold:
            return level
    return Level.LOW


def sticky_level(value: float, current: Level, margin: float = LEVEL_MARGIN) -> Level:
    """The level of a re-scored alert, with hysteresis around the thresholds.

    The level moves only when the score clears the threshold by `margin`, so a score
    flapping around 0.4 does not flap the level (and the notifications) with it.
    """
    plain = level_for(value)
    if plain > current:
        return max(current, level_for(value - margin))
    if plain < current:
        return min(current, level_for(value + margin))
    return current


def rescored(old: Level, new: Level, value: float) -> str:
    """A level-moving re-score on the alert's timeline: "rescored: high -> medium (0.55)"."""
    return f"rescored: {old.label} -> {new.label} ({value:.2f})"


def bound_weights(
    weights: Sequence[float], default: Sequence[float], bounds: tuple[float, float] = LEARNED_BOUNDS
) -> tuple[float, ...]:
    """Rescale `weights` to the total of `default` with each within `bounds` x its default.

    The projection scales every weight by one factor and clips it to its bounds, the
    factor chosen (by bisection) so the result adds up to the default total exactly.
    """
    low, high = bounds
    total = float(sum(default))
    lo = [low * d for d in default]
    hi = [high * d for d in default]
    raw = [max(float(w), 0.0) if d > 0 else 0.0 for w, d in zip(weights, default, strict=True)]
    if total <= 0 or not any(raw):
        return tuple(default)

    def fitted(scale: float) -> list[float]:
        return [min(max(scale * w, a), b) for w, a, b in zip(raw, lo, hi, strict=True)]

    small, big = 0.0, 1.0
    while sum(fitted(big)) < total and big < 1e12:
        big *= 2.0
    for _ in range(80):
        middle = (small + big) / 2.0
        if sum(fitted(middle)) < total:
            small = middle
        else:
            big = middle
    return tuple(fitted(big))


def blend_weights(
    default: Sequence[float],
    learned: Mapping[str, object] | None,
    feedback_count: int,
    min_feedback: int = MIN_FEEDBACK,
) -> tuple[float, ...]:
    """Blend a person's learned weights into the defaults once there is enough feedback.

    The learned share grows with feedback (count / (count + 50)), capped at 0.8; a
    missing or invalid learned weight keeps the default for that factor. The blend is
    then bounded (`bound_weights`): each weight stays within LEARNED_BOUNDS (0.5-2x) of
    its default, whatever `learned` holds. So 1 - score moves at most 2x: an alert that
    is critical (>= 0.8) under the defaults scores >= 0.6 (high) with any learned
    weights, and one under 0.4 (medium or lower) stays under 0.8 (never critical).
    """
    if not learned or feedback_count < min_feedback:
        return tuple(default)
    share = min(0.8, feedback_count / (feedback_count + 50.0))
    out = []
    for name, base in zip(FACTOR_NAMES, default, strict=True):
        raw = learned.get(name)
        mine = base
        if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 <= raw < math.inf:
            mine = float(raw)  # NaN, negative, infinite and non-numbers keep the default
        out.append((1.0 - share) * base + share * mine)
    return bound_weights(out, default)


def _value(raw: float) -> float:
    """A factor's value as a score holds it: clamped to [0, 1], to 4 places."""
    return round(clamp(raw), 4)


class EventFactors:
    """The factors that depend only on the snapshot (and the wanted tickets).

    Every watch matching one snapshot shares them; compute once with `event_factors`.
    `values` holds their four values (availability, urgency, demand, reliability) as a
    score holds them; `reasons()` their reasons, built on first use: most re-scores of a
    snapshot keep no explanation.
    """

    __slots__ = ("_ctx", "_event", "_forecast", "_now", "_reasons", "values")

    def __init__(
        self, ctx: MarketContext, event: EventRef, forecast: Forecast | None, now: datetime
    ) -> None:
        self._ctx, self._event, self._forecast, self._now = ctx, event, forecast, now
        self._reasons: tuple[str, str, str, str] | None = None
        self.values: tuple[float, ...] = (
            _value(availability_factor(ctx, forecast, explain=False)[0]),
            _value(urgency_factor(event, forecast, now, explain=False)[0]),
            _value(demand_factor(forecast)[0]),
            _value(reliability_factor(ctx.point, forecast, now, explain=False)[0]),
        )

    def reasons(self) -> tuple[str, str, str, str]:
        """The four factors' reasons, in the order of `values`."""
        if self._reasons is None:
            ctx, forecast, now = self._ctx, self._forecast, self._now
            self._reasons = (
                availability_factor(ctx, forecast)[1],
                urgency_factor(self._event, forecast, now, point=ctx.point)[1],
                demand_factor(forecast)[1],
                reliability_factor(ctx.point, forecast, now)[1],
            )
        return self._reasons


def event_factors(
    ctx: MarketContext, event: EventRef, forecast: Forecast | None, now: datetime
) -> EventFactors:
    """The four snapshot-level factors (availability, urgency, demand, reliability)."""
    return EventFactors(ctx, event, forecast, now)


def _weighted(values: Sequence[float], weights: Sequence[float]) -> float:
    """The weighted mean of six factor values, to 4 places (summed in factor order)."""
    total = sum(weights) or 1.0
    # Unrolled (the same additions, left to right): this runs for every re-score.
    price, availability, urgency, preference, demand, reliability = values
    w0, w1, w2, w3, w4, w5 = weights
    acc = 0.0 + price * w0 + availability * w1 + urgency * w2 + preference * w3
    acc = acc + demand * w4 + reliability * w5
    return round(acc / total, 4)


@lru_cache(maxsize=1024)  # a few weight sets (the defaults, people's blends) score every match
def _shares(weights: tuple[float, ...]) -> tuple[float, ...]:
    """Each weight's share of the total, to 4 places, as a score's factors show it."""
    total = sum(weights) or 1.0
    return tuple(round(weight / total, 4) for weight in weights)


def _values(price: float, shared: EventFactors, preference: float) -> tuple[float, ...]:
    """The six factor values in FACTOR_NAMES order, as a score holds them."""
    availability, urgency, demand, reliability = shared.values
    return (price, availability, urgency, _value(preference), demand, reliability)


def score(
    match: Match,
    ctx: MarketContext,
    forecast: Forecast | None,
    now: datetime,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    *,
    shared: EventFactors | None = None,
    preference: Part | None = None,
) -> Score:
    """Score one match: the weighted mean of the six factors and its level.

    Args:
        match: the watch whose trigger fired, with its price.
        ctx: the snapshot, the one before it and the 24 h high.
        forecast: the event's prediction and recommendation (None: neutral values).
        now: the current time.
        weights: six non-negative weights in FACTOR_NAMES order; normalised here.
        shared: the snapshot-level factors if already computed for this `ctx`.
        preference: `preference_factor(match.watch, match.event)` if already computed.
    """
    common = shared or event_factors(ctx, match.event, forecast, now)
    price = price_factor(match, ctx)
    mine = preference if preference is not None else preference_factor(match.watch, match.event)
    values = _values(_value(price[0]), common, mine[0])
    availability, urgency, demand, reliability = common.reasons()
    reasons = (price[1], availability, urgency, mine[1], demand, reliability)
    value = _weighted(values, weights)
    factors = tuple(map(Factor, FACTOR_NAMES, values, _shares(tuple(weights)), reasons))
    return Score(value=value, level=level_for(value), factors=factors)


def score_value(
    match: Match,
    ctx: MarketContext,
    weights: Sequence[float],
    *,
    shared: EventFactors,
    preference: Part | None = None,
    keep: Sequence[float] | None = None,
) -> tuple[float, Level]:
    """The value and level `score` returns, without building its factors or reasons.

    For re-scores, which mostly change nothing; `score` explains the same value when
    it is kept. With `keep` (the configured weights, when `weights` are a person's
    learned ones) the result is that of `keep_critical(score(...), keep)`.

    Args:
        match: the watch whose trigger fired, with its price.
        ctx: the snapshot, the one before it and the 24 h high.
        weights: six non-negative weights in FACTOR_NAMES order.
        shared: the snapshot-level factors for this `ctx` (`event_factors`).
        preference: `preference_factor(match.watch, match.event)` if already computed.
        keep: the configured weights to keep a critical alert critical by (see above).
    """
    first = _value(price_factor(match, ctx, explain=False)[0])
    mine = preference if preference is not None else preference_factor(match.watch, match.event)
    values = _values(first, shared, mine[0])
    value = _weighted(values, weights)
    level = level_for(value)
    if keep is not None and level is not Level.CRITICAL:
        kept = _critical_value(values, keep)
        if kept is not None:
            return kept, Level.CRITICAL
    return value, level


def _critical_value(values: Sequence[float], default_weights: Sequence[float]) -> float | None:
    """The score of factor `values` under the configured weights, if that is critical."""
    plain = _weighted(values, default_weights)
    return plain if level_for(plain) is Level.CRITICAL else None


def keep_critical(result: Score, default_weights: Sequence[float]) -> Score:
    """`result` (scored with a person's learned weights), kept critical when the
    configured weights make the same factors critical: learning may reorder what a
    person hears about, but it never takes an alert out of critical (so never out of
    escalation or through quiet hours).
    """
    if result.level is Level.CRITICAL:
        return result
    plain = _critical_value([f.value for f in result.factors], default_weights)
    if plain is None:
        return result
    return Score(value=plain, level=Level.CRITICAL, factors=result.factors)
