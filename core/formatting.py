"""Formatting shared by every text: money in its currency, rough durations, local times,
event labels, sparklines. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain import DEFAULT_CURRENCY, plural
from core.memo import IdentityMemo

# A message whose snapshot is older than this says how old its prices are.
STALE_MARKET = timedelta(hours=1)

__all__ = [
    "CURRENCY_SYMBOLS",
    "SPARK_BARS",
    "STALE_MARKET",
    "clip",
    "event_label",
    "event_zone",
    "humanize_delta",
    "iso",
    "local_time",
    "market_age_note",
    "money",
    "resample_last",
    "short_date",
    "sparkline",
    "zone",
]

# isoformat() texts by datetime object: a batch stamps every row (timestamp, updated_at)
# with one `now` object, and formatting an aware datetime costs ~10x this lookup. Keyed by
# identity, not equality: equal instants in other zones format differently.
_ISO: IdentityMemo[str] = IdentityMemo(256)


def iso(when: datetime) -> str:
    """`when.isoformat()`, remembered for recently formatted datetime objects."""
    text = _ISO.get(when)
    if text is None:
        text = when.isoformat()
        _ISO.put(when, text)
    return text


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the last an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


CURRENCY_SYMBOLS: Mapping[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_WHOLE_UNITS = frozenset({"JPY"})


def money(value: float, currency: str | None = "USD") -> str:
    """Format a price in `currency` (ISO 4217; None is USD): "$28", "$28.50", "$1,344",
    "€28", "£28.50", "¥3,200", "CAD 28".

    An amount that is not zero never reads as zero: "<$0.01" (and "<¥1") below the
    smallest amount shown.
    """
    prefix = CURRENCY_SYMBOLS.get(currency or DEFAULT_CURRENCY) or f"{currency} "
    if value < 0.005 or currency in _WHOLE_UNITS:
        return _rare_money(value, prefix, currency in _WHOLE_UNITS)
    return f"{prefix}{value:,.0f}" if value == int(value) else f"{prefix}{value:,.2f}"


def _rare_money(value: float, prefix: str, whole: bool) -> str:
    """`money` of a tiny, zero or negative amount, or one in a currency without cents."""
    sign, amount = ("-", -value) if value < 0 else ("", value)
    if whole:
        return f"{sign}<{prefix}1" if 0 < amount < 0.5 else f"{sign}{prefix}{amount:,.0f}"
    if 0 < amount < 0.005:
        return f"{sign}<{prefix}0.01"
    text = f"{amount:,.0f}" if amount == int(amount) else f"{amount:,.2f}"
    return f"{sign}{prefix}{text}"


def humanize_delta(seconds: float) -> str:
    """Format a duration roughly: "11 days 8 h", "3 h 20 min", "5 min", "40 s"."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{plural(days, 'day')} {hours} h" if hours else plural(days, "day")
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@lru_cache(maxsize=1024)  # a few hundred real zones; bounded against junk names
def zone(name: str | None) -> ZoneInfo:
    """The zone called `name`; UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# Every round of an event shows its start in the person's zone: few distinct pairs.
@lru_cache(maxsize=8192)
def local_time(when: datetime, tz: str | None) -> str:
    """Format `when` for a person in `tz`, e.g. "Sun 31 Mar 13:10 MST"."""
    local = when.astimezone(zone(tz))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname() or ''}".rstrip()


def event_zone(person_tz: str | None, event_tz: str | None) -> str | None:
    """The zone to show an event's start in: the person's once they have set one; until
    then (the default, UTC) the venue's, which is what the tickets say — a 7:10 PM game
    in Miami reads "Wed 16 Dec 19:10 EST", not "Thu 17 Dec 00:10 UTC"."""
    if (person_tz and person_tz != "UTC") or not event_tz:
        return person_tz
    return event_tz


def market_age_note(observed_at: datetime, now: datetime, tz: str | None) -> str | None:
    """A line for a message that shows an old market ("Prices as of ... (3 h ago): nothing
    newer came in"), or None while the data is fresh (`STALE_MARKET`)."""
    age = (now - observed_at).total_seconds()
    if age < STALE_MARKET.total_seconds():
        return None
    return (
        f"Prices as of {local_time(observed_at, tz)} ({humanize_delta(age)} ago): "
        "nothing newer came in"
    )


def short_date(when: datetime, tz: str | None) -> str:
    """The day of `when` for a person in `tz`, e.g. "Thu 10 Dec"."""
    local = when.astimezone(zone(tz))
    return f"{local:%a} {local.day} {local:%b}"


def place(venue: str | None, city: str | None) -> str:
    """Where an event is, e.g. "Chase Field, Phoenix" (either may be missing; "" if both)."""
    return ", ".join(part for part in (venue, city) if part)


def event_label(
    name: str,
    venue: str | None,
    city: str | None,
    starts_at: datetime,
    tz: str | None,
    event_tz: str | None = None,
) -> str:
    """An event told apart from others of the same name, e.g. for a list to choose from:
    "Taylor Swift — TD Garden, Boston, Wed 9 Dec 19:30 EST" (see `event_zone`)."""
    where = place(venue, city)
    when = local_time(starts_at, event_zone(tz, event_tz))
    return f"{name} — {where + ', ' if where else ''}{when}"


SPARK_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """`values` as bars, lowest "▁" to highest "█"; all "▄" when they are all equal."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high - low <= 1e-9 * max(abs(high), 1.0):
        return SPARK_BARS[3] * len(values)
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[round((v - low) / (high - low) * top)] for v in values)


def resample_last(points: Sequence[tuple[datetime, float]], buckets: int) -> list[float]:
    """The last value of each of `buckets` equal time slices of `points` (sorted by time),
    skipping empty slices: an irregular series made even enough for a sparkline."""
    if len(points) <= 1 or buckets <= 0:
        return [v for _, v in points]
    start, end = points[0][0], points[-1][0]
    span = (end - start).total_seconds()
    if span <= 0:
        return [points[-1][1]]
    last: dict[int, float] = {}
    for at, value in points:
        last[min(int((at - start).total_seconds() / span * buckets), buckets - 1)] = value
    return [last[k] for k in sorted(last)]
