"""Triggers: does a watch fire on a snapshot (price_below, drop_pct, low_inventory,
new_listing), and must it stay silent (paused, expired, muted, snoozed)?

Pure functions; everything, including `now`, is passed in. `core.rules` re-exports
them next to the watch index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.domain import EventRef, Listing, MarketPoint, Match, TriggerKind, WatchSpec

DEFAULT_DROP_PCT = 10.0
DEFAULT_LOW_INVENTORY = 50
_TRIGGER_ORDER = tuple(TriggerKind)


def _zone_ok(watch: WatchSpec, listing: Listing) -> bool:
    if not watch.zones:
        return True
    section = (listing.section or "").casefold()
    return any(zone.casefold() in section for zone in watch.zones)


def _fits(watch: WatchSpec, listing: Listing) -> bool:
    quantity_ok = listing.quantity is None or listing.quantity >= watch.quantity
    return quantity_ok and _zone_ok(watch, listing)


def _uses_listings(watch: WatchSpec, listings: Sequence[Listing]) -> bool:
    return bool(listings) and (bool(watch.zones) or watch.quantity > 1)


def effective_price(
    watch: WatchSpec, point: MarketPoint, listings: Sequence[Listing] = ()
) -> float | None:
    """The cheapest price for the wanted quantity and zones (the event minimum otherwise)."""
    if not _uses_listings(watch, listings):
        return point.min_price
    prices = [listing.price for listing in listings if _fits(watch, listing)]
    return min(prices) if prices else None


def tickets_left(
    watch: WatchSpec, point: MarketPoint, listings: Sequence[Listing] = ()
) -> int | None:
    """Tickets on sale for the wanted quantity and zones (the event total otherwise)."""
    if not _uses_listings(watch, listings):
        return point.ticket_count
    return sum(listing.quantity or 0 for listing in listings if _fits(watch, listing))


def _money(value: float) -> str:
    return f"${value:,.0f}" if value == int(value) else f"${value:,.2f}"


def _under_max(watch: WatchSpec, price: float | None) -> bool:
    return price is not None and (watch.max_price is None or price <= watch.max_price)


def check(
    watch: WatchSpec,
    kind: TriggerKind,
    event: EventRef,
    point: MarketPoint,
    high_24h: float | None,
    *,
    new_listing_ids: Sequence[str] = (),
    listings: Sequence[Listing] = (),
) -> Match | None:
    """Return the match if trigger `kind` of `watch` holds on `point`, ignoring its state.

    Price triggers honour `max_price` when the watch has one. `new_listing` holds on a
    snapshot with a new listing at or under the max; re-checks of an open alert pass no
    new ids and then it holds while the price stays at or under the max.
    """
    if kind is TriggerKind.PRICE_BELOW:
        price = effective_price(watch, point, listings)
        if watch.max_price is None or price is None or price > watch.max_price:
            return None
        cheapest, limit = price, watch.max_price  # narrowed, for the deferred reason
        return Match(
            watch,
            event,
            kind,
            lambda: f"cheapest {_money(cheapest)} is at or under your max {_money(limit)}",
            price,
        )
    if kind is TriggerKind.DROP_PCT:
        price = effective_price(watch, point, listings)
        if not high_24h or price is None or not _under_max(watch, price):
            return None
        drop = (high_24h - price) / high_24h * 100.0
        wanted = watch.drop_pct if watch.drop_pct is not None else DEFAULT_DROP_PCT
        if drop < wanted:
            return None
        now_at, high = price, high_24h  # narrowed, for the deferred reason
        return Match(
            watch,
            event,
            kind,
            lambda: f"down {drop:.0f}% to {_money(now_at)} from {_money(high)} in 24 h",
            price,
        )
    if kind is TriggerKind.LOW_INVENTORY:
        left = tickets_left(watch, point, listings)
        threshold = (
            watch.low_inventory if watch.low_inventory is not None else DEFAULT_LOW_INVENTORY
        )
        if left is None or left <= 0 or left > threshold:
            return None
        return Match(
            watch,
            event,
            kind,
            lambda: f"only {left:,} tickets left",
            effective_price(watch, point, listings),
        )
    if kind is TriggerKind.NEW_LISTING:
        if new_listing_ids:
            fresh = set(new_listing_ids)
            prices = [
                listing.price
                for listing in listings
                if listing.listing_id in fresh
                and _fits(watch, listing)
                and _under_max(watch, listing.price)
            ]
            if not prices:
                return None
            price = min(prices)
            return Match(watch, event, kind, f"new listing at {_money(price)}", price)
        price = effective_price(watch, point, listings)
        if not _under_max(watch, price):
            return None
        return Match(watch, event, kind, "new listings still on sale", price)
    return None  # sellout_risk needs the forecast; the planner handles it


def skip_reason(watch: WatchSpec, event: EventRef, point: MarketPoint, now: datetime) -> str | None:
    """Why `watch` must stay silent for `event` now (None when it may fire)."""
    if not watch.active:
        return "watch paused"
    if watch.expires_at is not None and watch.expires_at <= now:
        return "watch expired"
    if event.id in watch.muted_events:
        return "event muted"
    if event.starts_at <= now:
        return "event started"
    if watch.snoozed_until is not None and watch.snoozed_until > now:
        return "watch snoozed"
    if watch.snooze_below is not None and (
        point.min_price is None or point.min_price > watch.snooze_below
    ):
        return "watch snoozed until cheaper"
    return None


def evaluate(
    watch: WatchSpec,
    event: EventRef,
    point: MarketPoint,
    previous: MarketPoint | None,
    history_24h_max: float | None,
    new_listing_ids: Sequence[str],
    now: datetime,
    *,
    listings: Sequence[Listing] = (),
) -> list[Match]:
    """Return the matches of every trigger of `watch` that fires on `point`.

    Args:
        watch: the watch, as indexed.
        event: the event the snapshot is about.
        point: the new snapshot.
        previous: the event's snapshot before it (kept for symmetry with scoring).
        history_24h_max: the highest minimum price of the last 24 h before `point`.
        new_listing_ids: listing ids first seen in this snapshot.
        now: the current time.
        listings: the snapshot's listings, for quantity, zones and new listings.

    Returns:
        One Match per firing trigger; empty when the watch is paused, expired, snoozed,
        muted for the event, the event has started or no tickets are left.
    """
    del previous  # triggers compare against the 24 h window, not one step back
    if skip_reason(watch, event, point, now) is not None or point.ticket_count == 0:
        return []
    out: list[Match] = []
    for kind in _TRIGGER_ORDER:
        if kind not in watch.triggers:
            continue
        found = check(
            watch,
            kind,
            event,
            point,
            history_24h_max,
            new_listing_ids=new_listing_ids,
            listings=listings,
        )
        if found is not None and (kind is not TriggerKind.NEW_LISTING or new_listing_ids):
            out.append(found)
    return out
