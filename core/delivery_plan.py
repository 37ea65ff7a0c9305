"""When and where a round of notifications goes: the person's quiet hours and digest,
their chats by preference (every linked chat for critical), the group chat a watch was
made in, subscribed webhooks. Pure: `now` is always an argument.

- Quiet hours (the person's local time) defer everything below critical; level 1 goes
  to a digest; the watch's minimum level filters.
- Channel choice: critical -> every linked chat, otherwise the preferred chat (or the
  group chat the watch was made in), plus subscribed webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from core.domain import ChannelKind, Level
from core.formatting import local_time, zone
from core.routing import Destination

DAILY_DIGEST_AT = time(9, 0)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person as the planner sees them: where and when they may be reached."""

    user_id: int
    timezone: str = "UTC"
    quiet_start: str | None = None
    quiet_end: str | None = None
    destinations: tuple[Destination, ...] = ()
    min_level_per_channel: Mapping[str, Any] = field(default_factory=dict)
    digest_schedule: str | None = None
    escalation_overrides: Mapping[str, Any] = field(default_factory=dict)
    learned_weights: Mapping[str, Any] | None = None
    feedback_count: int = 0


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """An active webhook endpoint: the person's (user_id) or global (None)."""

    endpoint_id: int
    user_id: int | None
    event_types: frozenset[str]
    url: str


@dataclass(frozen=True, slots=True)
class Target:
    """One notification to write: where, what kind, and when it is due."""

    channel: ChannelKind
    address: str
    kind: str
    event_type: str
    due_at: datetime
    webhook_endpoint_id: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """The messages of one round, when step 0 goes out, and audit notes (kind, detail)."""

    targets: tuple[Target, ...]
    step0_at: datetime
    notes: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=1024)  # every plan reads the person's quiet hours again
def parse_hhmm(text: str | None) -> time | None:
    """Parse "HH:MM" (None when empty or malformed)."""
    if not text:
        return None
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return None


def quiet_until(
    now: datetime, tz: str | None, start: str | None, end: str | None
) -> datetime | None:
    """When the person's quiet hours end, if `now` falls inside them (else None).

    Quiet hours are local wall-clock times in `tz`, and may cross midnight (22:00-07:00).
    """
    begin, finish = parse_hhmm(start), parse_hhmm(end)
    if begin is None or finish is None or begin == finish:
        return None
    place = zone(tz)
    local = now.astimezone(place)
    clock = local.time().replace(tzinfo=None)
    day = local.date()
    if begin < finish:
        if not begin <= clock < finish:
            return None
    elif clock >= begin:
        day += timedelta(days=1)
    elif clock >= finish:
        return None
    ends = wall_instant(day, finish, place)
    if ends <= now:  # the clock reads inside the window in a repeated (fall-back) hour
        ends = datetime.combine(day, finish, tzinfo=place).replace(fold=1).astimezone(UTC)
    return ends if ends > now else None


def wall_instant(day: date, wall: time, place: ZoneInfo) -> datetime:
    """The first instant (UTC) at which clocks in `place` read `wall` or later on `day`.

    A wall time that a spring-forward skips ends where the gap ends (02:30 on that night
    in New York is 03:00 EDT, when the clock passes 02:30); one that a fall-back repeats
    is its first occurrence.
    """
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=place).astimezone(UTC)
    if first.astimezone(place).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the change (earlier),
    # fold=0 with the one before (later); the clock jumps past `wall` between the two.
    lo, hi = naive.replace(tzinfo=place, fold=1).astimezone(UTC), first
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(place).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def next_digest_at(now: datetime, tz: str | None, schedule: str | None) -> datetime:
    """When the next digest goes out: the next local hour, or daily at 09:00 (or @HH:MM)."""
    place = zone(tz)
    local = now.astimezone(place)
    if schedule and schedule.startswith("daily"):
        at = parse_hhmm(schedule.partition("@")[2]) or DAILY_DIGEST_AT
        when = wall_instant(local.date(), at, place)
        if when <= now:
            when = wall_instant(local.date() + timedelta(days=1), at, place)
        return when
    # Counted back from `now` by the clock's minutes: rebuilding "HH:00" in the zone can
    # land before an offset change that is not on the hour (Chatham's at 03:45), which
    # put the next digest in the past.
    into_hour = timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    return now - into_hour + timedelta(hours=1)


def choose_destinations(
    level: Level, person: Recipient, watch_destination: Destination | None = None
) -> list[Destination]:
    """Chat destinations for `level`: all for critical, else the preferred (or the group)."""
    if level < Level.CRITICAL and watch_destination is not None:
        return [watch_destination]
    allowed = list(allowed_chats(person.destinations, person.min_level_per_channel, level))
    if level < Level.CRITICAL:
        return allowed[:1]
    chosen = [watch_destination, *allowed] if watch_destination else allowed
    unique: list[Destination] = []
    for dest in chosen:
        if dest is not None and dest not in unique:
            unique.append(dest)
    return unique


def allowed_chats(
    chats: Sequence[Destination], limits: Mapping[str, Any], level: Level
) -> tuple[Destination, ...]:
    """The chats whose per-channel minimum level (`prefs level telegram high`) `level`
    meets; every chat when the person set none."""
    if not limits:
        return tuple(chats)
    return tuple(d for d in chats if level >= _min_level(limits.get(d.channel.value)))


def _min_level(raw: object) -> int:
    return raw if isinstance(raw, int) else 1


def webhook_targets(
    endpoints: Sequence[WebhookTarget], user_id: int, event_type: str
) -> list[WebhookTarget]:
    """Active endpoints of the person or global ones, subscribed to `event_type`."""
    return [
        e
        for e in endpoints
        if (e.user_id is None or e.user_id == user_id)
        and (event_type in e.event_types or "*" in e.event_types)
    ]


def _first_delivery(
    level: Level, person: Recipient, now: datetime, default_digest: str
) -> tuple[datetime, bool]:
    """When chat messages of `level` go out, and whether quiet hours pushed that back."""
    if level <= Level.LOW:
        due = next_digest_at(now, person.timezone, person.digest_schedule or default_digest)
        quiet = quiet_until(due, person.timezone, person.quiet_start, person.quiet_end)
        return quiet or due, quiet is not None
    if level >= Level.CRITICAL:
        return now, False
    quiet = quiet_until(now, person.timezone, person.quiet_start, person.quiet_end)
    return quiet or now, quiet is not None


def first_delivery_at(
    level: Level, person: Recipient, now: datetime, default_digest: str = "hourly"
) -> datetime:
    """When step 0 of an alert of `level` reaches the person's chats (quiet hours, digest)."""
    return _first_delivery(level, person, now, default_digest)[0]


def plan_delivery(
    level: Level,
    person: Recipient,
    event_type: str,
    now: datetime,
    *,
    endpoints: Sequence[WebhookTarget] = (),
    watch_destination: Destination | None = None,
    default_digest: str = "hourly",
) -> DeliveryPlan:
    """Where and when one alert message goes.

    Chat messages below critical wait for the end of quiet hours; level 1 goes to the
    digest (kind "digest", due at the next digest time). Webhooks go at once.
    """
    notes: list[tuple[str, str]] = []
    chats = choose_destinations(level, person, watch_destination)
    due, quiet = _first_delivery(level, person, now, default_digest)
    if level <= Level.LOW:
        kind, chat_event = "digest", "digest"
        notes.append(("digest", f"digest at {local_time(due, person.timezone)}"))
    else:
        kind, chat_event = "alert", event_type
        if quiet:
            until = local_time(due, person.timezone)
            notes.append(("deferred", f"deferred: quiet hours until {until}"))
    if not chats:
        notes.append(("undeliverable", "no chat destination"))
    targets = [Target(d.channel, d.address, kind, chat_event, due) for d in chats]
    targets += [
        Target(ChannelKind.WEBHOOK, e.url, "alert", event_type, now, e.endpoint_id)
        for e in webhook_targets(endpoints, person.user_id, event_type)
    ]
    return DeliveryPlan(tuple(targets), due, tuple(notes))
