"""Priority: six factors in [0, 1], each with a one-line reason, weighted into a level.

DESIGN.md §5. Pure: the market context, the forecast and `now` are passed in. The
weights are the configured defaults, blended with a person's learned weights once they
have given enough feedback (`blend_weights`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from core.domain import (
    EventRef,
    Factor,
    Level,
    Listing,
    MarketPoint,
    Match,
    Score,
    WatchSpec,
    plural,
    rough_duration,
)
from core.ports import Forecast
from core.render import humanize_delta, money
from core.rules import words
from core.triggers import comparable_high, priced_by_listings, seats_note

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
# The drain rate compares snapshots at least this far apart (seconds): see
# `availability_factor`. Five minutes: the engine remembers 128 points an event, so a
# feed polled every few seconds still has a point that old (`MarketHistory.reference`).
MIN_DRAIN_GAP_S = 5 * 60


@dataclass(frozen=True, slots=True)
class MarketContext:
    """What the market looks like around one match.

    Attributes:
        point: the snapshot that produced the match.
        previous: the point the drain rate is measured against: the newest one at least
            MIN_DRAIN_GAP_S older (`MarketHistory.reference`); a more recent one counts
            no drain.
        high_24h: the highest minimum price of the 24 h before `point` (the event's;
            a watch priced from the listings that fit it is not measured against it:
            see `core.triggers.comparable_high`).
        tickets_left: tickets for the wanted quantity and zones (None: the event total).
        listings: the snapshot's listings, which price a zone or quantity watch.
    """

    point: MarketPoint
    previous: MarketPoint | None = None
    high_24h: float | None = None
    tickets_left: int | None = None
    listings: tuple[Listing, ...] = ()


def _clamp(value: float) -> float:
    return 0.0 if value <= 0.0 else 1.0 if value >= 1.0 else value


def _either(*values: float) -> float:
    """Probabilistic OR: any strong part makes the whole strong."""
    rest = 1.0
    for value in values:
        rest *= 1.0 - _clamp(value)
    return 1.0 - rest


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


def price_value(price: float, max_price: float | None, high_24h: float | None) -> float:
    """The price factor's value (see `price_factor`) for a known `price`."""
    under, drop = 0.0, 0.0
    if max_price:
        fraction = (max_price - price) / max_price
        if fraction >= 0:
            under = 0.3 + 0.7 * _clamp(fraction / 0.3)
    if high_24h and high_24h > price:
        drop = _clamp((high_24h - price) / high_24h / 0.25)
    return _either(under, drop)


def price_factor(match: Match, ctx: MarketContext, explain: bool = True) -> tuple[float, str]:
    """How far under the person's max, and how big the drop vs the 24 h high is.

    A zone or quantity watch priced from the listings that fit it has no 24 h high of
    its own (`comparable_high`): no drop is counted or claimed against the event's.
    With `explain` False the reason is left empty (a re-score that may change nothing).
    """
    price = match.price if match.price is not None else ctx.point.min_price
    if price is None:
        return 0.0, "no price on sale"
    high = comparable_high(match.watch, ctx.high_24h, ctx.listings)
    value = price_value(price, match.watch.max_price, high)
    if not explain:
        return value, ""
    watch, parts, cur = match.watch, [], ctx.point.currency
    if watch.max_price:
        fraction = (watch.max_price - price) / watch.max_price
        top = money(watch.max_price, cur)
        if fraction >= 0:
            parts.append(f"{money(price, cur)} is {fraction:.0%} under your max {top}")
        else:
            parts.append(f"{money(price, cur)} is above your max {top}")
    if high and high > price:
        fraction = (high - price) / high
        parts.append(f"down {fraction:.0%} vs the 24 h high {money(high, cur)}")
    if not parts:
        parts.append(f"cheapest {money(price, cur)}")
    return value, "; ".join(parts) + seats_note(watch, priced_by_listings(watch, ctx.listings))


def availability_factor(
    ctx: MarketContext, forecast: Forecast | None, explain: bool = True
) -> tuple[float, str]:
    """Scarcity for the wanted quantity, the drain rate and the predicted sell-out.

    With `explain` False the reason is left empty (the value is the same).
    """
    point, parts = ctx.point, []
    left = ctx.tickets_left if ctx.tickets_left is not None else point.ticket_count
    scarcity = 0.3 if left is None else 1.0 / (1.0 + max(left, 0) / 50.0)
    if explain:
        parts.append("tickets left unknown" if left is None else f"{plural(left, 'ticket')} left")
    # The drain compares the event's totals: `left` may count only the listings that fit
    # the wanted quantity and zones, which the previous snapshot's total does not.
    drain = 0.0
    prev, now_total = ctx.previous, point.ticket_count
    if prev is not None and prev.ticket_count and now_total is not None:
        seconds = (point.observed_at - prev.observed_at).total_seconds()
        gone = prev.ticket_count - now_total
        # Snapshots minutes apart say nothing of a rate: a few tickets relisted or bought
        # in 30 s read as "3230.8% an hour". Too recent a previous one: no drain at all.
        if seconds >= MIN_DRAIN_GAP_S and gone > 0:
            share = gone / prev.ticket_count
            per_hour = share * 3600.0 / seconds
            drain = _clamp(per_hour / 0.10)
            if explain and per_hour >= 0.0005:  # "0.0% an hour" says nothing
                parts.append(_drain_reason(gone, share, per_hour, seconds))
    sellout = 0.0
    if forecast is not None and forecast.prediction.p_sellout is not None:
        sellout = _clamp(forecast.prediction.p_sellout)
        if explain:
            parts.append(f"{sellout:.0%} chance of a sell-out (model)")
    return max(scarcity, drain, sellout), "; ".join(parts)


def _drain_reason(gone: int, share: float, per_hour: float, seconds: float) -> str:
    """What was seen ("40 listed tickets gone in 20 min") and, under 100% an hour, the
    pace; a faster one is not extrapolated (it would empty the market within the hour).
    """
    seen = f"{plural(gone, 'listed ticket')} gone in {humanize_delta(seconds)}"
    if per_hour < 0.9995:  # what prints as under 100.0%
        return f"{seen} ({per_hour:.1%} an hour)"
    return f"{seen} ({share:.0%} of them)"


def _time_urgency(hours: float, full_at: float, zero_at: float) -> float:
    if hours <= full_at:
        return 1.0
    if hours >= zero_at:
        return 0.0
    return 1.0 - math.log(hours / full_at) / math.log(zero_at / full_at)


def urgency_factor(
    event: EventRef,
    forecast: Forecast | None,
    now: datetime,
    explain: bool = True,
    *,
    point: MarketPoint | None = None,
) -> tuple[float, str]:
    """Time to the event (1 within a day, 0 past a month) and to predicted depletion.

    With `explain` False the reason is left empty (the value is the same). With the
    snapshot `point` and nothing listed in it, the reason says so instead of a depletion
    time: the models put that at 0 h, which read "run out in under a minute".
    """
    seconds = (event.starts_at - now).total_seconds()
    value = _time_urgency(max(seconds, 0.0) / 3600.0, 24.0, 720.0)
    hours: float | None = None
    if forecast is not None and forecast.prediction.hours_to_depletion is not None:
        hours = max(forecast.prediction.hours_to_depletion, 0.0)
        value = max(value, _time_urgency(hours, 6.0, 240.0))
    if not explain:
        return value, ""
    parts = [f"starts in {humanize_delta(seconds)}" if seconds > 0 else "starting now"]
    if hours is not None and hours * 3600.0 < seconds:  # later than the start: no matter
        if point is not None and (point.ticket_count == 0 or point.listing_count == 0):
            parts.append("no tickets listed right now")
        else:
            parts.append(f"listed tickets run out in {rough_duration(hours * 3600)} at this pace")
    return value, "; ".join(parts)


def preference_factor(watch: WatchSpec, event: EventRef) -> tuple[float, str]:
    """Favourite watch, a chosen event, the person's team or performer, their zone."""
    if watch.favourite:
        value, reason = 1.0, "one of your favourites"
    elif watch.event_id is not None:
        value, reason = 0.7, "the event you picked"
    else:
        value, reason = 0.4, "matches your search"
        wanted = {w for term in watch.terms for w in words(term)}
        for performer in event.performers:
            if wanted and set(words(performer)) <= wanted:
                value, reason = 0.6, f"your team/performer {performer}"
                break
    if watch.zones:
        value += 0.15
        reason += f"; your zone {', '.join(watch.zones)}"
    if watch.venue:
        value += 0.1
        reason += f"; at {watch.venue}"
    return _clamp(value), reason


def demand_factor(forecast: Forecast | None) -> tuple[float, str]:
    """The forecast demand, as the model sees it."""
    if forecast is None:
        return 0.5, "no forecast; assuming average demand"
    demand = _clamp(forecast.prediction.demand)
    word = "high" if demand >= 0.66 else "moderate" if demand >= 0.33 else "low"
    return demand, f"{word} demand ({demand:.2f}, {forecast.prediction.model})"


def reliability_factor(
    point: MarketPoint, forecast: Forecast | None, now: datetime, explain: bool = True
) -> tuple[float, str]:
    """Fresh, complete data and a confident forecast are worth acting on.

    With `explain` False the reason is left empty (the value is the same).
    """
    age = max((now - point.observed_at).total_seconds(), 0.0)
    fresh = 1.0 if age <= 300 else _clamp(1.0 - (age - 300) / (6 * 3600 - 300))
    fields = (
        point.min_price,
        point.ticket_count,
        point.listing_count,
        point.avg_price if point.avg_price is not None else point.median_price,
    )
    complete = sum(value is not None for value in fields) / len(fields)
    confidence = _clamp(forecast.recommendation.confidence) if forecast is not None else 0.5
    value = 0.5 * fresh + 0.25 * complete + 0.25 * confidence
    if not explain:
        return value, ""
    freshness = "fresh data" if age < 60 else f"data {humanize_delta(age)} old"
    reason = f"{freshness}, {complete:.0%} complete, forecast confidence {confidence:.0%}"
    return value, reason


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


Part = tuple[float, str]


def _value(raw: float) -> float:
    """A factor's value as a score holds it: clamped to [0, 1], to 4 places."""
    return round(_clamp(raw), 4)


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
