"""State changes of an alert, shared by every channel, the CLI, the API and the engine.

Each change (acknowledge, snooze, snooze until cheaper, mute, bought, resolve) checks
ownership, refuses a no-op with a one-line reason, bumps the alert's fence (so stale
escalation timers become no-ops), then `core.announce` cancels its pending chat
messages, edits every earlier message in place, tells subscribed webhooks and writes an
audit entry. Functions run in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.alert_payload import AnnouncedAlert
from core.announce import announce
from core.announce_rows import Change
from core.db.models import ACTIVE_ALERT_STATUSES, Alert, Event, User, Watch
from core.delivery_plan import WebhookTarget
from core.domain import EVENT_STARTED, ActionKind, AlertStatus
from core.errors import AlreadyDone, NotFoundError, ValidationError
from core.formatting import clip, local_time, money
from core.history import event_currencies

DEFAULT_SNOOZE = timedelta(hours=1)
CHEAPER_FACTOR = 0.95


MAX_SHOWN_REASON = 120  # an admin's resolve reason may be long; a refusal stays one line


def _already(alert: Alert) -> AlreadyDone:
    reason = clip(alert.reason, MAX_SHOWN_REASON) if alert.reason else None
    why = f" ({reason})" if alert.status == AlertStatus.RESOLVED and reason else ""
    return AlreadyDone(f"alert {alert.id} is already {alert.status}{why}")


def _ack(alert: Alert, via: str, now: datetime) -> Change:
    if alert.status not in ACTIVE_ALERT_STATUSES or alert.status == AlertStatus.ACKNOWLEDGED:
        raise _already(alert)
    alert.status = AlertStatus.ACKNOWLEDGED.value
    alert.acknowledged_at = now
    alert.acked_via = via
    alert.snoozed_until = None
    alert.snooze_below = None
    return Change(
        alert,
        "alert.acknowledged",
        "acknowledged",
        f"acknowledged via {via}",
        f"Acknowledged via {via}",
    )


def _snooze(
    alert: Alert,
    action: ActionKind,
    via: str,
    now: datetime,
    until: datetime | None,
    below: float | None,
    zone: str | None,
    starts: datetime | None = None,
    currency: str | None = None,
) -> Change:
    if alert.status not in ACTIVE_ALERT_STATUSES:
        raise _already(alert)
    cheaper = action is ActionKind.SNOOZE_CHEAPER or (below is not None and until is None)
    if alert.status == AlertStatus.ACKNOWLEDGED and not cheaper:
        # A time snooze would re-open it later (a stale Snooze button pressed after Ack).
        raise AlreadyDone(f"alert {alert.id} is already acknowledged and sends no reminders")
    if cheaper:
        if below is None:
            if alert.price is None:
                raise ValidationError(
                    f"alert {alert.id} has no price to undercut; "
                    f"give one, e.g. snooze {alert.id} under 40"
                )
            below = round(alert.price * CHEAPER_FACTOR, 2)
        if below <= 0 or (alert.price is not None and below >= alert.price):
            example = round((alert.price or 50) * 0.9)
            raise ValidationError(
                f"{money(below, currency)} is not under the current price "
                f"{money(alert.price or 0, currency)}; "
                f"e.g. snooze {alert.id} under {example}"
            )
        if alert.status == AlertStatus.SNOOZED and alert.snooze_below == below:
            raise AlreadyDone(
                f"alert {alert.id} is already snoozed until under {money(below, currency)}"
            )
        alert.snooze_below, alert.snoozed_until = below, None
        note = f"Snoozed until the price is under {money(below, currency)}"
    else:
        until = until or now + DEFAULT_SNOOZE
        if until <= now:
            raise ValidationError(f"a snooze must end in the future, e.g. snooze {alert.id} 2h")
        at_start = starts is not None and until >= starts
        if starts is not None and at_start:
            # The alert resolves when the event starts: a longer snooze would end in the
            # void, so it stops at the start (and the reply says so).
            if starts <= now:
                raise ValidationError(
                    f"the event of alert {alert.id} has already started; "
                    f"nothing to snooze, e.g. mute {alert.id}"
                )
            until = starts
        if alert.status == AlertStatus.SNOOZED and alert.snoozed_until == until:
            raise AlreadyDone(
                f"alert {alert.id} is already snoozed until {local_time(until, zone)}"
            )
        alert.snoozed_until, alert.snooze_below = until, None
        note = f"Snoozed until {local_time(until, zone)}"
        if at_start:
            note += " (the event starts then)"
    alert.status = AlertStatus.SNOOZED.value
    return Change(alert, "alert.updated", "snoozed", f"{note.lower()} via {via}", note)


async def _close(
    session: AsyncSession, alert: Alert, action: ActionKind, via: str, now: datetime
) -> Change:
    """Mute or bought: close the alert and stop the watch alerting on this event."""
    watch = await session.get(Watch, alert.watch_id, with_for_update=True)
    changed_watch = False
    if watch is not None:
        if watch.event_id == alert.event_id:
            changed_watch = watch.active
            watch.active = False
        else:
            muted = [int(e) for e in watch.muted_event_ids or ()]
            if alert.event_id not in muted:
                watch.muted_event_ids = [*muted, alert.event_id]
                changed_watch = True
    word = "muted" if action is ActionKind.MUTE else "bought"
    # The watch's other alerts about this event (another trigger kind) end with it.
    await resolve_for_watch(
        session, alert.watch_id, f"{word} via {via}", now, event_id=alert.event_id, keep=alert.id
    )
    if alert.status in ACTIVE_ALERT_STATUSES:
        alert.status = AlertStatus.RESOLVED.value
        alert.resolved_at = now
        alert.reason = f"{word} via {via}"
    elif not changed_watch:
        raise _already(alert)
    note = "Muted: no more alerts about this event" if word == "muted" else "Bought — enjoy!"
    return Change(alert, "alert.resolved", word, f"{word} via {via}", note)


async def apply_action(
    session: AsyncSession,
    alert_id: int,
    action: ActionKind,
    *,
    user_id: int,
    via: str,
    now: datetime,
    snooze_until: datetime | None = None,
    snooze_below: float | None = None,
    siblings: list[Alert] | None = None,
) -> Alert:
    """Apply one person's action to one alert, in the caller's transaction.

    Args:
        session: a session inside a transaction; the caller commits.
        alert_id: the alert acted on.
        action: ack, snooze, snooze_cheaper, mute or bought.
        user_id: who acts; the alert must be theirs.
        via: where the action came from ("telegram", "api", "cli", ...).
        now: the current time.
        snooze_until: for snooze; one hour from now when None. A snooze never runs past
            the event's start (the alert resolves then): it is cut to end at the start.
        snooze_below: for snooze_cheaper (or snooze with a price); 5% under the
            alert's price when None.
        siblings: if given, the person's other alerts the action also changed are
            appended to it.

    Returns:
        The updated alert.

    Raises:
        NotFoundError: no such alert, or not this person's.
        ValidationError: the action is a no-op or does not apply (one line, with an example).

    A mute or bought on a watch that follows many events mutes just this event; on a
    watch of this one event it pauses the watch. The in-memory watch index heals itself
    from the row the next time that watch matches.

    Ack, a time snooze, mute and bought also apply to the person's other active alerts
    about the same event (another watch or trigger): one message tells of them all
    (`core.engine_decide.merge_rounds`), so one answer covers them all. A snooze until
    cheaper stays with its alert, whose price it names.
    """
    alert = await _locked(session, alert_id)
    if alert is None or alert.user_id != user_id:
        raise NotFoundError(f"alert {alert_id} not found; type alerts to see yours")
    kind = ActionKind(action)
    if kind is ActionKind.ACK:
        change = _ack(alert, via, now)
    elif kind in (ActionKind.SNOOZE, ActionKind.SNOOZE_CHEAPER):
        zone = await session.scalar(select(User.timezone).where(User.id == alert.user_id))
        starts = await session.scalar(select(Event.starts_at).where(Event.id == alert.event_id))
        currency = None
        if kind is ActionKind.SNOOZE_CHEAPER or snooze_below is not None:  # it names prices
            currency = (await event_currencies(session, [alert.event_id])).get(alert.event_id)
        change = _snooze(alert, kind, via, now, snooze_until, snooze_below, zone, starts, currency)
    elif kind in (ActionKind.MUTE, ActionKind.BOUGHT):
        change = await _close(session, alert, kind, via, now)
    else:
        raise ValidationError(f"{kind.value} does not apply to an alert; e.g. ack {alert_id}")
    changes, touched = [change], [alert]
    if kind is not ActionKind.SNOOZE_CHEAPER:  # a price floor is the alert's own
        for other in await _siblings(session, alert):
            follow = await _follow(session, other, alert, kind, via, now)
            if follow is not None:
                changes.append(follow)
                touched.append(other)
    for row in touched:
        row.fence += 1
        row.updated_at = now
        row.next_step_at = None
    if siblings is not None:
        siblings.extend(touched[1:])
    await announce(session, changes, now, None)
    return alert


async def _locked(session: AsyncSession, alert_id: int) -> Alert | None:
    """Alert `alert_id` read afresh, locked together with its person's other active alerts
    about its event, in id order: two actions on two of them at once (ack #12 and #13,
    which follow each other) take the locks in the same order instead of each holding
    one and waiting for the other (a deadlock on PostgreSQL)."""
    where = await session.execute(select(Alert.user_id, Alert.event_id).where(Alert.id == alert_id))
    found = where.first()
    if found is None:
        return None
    user_id, event_id = found
    await session.execute(
        select(Alert.id)
        .where(
            Alert.user_id == user_id,
            Alert.event_id == event_id,
            Alert.status.in_(ACTIVE_ALERT_STATUSES) | (Alert.id == alert_id),
        )
        .order_by(Alert.id)
        .with_for_update()
    )
    return await session.get(Alert, alert_id, populate_existing=True)


async def _siblings(session: AsyncSession, alert: Alert) -> list[Alert]:
    """The person's other active alerts about the alert's event (locked, oldest first)."""
    stmt = (
        select(Alert)
        .where(
            Alert.user_id == alert.user_id,
            Alert.event_id == alert.event_id,
            Alert.status.in_(ACTIVE_ALERT_STATUSES),
            Alert.id != alert.id,
        )
        .order_by(Alert.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def _follow(
    session: AsyncSession, other: Alert, alert: Alert, kind: ActionKind, via: str, now: datetime
) -> Change | None:
    """The same answer for a sibling alert (one message tells of all of a person's alerts
    about an event, `merge_rounds`), or None where it changes nothing (already acknowledged,
    say). Its audit entry names the alert the person answered."""
    try:
        if kind is ActionKind.ACK:
            change = _ack(other, via, now)
        elif kind is ActionKind.SNOOZE:
            if other.status == AlertStatus.ACKNOWLEDGED:
                return None  # quiet already; a time snooze would re-open it later
            zone = await session.scalar(select(User.timezone).where(User.id == other.user_id))
            change = _snooze(other, kind, via, now, alert.snoozed_until, None, zone)
        else:
            change = await _close(session, other, kind, via, now)
    except (AlreadyDone, ValidationError):
        return None
    detail = f"{change.detail}, with alert #{alert.id} (same event)"
    return replace(change, detail=detail, follows=alert.id)


async def resolve_many(
    session: AsyncSession,
    items: Sequence[tuple[Alert, str]],
    now: datetime,
    *,
    endpoints: Sequence[WebhookTarget] | None = None,
    links: Mapping[int, Mapping[str, str]] | None = None,
) -> int:
    """Resolve active alerts with their reasons; returns the notifications queued.

    Every alert gets status resolved, its reason, a bumped fence and no next step; its
    pending chat messages are cancelled, earlier messages edited ("alert.resolved") and
    subscribed webhooks told.
    """
    for alert, reason in items:
        mark_resolved(alert, reason, now)
    changes = [resolved_change(alert, reason) for alert, reason in items]
    return await announce(session, changes, now, endpoints, links)


class Resolvable(Protocol):
    """What resolving sets: an `Alert` row or the engine's `ActiveAlert`."""

    status: str
    resolved_at: datetime | None
    updated_at: datetime
    reason: str | None
    next_step_at: datetime | None
    fence: int


def snoozed_until(
    alert: Alert, name: str, event: Event | None, zone: str | None
) -> tuple[str, bool]:
    """ "Snoozed alert #12 (Rockies at Diamondbacks) until Mon 30 Nov 01:27 UTC", in `zone`,
    and whether `apply_action` cut the snooze at the event's start (each channel says that
    its own way). The alert must be snoozed until a time."""
    assert alert.snoozed_until is not None
    until = local_time(alert.snoozed_until, zone)
    cut = event is not None and alert.snoozed_until >= event.starts_at
    return f"Snoozed alert #{alert.id} ({name}) until {until}", cut


def mark_resolved(alert: Resolvable, reason: str, now: datetime) -> None:
    """Give `alert` its resolved state: status, time, reason, no next step, a new fence
    (so an escalation step still in flight is stale)."""
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = alert.updated_at = now
    alert.reason = reason
    alert.next_step_at = None
    alert.fence += 1


def resolved_change(alert: AnnouncedAlert, reason: str) -> Change:
    """What `announce` tells people about an alert that resolved itself."""
    return Change(alert, "alert.resolved", "resolved", reason, f"Resolved: {reason}")


async def resolve(session: AsyncSession, alert: Alert, reason: str, now: datetime) -> None:
    """Resolve one active alert (see `resolve_many`).

    Raises:
        ValidationError: the alert is no longer active ("alert 12 is already resolved").
    """
    if alert.status not in ACTIVE_ALERT_STATUSES:
        raise _already(alert)
    await resolve_many(session, [(alert, reason)], now)


async def resolve_for_watch(
    session: AsyncSession,
    watch_id: int,
    reason: str,
    now: datetime,
    *,
    event_id: int | None = None,
    keep: int | None = None,
) -> int:
    """Resolve the active alerts of a watch that was removed, paused or changed (only those
    of `event_id` when given, never alert `keep`); returns how many.

    The engine would resolve them at the event's next snapshot, but until then they stayed
    open and kept escalating (SMS, calls, emergency contacts) about something the person
    no longer watches.
    """
    stmt = active_of_watch(watch_id)
    if event_id is not None:
        stmt = stmt.where(Alert.event_id == event_id)
    if keep is not None:
        stmt = stmt.where(Alert.id != keep)
    alerts = list((await session.execute(stmt)).scalars())
    if alerts:
        await resolve_many(session, [(alert, reason) for alert in alerts], now)
    return len(alerts)


def active_of_watch(watch_id: int) -> Select[Alert]:
    """The watch's active alerts, locked for the resolve that follows."""
    return (
        select(Alert)
        .where(Alert.watch_id == watch_id, Alert.status.in_(ACTIVE_ALERT_STATUSES))
        .with_for_update()
    )


STARTED_BATCH = 500


async def resolve_started(session: AsyncSession, now: datetime) -> int:
    """Resolve active alerts whose event has started (at most `STARTED_BATCH` per call).

    The engine resolves such an alert when a snapshot arrives after the start, but feeds
    stop reporting an event once it begins; without this, alerts stayed open, listed and
    escalating (SMS, calls, emergency contacts) about a game already under way. As any
    resolve: pending chat messages cancelled, earlier ones edited, webhooks told, a
    "resolved" audit entry (an ending, for per-person learning).

    Returns:
        How many alerts were resolved.
    """
    query = (
        select(Alert)
        .join(Event, Event.id == Alert.event_id)
        .where(Alert.status.in_(ACTIVE_ALERT_STATUSES), Event.starts_at <= now)
        .order_by(Alert.id)
        .limit(STARTED_BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Alert, skip_locked=True)  # the engine holds some
    alerts = list((await session.execute(query)).scalars())
    await resolve_many(session, [(alert, EVENT_STARTED) for alert in alerts], now)
    return len(alerts)
