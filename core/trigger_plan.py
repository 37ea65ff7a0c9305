"""A prefilter for the triggers of one event's watches.

Most (watch, trigger) pairs do not fire on a given snapshot. `TriggerPlan` sorts each
trigger's watches by the threshold it compares with (max price, drop, tickets), so a
snapshot finds the pairs that can fire by bisection; `core.triggers.fire` still decides
each of them, so the result is exactly `evaluate` of every watch, in order.

Watches are grouped by currency too: a group whose max is in another currency than the
snapshot's skips its price thresholds with one comparison per snapshot, not per watch.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter

from core.domain import EventRef, Listing, MarketPoint, Match, TriggerKind, WatchSpec
from core.triggers import (
    DEFAULT_DROP_PCT,
    DEFAULT_LOW_INVENTORY,
    Offer,
    SnapshotView,
    evaluate,
    fire,
    priced_in,
    stateless,
)

__all__ = ["TriggerPlan"]

_ORDER = {kind: i for i, kind in enumerate(TriggerKind)}  # evaluate's order of triggers
_PER_WATCH = len(_ORDER)  # a match's rank: its watch's position * _PER_WATCH + its order
_RANK = itemgetter(0)


def _first_at_least(keys: list[float], value: float) -> int:
    """Where the keys >= `value` start (all of them for NaN, which compares with nothing,
    as the triggers' `price > max` tests let NaN through)."""
    return bisect_left(keys, value) if value == value else 0


def _last_at_most(keys: list[float], value: float) -> int:
    """Where the keys <= `value` end (all of them for NaN; see `_first_at_least`)."""
    return bisect_right(keys, value) if value == value else len(keys)


_Entry = tuple[int, TriggerKind, WatchSpec]  # rank, kind, watch
_Item = tuple[float, int, TriggerKind, WatchSpec]  # the threshold, then the entry


class _Sorted:
    """One trigger's watches, sorted by the threshold the trigger compares with."""

    __slots__ = ("entries", "keys")

    def __init__(self, items: list[_Item]) -> None:
        items.sort(key=itemgetter(0, 1))
        self.keys = [item[0] for item in items]
        self.entries: list[_Entry] = [item[1:] for item in items]


class _Group:
    """The watches of one quantity, zones (so one `Offer` per snapshot) and currency of
    their max (so one `priced_in` per snapshot), per trigger."""

    __slots__ = ("below", "drop", "low", "new", "watch")

    def __init__(self, watches: list[tuple[int, WatchSpec]]) -> None:
        self.watch = watches[0][1]  # any of them: the offer depends on quantity and zones
        below: list[_Item] = []
        drop: list[_Item] = []
        low: list[_Item] = []
        new: list[_Item] = []
        for pos, watch in watches:
            rank = pos * _PER_WATCH
            for kind in watch.triggers:
                if kind is TriggerKind.PRICE_BELOW and watch.max_price is not None:
                    below.append((watch.max_price, rank + _ORDER[kind], kind, watch))
                elif kind is TriggerKind.DROP_PCT:
                    wanted = watch.drop_pct if watch.drop_pct is not None else DEFAULT_DROP_PCT
                    drop.append((wanted, rank + _ORDER[kind], kind, watch))
                elif kind is TriggerKind.LOW_INVENTORY:
                    limit = watch.low_inventory
                    most = limit if limit is not None else DEFAULT_LOW_INVENTORY
                    low.append((most, rank + _ORDER[kind], kind, watch))
                elif kind is TriggerKind.NEW_LISTING:
                    ceiling = watch.max_price if watch.max_price is not None else math.inf
                    new.append((ceiling, rank + _ORDER[kind], kind, watch))
        self.below, self.drop, self.low, self.new = (
            _Sorted(below),
            _Sorted(drop),
            _Sorted(low),
            _Sorted(new),
        )

    def hits(self, offer: Offer) -> list[_Entry]:
        """The (watch, trigger) pairs whose threshold the offer meets: a superset of the
        pairs that fire (drop_pct's max and the like are left to `fire`)."""
        found: list[_Entry] = []
        priced = priced_in(self.watch, offer.currency)  # else no max can hold: no price_below
        if priced and offer.price is not None and self.below.keys:
            found += self.below.entries[_first_at_least(self.below.keys, offer.price) :]
        if offer.drop is not None and self.drop.keys:
            found += self.drop.entries[: _last_at_most(self.drop.keys, offer.drop)]
        if offer.left is not None and offer.left > 0 and self.low.keys:
            found += self.low.entries[_first_at_least(self.low.keys, offer.left) :]
        if offer.new and offer.fresh is not None and self.new.keys:
            # In another currency only the watches without a max (an infinite ceiling).
            fresh = offer.fresh if priced else math.inf
            found += self.new.entries[_first_at_least(self.new.keys, fresh) :]
        return found


def _plain(watch: WatchSpec) -> bool:
    """Whether the plan may sort the watch: no state (see `stateless`), no NaN threshold."""
    return stateless(watch) and all(
        value == value for value in (watch.max_price, watch.drop_pct, watch.low_inventory)
    )


class TriggerPlan:
    """The triggers of one event's watches, sorted by threshold: a snapshot finds the
    (watch, trigger) pairs that can fire by bisection instead of asking every watch.

    Only a prefilter: each pair found is still decided by `core.triggers.fire`, and the
    result is exactly `evaluate` of every watch in order, joined (watches with a state,
    paused, expiring, muted or snoozed, are simply evaluated).
    """

    __slots__ = ("_asked", "_groups", "watches")

    def __init__(self, watches: tuple[WatchSpec, ...]) -> None:
        self.watches = watches
        self._asked: list[tuple[int, WatchSpec]] = []
        grouped: dict[tuple[int, tuple[str, ...], str | None], list[tuple[int, WatchSpec]]] = {}
        for pos, watch in enumerate(watches):
            if _plain(watch):
                key = (watch.quantity, watch.zones, watch.currency)
                grouped.setdefault(key, []).append((pos, watch))
            else:
                self._asked.append((pos, watch))
        self._groups = [_Group(members) for members in grouped.values()]

    def matches(
        self,
        event: EventRef,
        point: MarketPoint,
        history_24h_max: float | None,
        new_listing_ids: Sequence[str],
        now: datetime,
        *,
        listings: Sequence[Listing] = (),
    ) -> list[Match]:
        """What `evaluate` returns for each watch of the plan, in order, joined.

        Args:
            event: the event the snapshot is about.
            point: the new snapshot.
            history_24h_max: the highest minimum price of the last 24 h before `point`.
            new_listing_ids: listing ids first seen in this snapshot.
            now: the current time.
            listings: the snapshot's listings, for quantity, zones and new listings.

        Returns:
            The matches, ordered by watch and then by trigger, as `evaluate` gives them.
        """
        if point.ticket_count == 0 or event.starts_at <= now:
            return []  # silences every watch alike (see `skip_reason`)
        view = SnapshotView(
            point, history_24h_max, listings=listings, new_listing_ids=new_listing_ids
        )
        found: list[tuple[int, Match]] = []
        for group in self._groups:
            offer = view.offer(group.watch)
            for rank, kind, watch in group.hits(offer):
                match = fire(watch, kind, event, offer)
                if match is not None:
                    found.append((rank, match))
        for pos, watch in self._asked:
            for match in evaluate(
                watch, event, point, None, history_24h_max, new_listing_ids, now, view=view
            ):
                found.append((pos * _PER_WATCH + _ORDER[match.kind], match))
        if len(found) > 1:
            found.sort(key=_RANK)
        return [match for _, match in found]
