"""Matching: which watches care about an event, and which of their triggers fire.

`WatchIndex` keeps every active watch in memory, by event id and by one key word of its
terms, so finding the watches of an event costs a few dict look-ups; the answer is cached
per event until the index changes. A term matches an event word exactly or, from three
letters on, as a prefix ("yankee" finds "Yankees"), like `core.event_search`.

The triggers themselves (`evaluate`, `check`, ...) live in `core.triggers` and are
re-exported here; they are pure: everything, including `now`, is passed in. Per event,
`WatchIndex.plan` keeps a `core.trigger_plan.TriggerPlan` that asks only the watches
whose thresholds a snapshot meets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from core.domain import ZERO_WIDTH, EventRef, Level, TriggerKind, WatchSpec
from core.trigger_plan import TriggerPlan
from core.triggers import (
    DEFAULT_DROP_PCT,
    DEFAULT_LOW_INVENTORY,
    SnapshotView,
    check,
    effective_price,
    evaluate,
    listing_url,
    priced_by_listings,
    skip_reason,
    tickets_left,
)

if TYPE_CHECKING:
    from core.db.models import Watch

__all__ = [
    "DEFAULT_DROP_PCT",
    "DEFAULT_LOW_INVENTORY",
    "STOPWORDS",
    "SnapshotView",
    "TriggerPlan",
    "WatchIndex",
    "check",
    "effective_price",
    "evaluate",
    "event_words",
    "fold",
    "listing_url",
    "priced_by_listings",
    "skip_reason",
    "spec_from_row",
    "targets",
    "tickets_left",
    "words",
]

# Filler between names ("yankees in boston", "rockies at diamondbacks"): no event needs it.
STOPWORDS = frozenset({"vs", "v", "at", "in", "the", "and", "game", "games", "tickets", "ticket"})
_WORD = re.compile(r"\w+")
_CATEGORY_KEY = "\x00category:"
_PREFIX_MIN = 3
_K = TypeVar("_K", int, str)


# Kana voicing marks change the sound (ト to ド), unlike an accent: kept.
_KANA_MARKS = frozenset("\u3099\u309a")


def fold(text: str) -> str:
    """Case-folded, accents and zero-width characters removed: "Björk" and "bjork" read
    the same when matching, on the watch's side and the event's."""
    if text.isascii():
        return text.casefold()
    split = unicodedata.normalize("NFKD", text.translate(ZERO_WIDTH).casefold())
    kept = "".join(c for c in split if not unicodedata.combining(c) or c in _KANA_MARKS)
    return unicodedata.normalize("NFC", kept)  # Hangul and voiced kana whole again


def words(text: str) -> tuple[str, ...]:
    """Split `text` into folded words (`fold`) without the small words matching ignores."""
    return tuple(w for w in _WORD.findall(fold(text)) if w not in STOPWORDS)


def event_words(event: EventRef) -> frozenset[str]:
    """Every word of the event's name, performers, venue, city and category."""
    parts = [event.name, event.venue or "", event.city or "", event.category or ""]
    parts.extend(event.performers)
    return frozenset(_WORD.findall(fold(" ".join(parts))))


def _required_words(watch: WatchSpec) -> tuple[str, ...]:
    found: list[str] = []
    for text in (*watch.terms, watch.venue or ""):
        found.extend(w for w in words(text) if w not in found)
    return tuple(found)


# Scripts written without spaces between words (CJK ideographs, kana, Hangul): a typed
# word may be any part of one of the event's runs of text ("東京" in "東京ドーム").
_UNSPACED = re.compile(
    r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002ffff]"
)
_UNSPACED_MIN = 2


def unspaced(word: str) -> bool:
    """Whether `word` is in a script written without spaces (see `word_matches`)."""
    return not word.isascii() and _UNSPACED.search(word) is not None


def word_matches(wanted: str, haystack: Collection[str]) -> bool:
    """Whether typed word `wanted` matches a word of `haystack`: the same word, a prefix
    of three letters or more ("yank" finds "yankees"), or, in scripts written without
    spaces, any part of two characters or more ("東京" finds "東京ドーム")."""
    if wanted in haystack:
        return True
    if unspaced(wanted):
        return len(wanted) >= _UNSPACED_MIN and any(wanted in w for w in haystack)
    return len(wanted) >= _PREFIX_MIN and any(w.startswith(wanted) for w in haystack)


def _lookup_keys(word: str) -> Iterator[str]:
    """The typed words that can find `word` (`word_matches`), other than itself."""
    if unspaced(word):
        size = len(word)
        for start in range(size):
            for end in range(start + _UNSPACED_MIN, size + 1):
                yield word[start:end]
    else:
        yield from (word[:n] for n in range(_PREFIX_MIN, len(word)))


def targets(watch: WatchSpec, event: EventRef, haystack: frozenset[str]) -> bool:
    """Whether `watch` is about `event` (ignoring its state and triggers)."""
    if watch.event_id is not None:
        return watch.event_id == event.id
    if watch.category and (event.category or "").casefold() != watch.category.casefold():
        return False
    return all(word_matches(w, haystack) for w in _required_words(watch))


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
        self._words: dict[int, tuple[EventRef, frozenset[str]]] = {}
        self._candidates: dict[int, tuple[int, EventRef, tuple[WatchSpec, ...]]] = {}
        self._plans: dict[int, TriggerPlan] = {}
        # The `updated_at` of the row each spec was read from, when known: a watch whose
        # row still has it need not be read again to be trusted.
        self._stamps: dict[int, datetime] = {}

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

    def stamp(self, watch_id: int) -> datetime | None:
        """The `updated_at` of the row the indexed watch was read from (None: unknown)."""
        return self._stamps.get(watch_id)

    def confirm(self, watch_id: int, stamp: datetime) -> None:
        """Note that the indexed watch was checked against its row as of `stamp`."""
        if watch_id in self._specs:
            self._stamps[watch_id] = stamp

    def add(self, spec: WatchSpec, stamp: datetime | None = None) -> None:
        """Index `spec` (replacing an earlier version); inactive watches are left out.

        `stamp` is the row's `updated_at` when `spec` was read from the database.
        """
        if spec.id in self._specs:
            self.remove(spec.id)
        if not spec.active:
            return
        if stamp is not None:
            self._stamps[spec.id] = stamp
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
        self._stamps.pop(watch_id, None)
        if spec is None:
            return
        if watch_id in self._event_keys:
            _drop(self._by_event, self._event_keys.pop(watch_id), watch_id)
        else:
            _drop(self._by_word, self._word_keys.pop(watch_id), watch_id)
        self._version += 1

    def replace(self, spec: WatchSpec, stamp: datetime | None = None) -> None:
        """Put the new version of a watch in place of the old one."""
        self.add(spec, stamp)

    def on_change(self, watch: WatchSpec | int, change: str) -> None:
        """Hook for committed changes: ("created"|"updated", spec) or ("removed", id)."""
        if isinstance(watch, int) or change == "removed":
            self.remove(watch if isinstance(watch, int) else watch.id)
        else:
            self.add(watch)

    def _event_words(self, event: EventRef) -> frozenset[str]:
        """The event's words, tokenised once per event (again only if the event changes)."""
        cached = self._words.get(event.id)
        if cached is not None and (cached[0] is event or cached[0] == event):
            return cached[1]
        haystack = event_words(event)
        self._words[event.id] = (event, haystack)
        return haystack

    def candidates(self, event: EventRef) -> tuple[WatchSpec, ...]:
        """Every indexed watch about `event`, whatever its triggers and snooze say."""
        cached = self._candidates.get(event.id)
        if (
            cached is not None
            and cached[0] == self._version
            and (cached[1] is event or cached[1] == event)
        ):
            return cached[2]
        haystack = self._event_words(event)
        keys = set(haystack)  # each word, what can find it (`word_matches`), the categories
        for word in haystack:
            keys.update(_lookup_keys(word))
        keys.add(_CATEGORY_KEY + (event.category or "").casefold())
        keys.add(_CATEGORY_KEY)
        found = list(self._by_event.get(event.id, {}).values())
        for key in keys:
            bucket = self._by_word.get(key)
            if bucket:
                found.extend(s for s in bucket.values() if targets(s, event, haystack))
        result = tuple(found)
        self._candidates[event.id] = (self._version, event, result)
        return result

    def plan(self, event: EventRef) -> TriggerPlan:
        """The `TriggerPlan` of the event's candidates, rebuilt only when they change."""
        watches = self.candidates(event)
        plan = self._plans.get(event.id)
        if plan is None or plan.watches is not watches:
            plan = self._plans[event.id] = TriggerPlan(watches)
        return plan


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
        currency=get("currency"),
    )
