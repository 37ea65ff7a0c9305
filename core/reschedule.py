"""Telling people that an event they care about was rescheduled.

Ingest (`core.ingest.events.upsert_events`) calls `tell_moves` when a newer snapshot
moves an event's start by at least `MIN_MOVE`. The news goes where the alerts on the
event went (`MOVED_KIND` rows: news, not an alert to act on), each message held by quiet
hours as a normal-level alert there would be:

- a person with an active alert on the event, or one they marked bought, from their own
  watch gets one message on the chat a normal-level message of theirs would take, held
  by their quiet hours;
- a group chat (`Watch.destination_*`: `/watch` run in the group) whose watches have such
  alerts gets one message, whoever's they are, held as a group watch's alert is by its
  owner's quiet hours: it goes when the first of those owners may be told.

A person with alerts of both kinds hears in the group and in their own chat. Each
concerned alert gets an audit line. A row hangs on one of the alerts it answers but is
not that alert's message: a later change of the alert (a resolve, an ack, a new round)
does not cancel it (`core.announce.superseding`). The rows join the ingest transaction
(the outbox: a crash loses neither the move nor the message), and their idempotency key
is (person or group chat, event, old start, new start): the same move ingested twice
tells once, while a move back and forth tells each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from core.db.models import ACTIVE_ALERT_STATUSES, Alert, Watch
from core.db.statements import bulk_insert, insert_skipping_returning
from core.db.tables import AUDIT_LOG, NOTIFICATIONS
from core.delivery_plan import Recipient, Target, plan_delivery
from core.domain import AlertStatus, EventRef, Level
from core.formatting import event_zone, local_time, place
from core.outbox import idempotency_key, notice_row
from core.recipients import load_recipients
from core.render import event_dict
from core.routing import Destination, watch_destination

MIN_MOVE = timedelta(minutes=15)
EVENT_TYPE = "event.rescheduled"
AUDIT_KIND = "event_moved"
MOVED_KIND = "moved"
LEVEL = Level.NORMAL
# Where a message goes: a person's own chats (their user id) or a watch's group chat.
Where: TypeAlias = int | Destination
# Alerts whose person hears of a move: still active, or closed because they bought
# tickets (`core.alerts`: reason "bought via …"), who now hold tickets for the old time.
_CONCERNED = or_(
    Alert.status.in_(ACTIVE_ALERT_STATUSES),
    and_(Alert.status == AlertStatus.RESOLVED.value, Alert.reason.like("bought%")),
)


@dataclass(frozen=True, slots=True)
class Move:
    """An event's start moved: `event` as now stored, `was` its start before."""

    event: EventRef
    was: datetime


def is_move(was: datetime, starts_at: datetime) -> bool:
    """True when a start moved far enough (either way) to tell people."""
    return abs(ensure_utc(starts_at) - ensure_utc(was)) >= MIN_MOVE


async def tell_moves(session: AsyncSession, moves: Sequence[Move], now: datetime) -> int:
    """Queue one message per concerned chat and moved event, and audit the alerts.

    Args:
        session: the transaction that stores the moves; the caller commits.
        moves: events whose start moved by at least `MIN_MOVE`.
        now: when the messages are written (quiet hours are judged at this time).

    Returns:
        How many messages were queued (none for a move already told).
    """
    by_event = {move.event.id: move for move in moves}
    found = await session.execute(
        select(
            Alert.id,
            Alert.user_id,
            Alert.event_id,
            Watch.destination_channel,
            Watch.destination_address,
        )
        .join(Watch, Watch.id == Alert.watch_id)
        .where(Alert.event_id.in_(sorted(by_event)), _CONCERNED)
        .order_by(Alert.id)
    )
    alerts: dict[tuple[Where, int], list[tuple[int, int]]] = {}  # -> (alert id, person)
    for alert_id, user_id, event_id, channel, address in found:
        where = watch_destination(channel, address) or user_id
        alerts.setdefault((where, event_id), []).append((alert_id, user_id))
    if not alerts:
        return 0
    people = await load_recipients(
        session, {user_id for ids in alerts.values() for _, user_id in ids}
    )
    rows: list[dict[str, Any]] = []
    audits: dict[str, list[dict[str, Any]]] = {}  # by the message's key ("" : no message)
    for (where, event_id), ids in alerts.items():
        move = by_event[event_id]
        group = where if isinstance(where, Destination) else None
        plans = [
            (plan_delivery(LEVEL, person, EVENT_TYPE, now, watch_destination=group), person, a)
            for a, user_id in ids
            if (person := people.get(user_id)) is not None
        ]
        if not plans:
            continue
        # A group hears when the first of its alerts' owners may be told (ties: the oldest
        # alert), as that owner's alert would have reached it; own chats have one person.
        plan, person, alert_id = min(plans, key=lambda p: (p[0].step0_at, p[2]))
        key = _key(where, move)
        for target in plan.targets:  # the one chat of a normal-level message, if any
            rows.append(_row(alert_id, person, move, key, target, now))
        notes = [note for _, note in plan.notes]
        told = audits.setdefault(key if plan.targets else "", [])
        for _, owner, concerned in plans:
            zone = event_zone(owner.timezone, move.event.timezone)
            moved = (
                f"event moved from {local_time(move.was, zone)} "
                f"to {local_time(move.event.starts_at, zone)}"
            )
            told.append(_audit(concerned, owner.user_id, "; ".join([moved, *notes]), now))
    queued = await insert_skipping_returning(
        session, NOTIFICATIONS, ["idempotency_key"], rows, ("idempotency_key",)
    )
    told_keys = {"", *(str(row[0]) for row in queued)}
    await bulk_insert(session, AUDIT_LOG, [a for key in told_keys for a in audits.get(key, ())])
    return len(queued)


def _key(where: Where, move: Move) -> str:
    """One message per chat and move: the person's own (whatever chat it goes to), or
    the group's, whoever of its members' alerts it answers."""
    was, new = ensure_utc(move.was), ensure_utc(move.event.starts_at)
    who = (where.channel.value, where.address) if isinstance(where, Destination) else (f"u{where}",)
    times = f"{was.timestamp():.0f}>{new.timestamp():.0f}"
    return idempotency_key("moved", *who, f"e{move.event.id}", times)


def text(move: Move, person_tz: str | None) -> tuple[str, str]:
    """The message's title and body, e.g. "📅 Rockies at Diamondbacks has moved" and
    "Now Sat 6 Apr 19:10 MST (was Sun 31 Mar 13:10 MST) · Chase Field, Phoenix"."""
    event = move.event
    zone = event_zone(person_tz, event.timezone)
    where = place(event.venue, event.city)
    line = f"Now {local_time(event.starts_at, zone)} (was {local_time(move.was, zone)})"
    return f"📅 {event.name} has moved", f"{line} · {where}" if where else line


def _row(
    alert_id: int,
    person: Recipient,
    move: Move,
    key: str,
    target: Target,
    now: datetime,
) -> dict[str, Any]:
    title_text, body_text = text(move, person.timezone)
    data = {"event": event_dict(move.event), "was_starts_at": ensure_utc(move.was).isoformat()}
    return notice_row(
        kind=MOVED_KIND,
        event_type=EVENT_TYPE,
        user_id=person.user_id,
        channel=target.channel.value,
        address=target.address,
        level=int(LEVEL),
        title_text=title_text,
        body_text=body_text,
        data=data,
        key=key,
        now=now,
        due_at=target.due_at,
        alert_id=alert_id,
    )


def _audit(alert_id: int, user_id: int, detail: str, now: datetime) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "user_id": user_id,
        "at": now,
        "kind": AUDIT_KIND,
        "detail": detail,
        "data": None,
    }
