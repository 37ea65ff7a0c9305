"""The `seatgeek-mlb` CSV format: ../shared/data/seatgeek-mlb-2024/mlb_2024_snapshots_tidy.csv.

One row per (event, snapshot day) of SeatGeek's event stats. What this module decides:

- observed_at is the snapshot day at 17:01 UTC, when the collecting job ran;
- starts_at is the local game time in the home park's zone (the league's zone in spring);
- rows observed at or after the start are skipped, as are rows without any market data;
- placeholder listings (up to $200k) are not prices: a maximum above PLACEHOLDER_PRICE is
  dropped; an average above it, above AVG_TO_MIN times the minimum, or (rounded) below
  the minimum is dropped; a row whose minimum (get-in) price is above MAX_GET_IN is
  skipped as a placeholder-only market.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from adapters.sources.mlb_teams import SPECIAL_VENUES, SPRING_TIMEZONES, TEAMS, Team
from core.domain import EventInfo, SnapshotIn
from core.errors import ValidationError

SOURCE = "seatgeek"
OBSERVED_AT_UTC = time(17, 1)
PLACEHOLDER_PRICE = 10_000.0
MAX_GET_IN = 1_000.0
AVG_TO_MIN = 25.0
COLUMNS = (
    "event_id",
    "season_type",
    "snapshot_date",
    "event_date",
    "event_time_local",
    "home_team",
    "away_team",
    "listing_count",
    "avg_price",
    "lowest_price",
    "highest_price",
    "ticket_count",
)
_STATS = ("listing_count", "avg_price", "lowest_price", "highest_price", "ticket_count")


class Skip(Exception):
    """A row deliberately left out (not an error): the message says why."""


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def _team(slug: str, column: str) -> Team:
    team = TEAMS.get(slug)
    if team is None:
        raise ValidationError(f"{column}: unknown team slug {slug!r} (e.g. arizona-diamondbacks)")
    return team


def _date(value: str, column: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{column}: {value!r} is not a date (e.g. 2024-03-31)") from None


def _number(row: dict[str, str], column: str) -> float | None:
    text = _cell(row, column)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{column}: {text!r} is not a number (e.g. 28.0)") from None


def _count(row: dict[str, str], column: str) -> int | None:
    value = _number(row, column)
    if value is not None and not value.is_integer():
        raise ValidationError(f"{column}: {value:g} is not a whole number (e.g. 315)")
    return None if value is None else int(value)


def _event(row: dict[str, str]) -> EventInfo:
    home_slug = _cell(row, "home_team")
    home, away = _team(home_slug, "home_team"), _team(_cell(row, "away_team"), "away_team")
    day = _date(_cell(row, "event_date"), "event_date")
    spring = _cell(row, "season_type").lower() == "spring training"
    venue, city, zone = None, None, SPRING_TIMEZONES[home.spring]
    if not spring:
        venue, city, zone = SPECIAL_VENUES.get(
            (day.isoformat(), home_slug), (home.venue, home.city, home.timezone)
        )
    clock_text = _cell(row, "event_time_local")
    try:
        local = datetime.strptime(clock_text, "%I:%M %p").time()
    except ValueError:
        raise ValidationError(
            f"event_time_local: {clock_text!r} is not a time (e.g. 1:10 PM)"
        ) from None
    starts_at = datetime.combine(day, local, ZoneInfo(zone)).astimezone(UTC)
    capacity = _count(row, "stadium_capacity")
    return EventInfo(
        external_id=_cell(row, "event_id"),
        name=f"{away.nickname} at {home.nickname}",
        starts_at=starts_at,
        category="mlb",
        performers=(home.name, away.name),
        venue=venue,
        city=city,
        capacity=capacity if capacity else None,
        timezone=zone,
    )


def convert_row(row: dict[str, str]) -> SnapshotIn:
    """Turn one row of the tidy file into a snapshot.

    Raises:
        Skip: the row is deliberately left out (after the start, placeholder, no data).
        ValidationError: the row is malformed; one line naming the column.
    """
    event = _event(row)
    observed_at = datetime.combine(
        _date(_cell(row, "snapshot_date"), "snapshot_date"), OBSERVED_AT_UTC, UTC
    )
    if observed_at >= event.starts_at:
        raise Skip("observed after the start")
    if not any(_cell(row, column) for column in _STATS):
        raise Skip("no market data")
    low = _number(row, "lowest_price")
    if low is not None and low > MAX_GET_IN:
        raise Skip("placeholder listing only")
    high = _number(row, "highest_price")
    if high is not None and high > PLACEHOLDER_PRICE:
        high = None
    avg = _number(row, "avg_price")
    if avg is not None and low is not None and not low <= avg <= AVG_TO_MIN * low:
        avg = None  # inflated by placeholders, or rounded below the minimum
    if avg is not None and avg > PLACEHOLDER_PRICE:
        avg = None
    return SnapshotIn(
        source=SOURCE,
        event=event,
        observed_at=observed_at,
        currency="USD",
        min_price=low,
        avg_price=avg,
        max_price=high,
        listing_count=_count(row, "listing_count"),
        ticket_count=_count(row, "ticket_count"),
    )
