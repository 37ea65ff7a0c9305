"""Triggers: does a watch fire on a snapshot (price_below, drop_pct, low_inventory,
new_listing), and must it stay silent (paused, expired, muted, snoozed)?

Pure functions; everything, including `now`, is passed in. `core.rules` re-exports
them next to the watch index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from core.domain import (
    DEFAULT_CURRENCY,
    EVENT_STARTED,
    EventRef,
    Listing,
    MarketPoint,
    Match,
    TriggerKind,
    WatchSpec,
    max_priced_in,
)
from core.formatting import money

DEFAULT_DROP_PCT = 10.0
DEFAULT_LOW_INVENTORY = 50
_TRIGGER_ORDER = tuple(TriggerKind)
# The kinds as plain globals: `TriggerKind.X` is a descriptor look-up each time (slow).
_PRICE_BELOW, _DROP_PCT, _LOW_INVENTORY, _NEW_LISTING = (
    TriggerKind.PRICE_BELOW,
    TriggerKind.DROP_PCT,
    TriggerKind.LOW_INVENTORY,
    TriggerKind.NEW_LISTING,
)
_NO_IDS: frozenset[str] = frozenset()
# The kinds `check` decides; sellout_risk needs the forecast and is the planner's.
_CHECKED = frozenset(TriggerKind) - {TriggerKind.SELLOUT_RISK}


def _fitting(quantity: int, zones: tuple[str, ...], listings: Sequence[Listing]) -> list[Listing]:
    """The listings with at least `quantity` tickets in one of `zones` (any zone if none)."""
    if not zones:
        return [item for item in listings if item.quantity is None or item.quantity >= quantity]
    folded = [zone.casefold() for zone in zones]
    return [
        item
        for item in listings
        if (item.quantity is None or item.quantity >= quantity)
        and any(zone in (item.section or "").casefold() for zone in folded)
    ]


def _cheapest_and_count(fitting: list[Listing]) -> tuple[float | None, int]:
    """The lowest price (the first of equals, as `min`) and the ticket total of `fitting`."""
    cheapest: float | None = None
    count = 0
    for item in fitting:  # one loop: the lists are short and generators cost more than them
        if cheapest is None or item.price < cheapest:
            cheapest = item.price
        count += item.quantity or 0
    return cheapest, count


def priced_by_listings(watch: WatchSpec, listings: Sequence[Listing]) -> bool:
    """Whether the watch's price comes from the listings that fit its zones or quantity
    (else it is the event minimum)."""
    return bool(listings) and picks_seats(watch)


def picks_seats(watch: WatchSpec) -> bool:
    """Whether the watch asks for particular seats: zones, or more than one ticket."""
    return bool(watch.zones) or watch.quantity > 1


def comparable_high(
    watch: WatchSpec, high_24h: float | None, listings: Sequence[Listing] = ()
) -> float | None:
    """The 24 h high that the watch's price may be measured against (None: none is).

    `high_24h` is the highest minimum price of the whole event. A watch whose price
    comes from the listings that fit its zones or quantity (see `effective_price`) has
    no 24 h high of its own (the history keeps no listings), so it claims no drop;
    without listings its price is the event minimum and the event's high is its own.
    """
    return None if priced_by_listings(watch, listings) else high_24h


def effective_price(
    watch: WatchSpec, point: MarketPoint, listings: Sequence[Listing] = ()
) -> float | None:
    """The cheapest price for the wanted quantity and zones (the event minimum otherwise)."""
    if not priced_by_listings(watch, listings):
        return point.min_price
    return _cheapest_and_count(_fitting(watch.quantity, watch.zones, listings))[0]


def tickets_left(
    watch: WatchSpec, point: MarketPoint, listings: Sequence[Listing] = ()
) -> int | None:
    """Tickets on sale for the wanted quantity and zones (the event total otherwise)."""
    if not priced_by_listings(watch, listings):
        return point.ticket_count
    return _cheapest_and_count(_fitting(watch.quantity, watch.zones, listings))[1]


def listing_url(watch: WatchSpec | None, listings: Sequence[Listing]) -> str | None:
    """The web page of the cheapest listing with one that fits the watch's quantity and
    zones (any listing without a watch): where "Open" takes a person to buy."""
    linked = [item for item in listings if item.url]
    if watch is not None:
        linked = _fitting(watch.quantity, watch.zones, linked)
    return min(linked, key=lambda item: item.price).url if linked else None


class Offer(NamedTuple):  # a tuple: built per check, far cheaper than a frozen dataclass
    """The figures of one snapshot that the triggers of a watch read, for its quantity
    and zones.

    Attributes:
        price: the effective price (see `effective_price`).
        left: the tickets left (see `tickets_left`).
        drop: how far `price` is below the 24 h high, in percent (None without both).
        fresh: the cheapest new listing that fits (None: no new listing fits).
        high_24h: the highest minimum price of the 24 h before the snapshot (None when
            `price` comes from the listings that fit: see `comparable_high`).
        new: whether the snapshot has new listings (`new_listing` asks for one).
        currency: the snapshot's currency, which the reasons write prices in.
        seats: whether `price` comes from the listings that fit the watch's quantity and
            zones (False: the event's cheapest, the seats unchecked without listings).
    """

    price: float | None
    left: int | None
    drop: float | None
    fresh: float | None
    high_24h: float | None
    new: bool
    currency: str | None = None
    seats: bool = False


def _offer(
    watch: WatchSpec,
    point: MarketPoint,
    listings: Sequence[Listing],
    high_24h: float | None,
    fresh_ids: frozenset[str],
) -> Offer:
    left: int | None
    seats = priced_by_listings(watch, listings)
    if seats:
        fitting = _fitting(watch.quantity, watch.zones, listings)
        price, left = _cheapest_and_count(fitting)
        # No 24 h high of this price exists (`comparable_high`): measured against the
        # event-wide high, pricey zone seats would never drop, and a price could
        # "drop" from seats it never was.
        high_24h = None
    else:
        fitting = _fitting(watch.quantity, watch.zones, listings) if fresh_ids else []
        price, left = point.min_price, point.ticket_count
    drop = (high_24h - price) / high_24h * 100.0 if high_24h and price is not None else None
    if not fresh_ids:
        return Offer(price, left, drop, None, high_24h, False, point.currency, seats)
    # The cheapest fitting new listing: it is under the max exactly when any of them is.
    new = [listing.price for listing in fitting if listing.listing_id in fresh_ids]
    cheapest_new = min(new) if new else None
    return Offer(price, left, drop, cheapest_new, high_24h, True, point.currency, seats)


class SnapshotView:
    """One snapshot as the triggers of many watches read it.

    The listing filters depend only on a watch's quantity and zones, so each distinct
    pair is worked out once per snapshot instead of once per watch and trigger.
    """

    __slots__ = ("_base", "_fresh", "_offers", "high_24h", "listings", "point")

    def __init__(
        self,
        point: MarketPoint,
        high_24h: float | None,
        *,
        listings: Sequence[Listing] = (),
        new_listing_ids: Sequence[str] = (),
    ) -> None:
        self.point = point
        self.high_24h = high_24h
        self.listings = listings
        self._fresh = frozenset(new_listing_ids)
        self._base: Offer | None = None
        self._offers: dict[tuple[int, tuple[str, ...]], Offer] = {}

    def offer(self, watch: WatchSpec) -> Offer:
        """The snapshot's figures for the quantity and zones of `watch`."""
        if not self._fresh and not priced_by_listings(watch, self.listings):
            # Neither the listings nor new ids matter: the same figures for every such watch.
            if self._base is None:
                self._base = _offer(watch, self.point, (), self.high_24h, self._fresh)
            return self._base
        key = (watch.quantity, watch.zones)
        found = self._offers.get(key)
        if found is None:
            found = _offer(watch, self.point, self.listings, self.high_24h, self._fresh)
            self._offers[key] = found
        return found


def seats_note(watch: WatchSpec, seats: bool) -> str:
    """ " (whole event: no listings to check zone floor, 2 together)" when a zone or
    quantity watch's price was not read from its seats (`seats` False: the event's
    cheapest, for want of listings); "" otherwise."""
    if seats or not picks_seats(watch):
        return ""
    wanted = []
    if watch.zones:
        wanted.append(f"zone {', '.join(watch.zones)}")
    if watch.quantity > 1:
        wanted.append(f"{watch.quantity} together")
    return f" (whole event: no listings to check {', '.join(wanted)})"


def priced_in(watch: WatchSpec, currency: str | None) -> bool:
    """Whether the watch's max (and snooze price) may be compared with prices in
    `currency` (`core.domain.max_priced_in`)."""
    return max_priced_in(watch.currency, currency)


def _under_max(watch: WatchSpec, price: float | None, currency: str | None) -> bool:
    if price is None:
        return False
    if watch.max_price is None:
        return True
    # `priced_in`, inline: this runs for most pairs the plan finds
    return price <= watch.max_price and (
        watch.currency is None or watch.currency == (currency or DEFAULT_CURRENCY)
    )


def fire(watch: WatchSpec, kind: TriggerKind, event: EventRef, offer: Offer) -> Match | None:
    """The match if trigger `kind` of `watch` holds, given the snapshot's `offer` for the
    watch (see `SnapshotView.offer`); the one place the trigger rules live (see `check`)."""
    if kind is _PRICE_BELOW:
        price = offer.price
        if watch.max_price is None or price is None or price > watch.max_price:
            return None
        if watch.currency is not None and watch.currency != (offer.currency or DEFAULT_CURRENCY):
            return None  # a max in another currency (`priced_in`)
        cheapest, limit, cur = price, watch.max_price, offer.currency  # for the deferred reason
        return Match(
            watch,
            event,
            kind,
            lambda: (
                f"cheapest {money(cheapest, cur)} is at or under your max {money(limit, cur)}"
                + seats_note(watch, offer.seats)
            ),
            price,
        )
    if kind is _DROP_PCT:
        price, drop, high = offer.price, offer.drop, offer.high_24h
        if (
            drop is None
            or high is None
            or price is None
            or not _under_max(watch, price, offer.currency)
        ):
            return None
        wanted = watch.drop_pct if watch.drop_pct is not None else DEFAULT_DROP_PCT
        if drop < wanted:
            return None
        now_at, cur = price, offer.currency  # narrowed, for the deferred reason
        return Match(
            watch,
            event,
            kind,
            lambda: (
                f"down {drop:.0f}% to {money(now_at, cur)} from {money(high, cur)} in 24 h"
                + seats_note(watch, offer.seats)
            ),
            price,
        )
    if kind is _LOW_INVENTORY:
        left = offer.left
        threshold = (
            watch.low_inventory if watch.low_inventory is not None else DEFAULT_LOW_INVENTORY
        )
        if left is None or left <= 0 or left > threshold:
            return None
        return Match(watch, event, kind, lambda: f"only {left:,} tickets left", offer.price)
    if kind is _NEW_LISTING:
        if offer.new:
            price = offer.fresh
            if price is None or not _under_max(watch, price, offer.currency):
                return None
            why = f"new listing at {money(price, offer.currency)}"
            return Match(watch, event, kind, why, price)
        price = offer.price
        if not _under_max(watch, price, offer.currency):
            return None
        return Match(watch, event, kind, "new listings still on sale", price)
    return None  # sellout_risk needs the forecast; the planner handles it


def check(
    watch: WatchSpec,
    kind: TriggerKind,
    event: EventRef,
    point: MarketPoint,
    high_24h: float | None,
    *,
    new_listing_ids: Sequence[str] = (),
    listings: Sequence[Listing] = (),
    view: SnapshotView | None = None,
) -> Match | None:
    """Return the match if trigger `kind` of `watch` holds on `point`, ignoring its state.

    Price triggers honour `max_price` when the watch has one, and only on a snapshot in
    the watch's currency when it has one (`priced_in`). `new_listing` holds on a
    snapshot with a new listing at or under the max; re-checks of an open alert pass no
    new ids and then it holds while the price stays at or under the max. A `view` of
    this snapshot (same point, high, listings and new ids) shares its listing filters.
    """
    if view is not None:
        return fire(watch, kind, event, view.offer(watch))
    fresh = frozenset(new_listing_ids) if new_listing_ids else _NO_IDS
    return fire(watch, kind, event, _offer(watch, point, listings, high_24h, fresh))


def skip_reason(watch: WatchSpec, event: EventRef, point: MarketPoint, now: datetime) -> str | None:
    """Why `watch` must stay silent for `event` now (None when it may fire)."""
    if not watch.active:
        return "watch paused"
    if watch.expires_at is not None and watch.expires_at <= now:
        return "watch expired"
    if event.id in watch.muted_events:
        return "event muted"
    if event.starts_at <= now:
        return EVENT_STARTED
    if watch.snoozed_until is not None and watch.snoozed_until > now:
        return "watch snoozed"
    if watch.snooze_below is not None and (
        point.min_price is None
        or point.min_price > watch.snooze_below
        or not priced_in(watch, point.currency)
    ):
        return "watch snoozed until cheaper"
    return None


_KINDS: dict[frozenset[TriggerKind], tuple[tuple[TriggerKind, ...], tuple[TriggerKind, ...]]] = {}


def trigger_order(triggers: frozenset[TriggerKind], new: bool) -> tuple[TriggerKind, ...]:
    """The triggers `evaluate` asks, in its stable order (`new_listing` only with new ids).

    Cached per trigger set: watches share a handful of sets (see `core.rules`).
    """
    found = _KINDS.get(triggers)
    if found is None:
        ordered = tuple(k for k in _TRIGGER_ORDER if k in triggers and k in _CHECKED)
        found = (tuple(k for k in ordered if k is not _NEW_LISTING), ordered)
        _KINDS[triggers] = found
    return found[new]


def stateless(watch: WatchSpec) -> bool:
    """Whether nothing of the watch itself can silence it (most watches): active, no
    expiry, mute, snooze or snooze price, so only the event and snapshot can."""
    return (
        watch.active
        and watch.expires_at is None
        and watch.snoozed_until is None
        and watch.snooze_below is None
        and not watch.muted_events
    )


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
    view: SnapshotView | None = None,
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
        view: a `SnapshotView` of this same snapshot, to share its listing filters.

    Returns:
        One Match per firing trigger; empty when the watch is paused, expired, snoozed,
        muted for the event, the event has started or no tickets are left.
    """
    del previous  # triggers compare against the 24 h window, not one step back
    if skip_reason(watch, event, point, now) is not None or point.ticket_count == 0:
        return []
    kinds = trigger_order(watch.triggers, bool(new_listing_ids))
    if not kinds:
        return []
    if view is None:
        view = SnapshotView(
            point, history_24h_max, listings=listings, new_listing_ids=new_listing_ids
        )
    offer = view.offer(watch)
    out: list[Match] = []
    for kind in kinds:
        found = fire(watch, kind, event, offer)
        if found is not None:
            out.append(found)
    return out
