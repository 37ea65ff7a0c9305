"""Matching: which watches care about an event, and which of their triggers fire.

`WatchIndex` keeps every active watch in memory, by event id and by one key word of its
terms, so finding the watches of an event costs a few dict look-ups; the answer is cached
per event until the index changes. A term matches an event word exactly or, from three
letters on, as a prefix ("yankee" finds "Yankees"), like `core.event_search`.

`evaluate` and `check` are pure: everything, including `now`, is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from core.domain import EventRef, Level, Listing, MarketPoint, Match, TriggerKind, WatchSpec

if TYPE_CHECKING:
    from core.db.models import Watch

STOPWORDS = frozenset({"vs", "v", "at", "the", "and", "game", "games", "tickets", "ticket"})
DEFAULT_DROP_PCT = 10.0
DEFAULT_LOW_INVENTORY = 50
_WORD = re.compile(r"\w+")
_CATEGORY_KEY = "\x00category:"
_PREFIX_MIN = 3
_TRIGGER_ORDER = tuple(TriggerKind)
_K = TypeVar("_K", int, str)


def words(text: str) -> tuple[str, ...]:
    """Split `text` into case-folded words without the small words matching ignores."""
    return tuple(w for w in _WORD.findall(text.casefold()) if w not in STOPWORDS)


def event_words(event: EventRef) -> frozenset[str]:
    """Every word of the event's name, performers, venue, city and category."""
    parts = [event.name, event.venue or "", event.city or "", event.category or ""]
    parts.extend(event.performers)
    return frozenset(_WORD.findall(" ".join(parts).casefold()))


def _required_words(watch: WatchSpec) -> tuple[str, ...]:
    found: list[str] = []
    for text in (*watch.terms, watch.venue or ""):
        found.extend(w for w in words(text) if w not in found)
    return tuple(found)


def _word_matches(wanted: str, haystack: frozenset[str]) -> bool:
    if wanted in haystack:
        return True
    return len(wanted) >= _PREFIX_MIN and any(w.startswith(wanted) for w in haystack)


def targets(watch: WatchSpec, event: EventRef, haystack: frozenset[str]) -> bool:
    """Whether `watch` is about `event` (ignoring its state and triggers)."""
    if watch.event_id is not None:
        return watch.event_id == event.id
    if watch.category and (event.category or "").casefold() != watch.category.casefold():
        return False
    return all(_word_matches(w, haystack) for w in _required_words(watch))


def _drop(buckets: dict[_K, dict[int, WatchSpec]], key: _K, watch_id: int) -> None:
    entries = buckets.get(key)
    if entries is not None:
        entries.pop(watch_id, None)
        if not entries:
            del buckets[key]


class WatchIndex:
    """Active watches by event id and by key word, with per-event caches.

    Not thread-safe; owned by one event loop. Any change bumps a version that
    invalidates the cached candidates of every event.
    """

    def __init__(self) -> None:
        self._specs: dict[int, WatchSpec] = {}
        self._by_event: dict[int, dict[int, WatchSpec]] = {}
        self._by_word: dict[str, dict[int, WatchSpec]] = {}
        self._event_keys: dict[int, int] = {}
        self._word_keys: dict[int, str] = {}
        self._version = 0
        self._words: dict[int, tuple[EventRef, frozenset[str], frozenset[str]]] = {}
        self._candidates: dict[int, tuple[int, EventRef, tuple[WatchSpec, ...]]] = {}

    @classmethod
    def from_specs(cls, specs: Iterable[WatchSpec]) -> WatchIndex:
        """Build an index of the active watches among `specs`."""
        index = cls()
        for spec in specs:
            index.add(spec)
        return index

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, watch_id: object) -> bool:
        return watch_id in self._specs

    def get(self, watch_id: int) -> WatchSpec | None:
        """Return the indexed watch `watch_id`, if any."""
        return self._specs.get(watch_id)

    def add(self, spec: WatchSpec) -> None:
        """Index `spec` (replacing an earlier version); inactive watches are left out."""
        if spec.id in self._specs:
            self.remove(spec.id)
        if not spec.active:
            return
        if spec.event_id is not None:
            self._by_event.setdefault(spec.event_id, {})[spec.id] = spec
            self._event_keys[spec.id] = spec.event_id
        else:
            required = _required_words(spec)
            if required:
                key = max(required, key=len)  # longer words tend to be rarer
            else:
                key = _CATEGORY_KEY + (spec.category or "").casefold()
            self._by_word.setdefault(key, {})[spec.id] = spec
            self._word_keys[spec.id] = key
        self._specs[spec.id] = spec
        self._version += 1

    def remove(self, watch_id: int) -> None:
        """Forget watch `watch_id`; unknown ids are ignored."""
        spec = self._specs.pop(watch_id, None)
        if spec is None:
            return
        if watch_id in self._event_keys:
            _drop(self._by_event, self._event_keys.pop(watch_id), watch_id)
        else:
            _drop(self._by_word, self._word_keys.pop(watch_id), watch_id)
        self._version += 1

    def replace(self, spec: WatchSpec) -> None:
        """Put the new version of a watch in place of the old one."""
        self.add(spec)

    def on_change(self, watch: WatchSpec | int, change: str) -> None:
        """Hook for committed changes: ("created"|"updated", spec) or ("removed", id)."""
        if isinstance(watch, int) or change == "removed":
            self.remove(watch if isinstance(watch, int) else watch.id)
        else:
            self.add(watch)

    def _event_words(self, event: EventRef) -> tuple[frozenset[str], frozenset[str]]:
        cached = self._words.get(event.id)
        if cached is not None and (cached[0] is event or cached[0] == event):
            return cached[1], cached[2]
        haystack = event_words(event)
        lookups = set(haystack)
        for word in haystack:
            lookups.update(word[:n] for n in range(_PREFIX_MIN, len(word)))
        category = (event.category or "").casefold()
        lookups.add(_CATEGORY_KEY + category)
        lookups.add(_CATEGORY_KEY)
        keys = frozenset(lookups)
        self._words[event.id] = (event, haystack, keys)
        return haystack, keys

    def candidates(self, event: EventRef) -> tuple[WatchSpec, ...]:
        """Every indexed watch about `event`, whatever its triggers and snooze say."""
        cached = self._candidates.get(event.id)
        if (
            cached is not None
            and cached[0] == self._version
            and (cached[1] is event or cached[1] == event)
        ):
            return cached[2]
        haystack, keys = self._event_words(event)
        found = list(self._by_event.get(event.id, {}).values())
        for key in keys:
            bucket = self._by_word.get(key)
            if bucket:
                found.extend(s for s in bucket.values() if targets(s, event, haystack))
        result = tuple(found)
        self._candidates[event.id] = (self._version, event, result)
        return result


# --- triggers ---------------------------------------------------------------------------


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
        reason = f"cheapest {_money(price)} is at or under your max {_money(watch.max_price)}"
        return Match(watch, event, kind, reason, price)
    if kind is TriggerKind.DROP_PCT:
        price = effective_price(watch, point, listings)
        if not high_24h or price is None or not _under_max(watch, price):
            return None
        drop = (high_24h - price) / high_24h * 100.0
        wanted = watch.drop_pct if watch.drop_pct is not None else DEFAULT_DROP_PCT
        if drop < wanted:
            return None
        reason = f"down {drop:.0f}% to {_money(price)} from {_money(high_24h)} in 24 h"
        return Match(watch, event, kind, reason, price)
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
            f"only {left:,} tickets left",
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


_TRIGGER_SETS: dict[tuple[str, ...], frozenset[TriggerKind]] = {}
_KNOWN_TRIGGERS = frozenset(kind.value for kind in TriggerKind)


def _trigger_set(raw: Iterable[object] | None) -> frozenset[TriggerKind]:
    """The triggers of a row, shared between watches (100k watches, a handful of sets)."""
    key = tuple(str(t) for t in raw or ())
    found = _TRIGGER_SETS.get(key)
    if found is None:
        found = frozenset(TriggerKind(t) for t in key if t in _KNOWN_TRIGGERS)
        _TRIGGER_SETS[key] = found
    return found


def spec_from_row(row: Watch | Mapping[Any, Any]) -> WatchSpec:
    """The watch as the matcher sees it: a frozen copy of a `watches` row.

    Takes an ORM `Watch` or a Core row mapping (`row._mapping`). Removed watches
    (`removed_at` set) come out inactive; unknown trigger names are dropped.
    """
    get: Callable[[str], Any] = (
        row.__getitem__ if isinstance(row, Mapping) else partial(getattr, row)
    )
    cooldown = get("cooldown_s")
    return WatchSpec(
        id=get("id"),
        user_id=get("user_id"),
        event_id=get("event_id"),
        terms=tuple(str(t) for t in get("terms") or ()),
        category=get("category"),
        venue=get("venue"),
        max_price=get("max_price"),
        quantity=max(int(get("quantity") or 1), 1),
        zones=tuple(str(z) for z in get("zones") or ()),
        triggers=_trigger_set(get("triggers")),
        drop_pct=get("drop_pct"),
        low_inventory=get("low_inventory"),
        min_level=Level(min(max(int(get("min_level") or 1), 1), 5)),
        cooldown_s=int(cooldown if cooldown is not None else 3600),
        active=bool(get("active")) and get("removed_at") is None,
        snoozed_until=get("snoozed_until"),
        snooze_below=get("snooze_below"),
        expires_at=get("expires_at"),
        favourite=bool(get("favourite")),
        muted_events=frozenset(int(e) for e in get("muted_event_ids") or ()),
    )
