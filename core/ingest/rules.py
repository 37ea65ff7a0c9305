"""Domain rules every snapshot passes before it is stored, whatever its source.

`check_snapshot` normalises (UTC times, upper-case currency, trimmed text, empty text to
None, a "6100043.0" event id to "6100043"), fills a null min_price and counts in from the
listings, and rejects what cannot be right (negative prices or counts, min above max, an
unknown time zone, an observation from the future) with a one-line reason.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from core.clock import ensure_utc
from core.domain import UNSTORABLE, EventInfo, Listing, SnapshotIn
from core.errors import ValidationError
from core.ingest.schema import with_example
from core.memo import IdentityMemo

# Clocks of senders drift; an observation this far ahead of ours is still accepted.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PERFORMERS = 50
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# A listing's web page: people open it from alerts, so only an absolute http(s) URL (no
# javascript:, data: or ftp:) with no whitespace or control characters in it.
_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f/?#]+(?:[/?#][^\s\x00-\x1f\x7f]*)?", re.I)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.I)
# A whole number written as a float ("6100043.0"), as spreadsheets save numeric ids.
_FLOAT_WRITTEN_ID = re.compile(r"([0-9]+)\.0+")
# Column sizes of core.db.models; PostgreSQL refuses longer text, so say so up front.
_LIMITS = {
    "external_id": 128,
    "name": 300,
    "category": 64,
    "venue": 200,
    "city": 120,
    "timezone": 64,
    "performers": 200,
    "listing_id": 128,
    "section": 64,
    "row": 32,
    "url": 2000,
}
_PRICES = ("min_price", "median_price", "avg_price", "max_price")
MAX_COUNT = 2**31 - 1  # counts are 32-bit integer columns on PostgreSQL
# Times outside these years are typing or encoding mistakes (a year 999, a 0 epoch in ms).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _fail(path: str, reason: str) -> ValidationError:
    return ValidationError(with_example(path, reason))


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def is_timezone(name: str) -> bool:
    """True when `name` is an IANA time zone such as "America/Phoenix"."""
    return name in _zones()


def _text(path: str, value: object, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _fail(path, "is required")
        return None
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    text = value.strip()
    if UNSTORABLE.search(text):
        raise _fail(path, "must not hold NUL or unpaired surrogate characters")
    if not text:
        if required:
            raise _fail(path, "must not be empty")
        return None
    limit = _LIMITS.get(path.rsplit(".", 1)[-1].split("[", 1)[0], 200)
    if len(text) > limit:
        raise _fail(path, f"must be at most {limit} characters, got {len(text)}")
    return text


def _number(path: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(path, "must be a finite number")
    if number < 0:
        raise _fail(path, f"must not be negative, got {number:g}")
    return number + 0.0  # -0.0 (a "-0" cell) is 0.0: alerts would say "$-0"


def _count(path: str, value: object, *, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "must be a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise _fail(path, f"must be a whole number, got {value:g}")
    if value > MAX_COUNT:
        raise _fail(path, f"must be at most {MAX_COUNT}")
    count = int(value)
    if count < minimum:
        raise _fail(path, f"must be at least {minimum}, got {count}")
    return count


def _time(path: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise _fail(path, "must be an ISO-8601 time")
    try:  # typed sources' naive times are UTC; the wire format refuses them (schema)
        when = ensure_utc(value)
    except OverflowError:
        when = EARLIEST - timedelta(days=1)  # a time that UTC cannot hold: out of range
    if not EARLIEST <= when < LATEST:
        raise _fail(path, f"must be between {EARLIEST.year} and {LATEST.year}")
    return when


def _check_external_id(value: object) -> str:
    """Return the event id to store: trimmed text, a float-written whole number as the
    number ("6100043.0" -> "6100043", the JSON number 6100043 is "6100043" too).

    Any other id is kept as it is ("6100043.5", "A12.0"): only a spreadsheet's rewriting
    of a numeric id is undone, or one event would be stored twice and alert twice.
    """
    text = _text("event.external_id", value, required=True) or ""
    whole = _FLOAT_WRITTEN_ID.fullmatch(text)
    return whole.group(1) if whole else text


def check_source(value: object) -> str:
    """Return a valid source name (lower-case letters, digits, `_.-`, at most 64)."""
    source = _text("source", value, required=True) or ""
    source = source.lower()
    if not _SOURCE.match(source):
        raise _fail("source", "must be letters, digits, '_', '.' or '-', at most 64")
    return source


def _unchanged(checked: EventInfo, event: EventInfo) -> bool:
    """True when normalising changed nothing: every field is the very same object."""
    return (
        checked.external_id is event.external_id
        and checked.name is event.name
        and checked.starts_at is event.starts_at
        and checked.category is event.category
        and len(checked.performers) == len(event.performers)
        and all(a is b for a, b in zip(checked.performers, event.performers, strict=True))
        and checked.venue is event.venue
        and checked.city is event.city
        and checked.capacity is event.capacity
        and checked.timezone is event.timezone
    )


@lru_cache(maxsize=8192)
def check_event(event: EventInfo) -> EventInfo:
    """Return `event` normalised; raise ValidationError naming the first bad field.

    Cached: a stream of snapshots repeats the same few thousand event descriptions. An
    event that is already normal comes back as the same object.
    """
    timezone = _text("event.timezone", event.timezone)
    if timezone is not None and not is_timezone(timezone):
        raise _fail("event.timezone", f"{timezone!r} is not an IANA time zone")
    performers: list[str] = []
    for i, performer in enumerate(event.performers):
        text = _text(f"event.performers[{i}]", performer)
        if text is not None and text not in performers:
            performers.append(text)
    if len(performers) > MAX_PERFORMERS:
        raise _fail("event.performers", f"at most {MAX_PERFORMERS} performers")
    checked = EventInfo(
        external_id=_check_external_id(event.external_id),
        name=_text("event.name", event.name, required=True) or "",
        starts_at=_time("event.starts_at", event.starts_at),
        category=_text("event.category", event.category),
        performers=tuple(performers),
        venue=_text("event.venue", event.venue),
        city=_text("event.city", event.city),
        capacity=_count("event.capacity", event.capacity, minimum=1),
        timezone=timezone,
    )
    return event if _unchanged(checked, event) else checked


def _web_url(path: str, value: object) -> str | None:
    url = _text(path, value)
    if url is None or _WEB_URL.fullmatch(url):
        return url
    scheme = _SCHEME.match(url)
    if scheme is not None and scheme.group(1).lower() not in ("http", "https"):
        raise _fail(path, f"must be an http:// or https:// URL, not {scheme.group(1)}:")
    raise _fail(path, "must be an absolute http:// or https:// URL: a host, no spaces")


def _check_listing(index: int, listing: Listing) -> Listing:
    path = f"listings[{index}]"
    price = _number(f"{path}.price", listing.price)
    if price is None:
        raise _fail(f"{path}.price", "is required")
    checked = Listing(
        listing_id=_text(f"{path}.listing_id", listing.listing_id),
        price=price,
        section=_text(f"{path}.section", listing.section),
        row=_text(f"{path}.row", listing.row),
        quantity=_count(f"{path}.quantity", listing.quantity, minimum=1),
        url=_web_url(f"{path}.url", listing.url),
    )
    return listing if _unchanged_fields(listing, checked) else checked


def _check_order(prices: dict[str, float | None]) -> None:
    low, high = prices["min_price"], prices["max_price"]
    for name in _PRICES:
        value = prices[name]
        if value is None:
            continue
        if low is not None and value < low:
            raise _fail(name, f"{value:g} is below min_price {low:g}")
        if high is not None and value > high:
            raise _fail(name, f"{value:g} is above max_price {high:g}")


def _kept(before: object, after: object) -> bool:
    """True when normalising left a field as it was: the same object, or an equal value of
    the same type (and time zone); nested values (event, listings) must be the very ones."""
    if before is after:
        return True
    if type(before) is not type(after):
        return False
    if isinstance(after, tuple) and isinstance(before, tuple):
        return len(before) == len(after) and all(a is b for a, b in zip(before, after, strict=True))
    if isinstance(after, datetime) and isinstance(before, datetime):
        return before == after and before.tzinfo is after.tzinfo
    if isinstance(after, float) and isinstance(before, float) and before == after == 0.0:
        return math.copysign(1.0, before) == math.copysign(1.0, after)  # 0.0 is not -0.0
    return isinstance(after, str | int | float) and before == after


def check_snapshot(item: SnapshotIn, now: datetime) -> SnapshotIn:
    """Apply the domain rules to one snapshot and return it normalised.

    Args:
        item: a snapshot from any source.
        now: the ingest time; observations more than FUTURE_TOLERANCE later are refused.

    Raises:
        ValidationError: one line naming the field at fault, with an example.
    """
    latest = ensure_utc(now) + FUTURE_TOLERANCE
    if _normal_snapshot(item, latest):
        return _from_listings(item)
    observed_at = _time("observed_at", item.observed_at)
    if observed_at > latest:
        raise _fail(
            "observed_at",
            f"{observed_at.isoformat()} is in the future (server time {now.isoformat()})",
        )
    currency = _text("currency", item.currency)
    if currency is not None:
        currency = currency.upper()
        if not _CURRENCY.match(currency):
            raise _fail("currency", "must be a three-letter ISO 4217 code")
    prices = {name: _number(name, getattr(item, name)) for name in _PRICES}
    _check_order(prices)
    checked = SnapshotIn(
        source=check_source(item.source),
        event=check_event(item.event),
        observed_at=observed_at,
        currency=currency,
        min_price=prices["min_price"],
        median_price=prices["median_price"],
        avg_price=prices["avg_price"],
        max_price=prices["max_price"],
        listing_count=_count("listing_count", item.listing_count),
        ticket_count=_count("ticket_count", item.ticket_count),
        listings=tuple(_check_listing(i, x) for i, x in enumerate(item.listings)),
    )
    # Already-normal input (simulator, CSV import, typed feeds) comes back as itself.
    return _from_listings(item if _unchanged_fields(item, checked) else checked)


def _from_listings(item: SnapshotIn) -> SnapshotIn:
    """`item` (checked) with a null min_price taken from its cheapest listing, and then
    a null listing_count and ticket_count from its listings: a source that sends
    listings without the figures still alerts (the triggers read min_price).

    Both paths of `check_snapshot` end here, so they fill in alike. Nothing is filled in
    when the cheapest listing is above a price the source did state (the listings
    contradict its figures), and the ticket count only when every listing has a
    quantity (a partial sum would read as scarcity).
    """
    listings = item.listings
    if item.min_price is not None or not listings:
        return item
    cheapest = min(listing.price for listing in listings)
    for stated in (item.median_price, item.avg_price, item.max_price):
        if stated is not None and cheapest > stated:
            return item
    tickets = item.ticket_count
    if tickets is None:
        quantities = [listing.quantity for listing in listings]
        if None not in quantities:
            total = sum(q for q in quantities if q is not None)
            tickets = total if total <= MAX_COUNT else None
    listed = item.listing_count if item.listing_count is not None else len(listings)
    return replace(item, min_price=cheapest, ticket_count=tickets, listing_count=listed)


def _unchanged_fields(before: SnapshotIn | Listing, after: SnapshotIn | Listing) -> bool:
    """True when every field of `after` is its field of `before`, unchanged by the rules."""
    return all(_kept(getattr(before, f.name), getattr(after, f.name)) for f in fields(after))


# --- the fast path: already-normal input ----------------------------------------------
#
# Most snapshots (simulator, CSV import, typed feeds) are already normal and valid. The
# predicates below answer "would the rules above return this very object?" without
# building the normalised copy; any doubt (a wrong type, padding, a bad value) answers
# False and the full rules run, so errors and normalisation stay theirs alone.

_TEXT_LIMITS = {  # the limits `_text` applies to the snapshot and listing text fields
    name: _LIMITS.get(name, 200) for name in ("currency", "listing_id", "section", "row", "url")
}
# Events `check_event` returned unchanged, remembered by identity:
# an identity hit costs far less than hashing the event for `check_event`'s cache.
_NORMAL_EVENTS: IdentityMemo[bool] = IdentityMemo(8192)


def _plain(value: object, limit: int) -> bool:
    """True when `_text` keeps `value` as it is (None, or unpadded non-empty short text)."""
    if value is None:
        return True
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and not value[0].isspace()
        and not value[-1].isspace()
        and UNSTORABLE.search(value) is None
    )


def _plain_price(value: object) -> bool:
    """True when `_number` keeps `value` as it is (None or a finite float >= 0, not -0.0)."""
    return value is None or (
        type(value) is float
        and (0.0 < value <= _FLOAT_MAX or (value == 0.0 and math.copysign(1.0, value) > 0))
    )


_FLOAT_MAX = 1.7976931348623157e308  # sys.float_info.max: NaN and inf fail the range


def _plain_count(value: object, minimum: int) -> bool:
    """True when `_count` keeps `value` as it is (None or an int, not a bool, >= minimum)."""
    return value is None or (type(value) is int and minimum <= value <= MAX_COUNT)


@lru_cache(maxsize=256)
def _normal_source(source: str) -> bool:
    return _SOURCE.fullmatch(source) is not None


def _normal_event(event: EventInfo) -> bool:
    if _NORMAL_EVENTS.get(event):
        return True
    try:
        if check_event(event) is not event:
            return False
    except ValidationError:
        return False
    _NORMAL_EVENTS.put(event, True)
    return True


def _normal_listing(listing: Listing) -> bool:
    limits = _TEXT_LIMITS
    price = listing.price
    return (
        price is not None
        and _plain_price(price)
        and _plain(listing.listing_id, limits["listing_id"])
        and _plain(listing.section, limits["section"])
        and _plain(listing.row, limits["row"])
        and _plain_count(listing.quantity, 1)
        and _plain(listing.url, limits["url"])
        and (listing.url is None or _WEB_URL.fullmatch(listing.url) is not None)
    )


def _normal_snapshot(item: SnapshotIn, latest: datetime) -> bool:
    """True when `check_snapshot` would return `item` itself (valid and already normal)."""
    observed_at = item.observed_at
    if type(observed_at) is not datetime or observed_at.tzinfo is not UTC:
        return False
    if observed_at > latest or observed_at < EARLIEST:
        return False
    currency = item.currency
    if currency is not None and not (
        type(currency) is str and len(currency) == 3 and _CURRENCY.fullmatch(currency)
    ):
        return False
    low, median, avg, high = item.min_price, item.median_price, item.avg_price, item.max_price
    for price in (low, median, avg, high):
        if not _plain_price(price):
            return False
        if price is not None and (
            (low is not None and price < low) or (high is not None and price > high)
        ):
            return False
    source = item.source
    if type(source) is not str or not _normal_source(source):
        return False
    if not _plain_count(item.listing_count, 0) or not _plain_count(item.ticket_count, 0):
        return False
    listings = item.listings
    if type(listings) is not tuple:
        return False
    for listing in listings:
        if type(listing) is not Listing or not _normal_listing(listing):
            return False
    return _normal_event(item.event)
