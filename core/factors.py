"""The six factors of the priority score, each a value in [0, 1] and a one-line reason.

DESIGN.md §5. Pure: the market context, the forecast and `now` are passed in;
`core.scoring` weighs them into a score and a level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain import EventRef, Listing, MarketPoint, Match, WatchSpec, plural, rough_duration
from core.formatting import humanize_delta, money
from core.ports import Forecast
from core.rules import words
from core.triggers import comparable_high, priced_by_listings, priced_in, seats_note

__all__ = [
    "DRAIN_GAP",
    "MIN_DRAIN_GAP_S",
    "MarketContext",
    "Part",
    "availability_factor",
    "clamp",
    "demand_factor",
    "preference_factor",
    "price_factor",
    "price_value",
    "reliability_factor",
    "urgency_factor",
]

Part = tuple[float, str]

# The drain rate compares snapshots at least this far apart (seconds): see
# `availability_factor`. Five minutes: the engine remembers 128 points an event, so a
# feed polled every few seconds still has a point that old (`MarketHistory.reference`).
MIN_DRAIN_GAP_S = 5 * 60
DRAIN_GAP = timedelta(seconds=MIN_DRAIN_GAP_S)  # the same, as `MarketHistory.reference` takes it


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


def clamp(value: float) -> float:
    return 0.0 if value <= 0.0 else 1.0 if value >= 1.0 else value


def _either(*values: float) -> float:
    """Probabilistic OR: any strong part makes the whole strong."""
    rest = 1.0
    for value in values:
        rest *= 1.0 - clamp(value)
    return 1.0 - rest


def price_value(price: float, max_price: float | None, high_24h: float | None) -> float:
    """The price factor's value (see `price_factor`) for a known `price`."""
    under, drop = 0.0, 0.0
    if max_price:
        fraction = (max_price - price) / max_price
        if fraction >= 0:
            under = 0.3 + 0.7 * clamp(fraction / 0.3)
    if high_24h and high_24h > price:
        drop = clamp((high_24h - price) / high_24h / 0.25)
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
    watch, cur = match.watch, ctx.point.currency
    high = comparable_high(watch, ctx.high_24h, ctx.listings)
    # A max typed in another currency says nothing of these prices (a low-inventory match
    # of "arsenal under £80" on a game priced in dollars): no "under your max" either way.
    limit = watch.max_price if priced_in(watch, cur) else None
    value = price_value(price, limit, high)
    if not explain:
        return value, ""
    parts = []
    if limit:
        fraction = (limit - price) / limit
        top = money(limit, cur)
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
            drain = clamp(per_hour / 0.10)
            if explain and per_hour >= 0.0005:  # "0.0% an hour" says nothing
                parts.append(_drain_reason(gone, share, per_hour, seconds))
    sellout = 0.0
    if forecast is not None and forecast.prediction.p_sellout is not None:
        sellout = clamp(forecast.prediction.p_sellout)
        if explain:
            parts.append(f"{sellout:.0%} chance of a sell-out ({forecast.prediction.model})")
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
    return clamp(value), reason


def demand_factor(forecast: Forecast | None) -> tuple[float, str]:
    """The forecast demand, as the model sees it."""
    if forecast is None:
        return 0.5, "no forecast; assuming average demand"
    demand = clamp(forecast.prediction.demand)
    word = "high" if demand >= 0.66 else "moderate" if demand >= 0.33 else "low"
    return demand, f"{word} demand ({demand:.2f}, {forecast.prediction.model})"


def reliability_factor(
    point: MarketPoint, forecast: Forecast | None, now: datetime, explain: bool = True
) -> tuple[float, str]:
    """Fresh, complete data and a confident forecast are worth acting on.

    With `explain` False the reason is left empty (the value is the same).
    """
    age = max((now - point.observed_at).total_seconds(), 0.0)
    fresh = 1.0 if age <= 300 else clamp(1.0 - (age - 300) / (6 * 3600 - 300))
    fields = (
        point.min_price,
        point.ticket_count,
        point.listing_count,
        point.avg_price if point.avg_price is not None else point.median_price,
    )
    complete = sum(value is not None for value in fields) / len(fields)
    confidence = clamp(forecast.recommendation.confidence) if forecast is not None else 0.5
    value = 0.5 * fresh + 0.25 * complete + 0.25 * confidence
    if not explain:
        return value, ""
    freshness = "fresh data" if age < 60 else f"data {humanize_delta(age)} old"
    reason = f"{freshness}, {complete:.0%} complete, forecast confidence {confidence:.0%}"
    return value, reason
