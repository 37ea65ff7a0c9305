"""What becomes of a message after a failed send: the outcome types and the follow-ups.

`core.delivery` turns each finished send into an `Outcome`; `core.delivery_outcomes`
writes a group of them in one transaction and calls the steps here:

- Quiet hours: a retried or parked chat message of a level that quiet hours hold is due
  no earlier than the end of the person's quiet hours (`core.planning.first_delivery_at`).
- Parking: a message whose retries are used up and that has no other chat channel to
  fail over to (or is a webhook event) is not dropped while it can still matter. It goes
  back to pending, tried again every retry cap (the outcome's `due_at`) until its event
  starts (as the events table has it now, so a rescheduled event moves the limit), for at
  most `PARK_LIMIT` after it was queued, so a platform outage longer than the retry
  schedule delays alerts instead of losing them; an alert that closes meanwhile cancels
  its parked chat messages as it cancels any pending one. `delivery_parked` is audited
  when a message is parked, not on each try.
- Health: webhook endpoints count consecutive failures; one whose recipient is gone is
  disabled, with all still queued for it, and a chat identity that is gone is marked
  unreachable; a group chat that is gone (the bot was removed) has its watches paused and
  their owners told (`core.group_gone`). A claimed row for an endpoint that is disabled
  or removed (queued from the engine's cached endpoint list, core.recipients) is
  cancelled unsent (`endpoint_withdrawals`), which counts as no failure.
- Failover: a failed or dead chat message moves to the person's next configured chat
  channel, skipping those its failover chain tried and those carrying the same message.
  A message that `announces_open` an alert no longer open does not fail over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Identity, Notification, User, WebhookEndpoint
from core.delivery_plan import Recipient, first_delivery_at
from core.digest import SUMMARY_KIND
from core.domain import CHAT_CHANNELS, ChannelKind, DeliveryReceipt, Level, NotificationStatus
from core.escalation_load import ESCALATION_KIND
from core.group_gone import group_gone, has_active_watches
from core.outbox import DELAYED, idempotency_key
from core.redaction import hide_credentials
from core.routing import Destination, destinations

# Chat channels fail over to one another; SMS/voice belong to escalation, webhooks to
# their endpoint.
PARKED_CHANNELS = CHAT_CHANNELS | {ChannelKind.WEBHOOK}
# Kinds of message that tell a person an alert is open and wants action (the engine's
# new-alert messages and re-notifications, escalation steps). "update" rows are the edits
# announcing a change; digests are cancelled with their alert by core.announce.
ANNOUNCING_KINDS = frozenset({"alert", ESCALATION_KIND})
# Payload mark of the one message telling that an acknowledged alert rose to critical
# (core.engine_rows): an "update" row, as delivery must not withdraw it for an alert not
# open, yet a new message that shows the alert as wanting action, not an edit.
ACKED_RISE = "acked_rise"
PARK_LIMIT = timedelta(hours=24)
_MAX_CHAIN = 16
_GAVE_UP = (
    NotificationStatus.FAILED.value,
    NotificationStatus.DEAD.value,
    NotificationStatus.CANCELLED.value,
)


class OutcomeKind(StrEnum):
    """What the send of one claimed row came to."""

    SENT = "sent"
    RETRY = "retry"  # retryable error, attempts left
    FAILED = "failed"  # permanent error
    GONE = "gone"  # the recipient no longer exists or refuses us
    DEAD = "dead"  # retryable error, attempts exhausted (`due_at`: when to retry if parked)
    RELEASE = "release"  # not sent: back to pending, no attempt counted
    CANCELLED = "cancelled"  # not sent or not retried: the alert is no longer open

    @property
    def status_label(self) -> str:
        """The `status` label of the notifications metric."""
        return NotificationStatus.FAILED.value if self is OutcomeKind.GONE else self.value


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed row. `attempts` is the row's count afterwards."""

    row: Notification
    kind: OutcomeKind
    at: datetime
    attempts: int
    receipt: DeliveryReceipt | None = None
    error: str | None = None
    due_at: datetime | None = None
    held: bool = False  # `due_at` was put back to the end of the person's quiet hours


def announces_open(row: Notification) -> bool:
    """Whether `row` tells its person that its alert is open (see core.delivery_outcomes)."""
    return (
        row.alert_id is not None
        and row.kind in ANNOUNCING_KINDS
        and row.channel != ChannelKind.WEBHOOK.value
    )


def tells_acked_rise(row: Notification) -> bool:
    """Whether `row` is the chat message telling that its acknowledged alert rose to
    critical (`ACKED_RISE`)."""
    return (
        row.alert_id is not None
        and row.channel != ChannelKind.WEBHOOK.value
        and bool((row.payload or {}).get(ACKED_RISE))
    )


def audit_entry(o: Outcome, kind: str, detail: str, **data: Any) -> dict[str, Any]:
    """An `AuditEntry` row (insert values) about `o`'s message; `data` adds to its ids."""
    base = {"notification_id": o.row.id, "channel": o.row.channel, "attempt": o.attempts}
    return {
        "alert_id": o.row.alert_id,
        "user_id": o.row.user_id,
        "at": o.at,
        "kind": kind,
        "detail": detail,
        "data": {**base, **data},
    }


async def after_quiet_hours(
    session: AsyncSession, outcomes: Sequence[Outcome]
) -> Sequence[Outcome]:
    """Retried and parked chat messages put back to the end of the person's quiet hours,
    for the levels quiet hours hold (`core.planning.first_delivery_at`)."""
    waiting = [
        o
        for o in outcomes
        if o.kind in (OutcomeKind.RETRY, OutcomeKind.DEAD)
        and o.due_at is not None
        and o.row.user_id is not None
        and o.row.level > Level.LOW  # level 1 is digested: its summary keeps its own time
        and o.row.channel in CHAT_CHANNELS
        and announces_open(o.row)
    ]
    if not waiting:
        return outcomes
    people = {
        user_id: Recipient(user_id, tz or "UTC", start, end)
        for user_id, tz, start, end in await session.execute(
            select(User.id, User.timezone, User.quiet_start, User.quiet_end).where(
                User.id.in_({o.row.user_id for o in waiting}),
                User.quiet_start.is_not(None),
                User.quiet_end.is_not(None),
            )
        )
    }
    held: dict[int, Outcome] = {}
    for o in waiting:
        person = people.get(o.row.user_id or 0)
        if person is None or o.due_at is None:
            continue
        due = first_delivery_at(Level(min(o.row.level, Level.CRITICAL)), person, o.due_at)
        if due > o.due_at:
            held[o.row.id] = replace(o, due_at=due, held=True)
    return [held.get(o.row.id, o) for o in outcomes] if held else outcomes


def quiet_note(o: Outcome) -> str:
    """What an audit line adds when `o` was held back by quiet hours."""
    return " (after the person's quiet hours)" if o.held else ""


def park_until(o: Outcome, starts_at: datetime | None) -> datetime | None:
    """Until when a dead row may wait for its channel to come back; None: not at all.

    Args:
        o: the outcome of the row's last try.
        starts_at: when the row's event starts now, from the events table: the start in
            the payload is the one when the message was written, and an event rescheduled
            since would give a parked message up too early, or keep it past the start.
            None (the event is gone): the payload's start.
    """
    row = o.row
    if o.kind is not OutcomeKind.DEAD or o.due_at is None:
        return None
    if row.alert_id is None and row.kind != SUMMARY_KIND:
        return None  # a test message; a digest (its items are gone) waits like an alert
    if row.channel not in PARKED_CHANNELS:
        return None  # SMS and calls belong to escalation, which has its own next steps
    limit = (row.created_at or o.at) + PARK_LIMIT
    starts = starts_at or _written_start(row)
    if starts is not None and starts.tzinfo is not None:
        limit = min(limit, starts)
    return limit if o.due_at < limit else None


def _written_start(row: Notification) -> datetime | None:
    """The event's start as the row's payload gives it (`data.event.starts_at`)."""
    data = (row.payload or {}).get("data")
    event = (data.get("event") if isinstance(data, dict) else None) or {}
    try:
        return datetime.fromisoformat(event["starts_at"]) if event.get("starts_at") else None
    except (TypeError, ValueError):
        return None


async def park(session: AsyncSession, o: Outcome) -> None:
    """Put `o`'s dead row back to pending, due at `o.due_at`, marked delayed once."""
    values: dict[str, Any] = {
        "status": NotificationStatus.PENDING.value,
        "due_at": o.due_at,
        "claimed_by": None,
    }
    if not (o.row.payload or {}).get(DELAYED):  # marked once: the message will say it is late
        values["payload"] = {**(o.row.payload or {}), DELAYED: o.at.isoformat()}
    await session.execute(
        update(Notification)
        .where(
            Notification.id == o.row.id,
            Notification.status == NotificationStatus.DEAD.value,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def parked_audit(o: Outcome, until: datetime) -> dict[str, Any]:
    """The `delivery_parked` audit entry of `o`, parked until `until`."""
    channel, when = o.row.channel, (o.due_at or o.at).isoformat()
    return audit_entry(
        o,
        "delivery_parked",
        f"{channel} still failing after {o.attempts} attempts and nowhere else to send: "
        f"retrying at {when}{quiet_note(o)}, until {until.isoformat()}: {o.error}",
        until=until.isoformat(),
    )


def removed_note(endpoint_id: int) -> str:
    """Why a message queued for a removed webhook endpoint is cancelled unsent."""
    return f"webhook endpoint {endpoint_id} was removed; not sent"


async def endpoint_withdrawals(
    session: AsyncSession, rows: Sequence[Notification], now: datetime
) -> list[Outcome]:
    """`cancelled` outcomes for just-claimed webhook rows whose endpoint is disabled or
    removed, with the reason as their error; call in the claim's transaction.

    The engine plans webhook rows from a cached endpoint list (core.recipients), so rows
    can be queued for an endpoint after it stopped; they are withdrawn, never sent.
    """
    ids = {row.webhook_endpoint_id for row in rows if row.webhook_endpoint_id is not None}
    if not ids:
        return []
    stopped = await session.execute(
        select(
            WebhookEndpoint.id, WebhookEndpoint.removed_at, WebhookEndpoint.disabled_reason
        ).where(
            WebhookEndpoint.id.in_(sorted(ids)),
            or_(WebhookEndpoint.active.is_(False), WebhookEndpoint.removed_at.is_not(None)),
        )
    )
    why: dict[int, str] = {}
    for endpoint_id, removed_at, reason in stopped:
        if removed_at is not None:
            why[endpoint_id] = removed_note(endpoint_id)
        else:
            said = hide_credentials(reason or "by an admin")
            why[endpoint_id] = (
                f"webhook endpoint {endpoint_id} is disabled ({said}); not sent, enable it "
                f"with `hdtickets webhooks enable {endpoint_id}`"
            )
    return [
        Outcome(row, OutcomeKind.CANCELLED, now, row.attempts, error=why[row.webhook_endpoint_id])
        for row in rows
        if row.webhook_endpoint_id in why
    ]


async def update_endpoints(session: AsyncSession, outcomes: Sequence[Outcome]) -> None:
    """Count each webhook endpoint's consecutive failures; a sent row resets them.

    A cancelled row (withdrawn unsent) is no failure of the receiver.
    """
    ok = {o.row.webhook_endpoint_id for o in outcomes if o.kind is OutcomeKind.SENT}
    ok.discard(None)
    bad = Counter(
        o.row.webhook_endpoint_id
        for o in outcomes
        if o.kind not in (OutcomeKind.SENT, OutcomeKind.CANCELLED)
        and o.row.webhook_endpoint_id is not None
    )
    sync: dict[str, Any] = {"synchronize_session": False}
    if ok:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(ok), WebhookEndpoint.consecutive_failures != 0)
            .values(consecutive_failures=0)
            .execution_options(**sync)
        )
    for endpoint_id, failures in bad.items():
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + failures)
            .execution_options(**sync)
        )


async def after_failure(
    session: AsyncSession, o: Outcome, available: Collection[str], closed: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Audit entries of what a failure led to, and whether the message moved to another
    chat channel (a failover row exists). `closed`: the status of the alert the message
    announces open, when it no longer is (then it does not fail over)."""
    row = o.row
    entries: list[dict[str, Any]] = []
    moved = False
    is_chat = row.channel in CHAT_CHANNELS
    if o.kind is OutcomeKind.GONE and is_chat:
        # Before the failover, so the message that failed still goes to its owner.
        entries.extend(await _group_gone(session, o))
    if row.user_id is not None and is_chat and closed is not None:
        entries.append(
            audit_entry(o, "failover", f"{row.channel} failed; not failing over: alert {closed}")
        )
    elif row.user_id is not None and is_chat:
        # Before marking the identity unreachable, so the failed channel keeps its place.
        entry, moved = await _fail_over(session, o, row.user_id, available)
        entries.append(entry)
    if o.kind is not OutcomeKind.GONE:
        return entries, moved
    if row.webhook_endpoint_id is not None:
        await _disable_endpoint(session, row.webhook_endpoint_id, o.error or "recipient gone")
        entries.append(audit_entry(o, "endpoint_disabled", f"webhook endpoint disabled: {o.error}"))
    elif is_chat:
        stmt = update(Identity).where(
            Identity.platform == row.channel,
            Identity.dm_address == row.address,
            Identity.unreachable_at.is_(None),
        )
        if row.user_id is not None:
            stmt = stmt.where(Identity.user_id == row.user_id)
        await session.execute(
            stmt.values(unreachable_at=o.at).execution_options(synchronize_session=False)
        )
        entries.append(audit_entry(o, "unreachable", f"{row.channel} identity marked unreachable"))
    return entries, moved


async def _group_gone(session: AsyncSession, o: Outcome) -> list[dict[str, Any]]:
    """A group chat refusing us for good: its watches pause (`core.group_gone`)."""
    row = o.row
    if not await has_active_watches(session, row.channel, row.address):
        return []
    gone = await group_gone(session, row.channel, row.address, o.at, keep_alert=row.alert_id)
    detail = (
        f"{row.channel} group {row.address} refuses the bot: paused "
        f"{gone.watches} watches, closed {gone.alerts} alerts, cancelled {gone.cancelled} "
        f"queued messages, told {gone.told} owners"
    )
    return [audit_entry(o, "group_gone", detail, watches=gone.watches)]


async def _disable_endpoint(session: AsyncSession, endpoint_id: int, reason: str) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(active=False, disabled_reason=reason[:1000])
        .execution_options(synchronize_session=False)
    )
    # Everything still queued for it would only be refused again.
    await session.execute(
        update(Notification)
        .where(
            Notification.webhook_endpoint_id == endpoint_id,
            Notification.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.CANCELLED.value, last_error="endpoint disabled")
        .execution_options(synchronize_session=False)
    )


async def _fail_over(
    session: AsyncSession, o: Outcome, user_id: int, available: Collection[str]
) -> tuple[dict[str, Any], bool]:
    """The failover's audit entry, and whether the message is on another channel now."""
    row = o.row
    target = await _next_destination(session, row, user_id, available)
    if target is None:
        return audit_entry(
            o, "failover", f"{row.channel} failed; no other chat channel to try"
        ), False
    key = idempotency_key(row.idempotency_key, "fo", target.channel.value)
    existing = await session.scalar(
        select(Notification.id).where(Notification.idempotency_key == key)
    )
    if existing is not None:
        return audit_entry(o, "failover", f"already failed over to {target.channel.value}"), True
    payload = dict(row.payload or {})
    payload["edit_of"] = None  # an earlier message on another platform cannot be edited here
    new = Notification(
        alert_id=row.alert_id,
        user_id=user_id,
        kind=row.kind,
        channel=target.channel.value,
        address=target.address,
        level=row.level,
        score=row.score,
        payload=payload,
        idempotency_key=key,
        status=NotificationStatus.PENDING.value,
        attempts=0,
        due_at=o.at,
        created_at=o.at,
        failover_of=row.id,
    )
    session.add(new)
    await session.flush()
    entry = audit_entry(
        o,
        "failover",
        f"{row.channel} failed; failing over to {target.channel.value}",
        failover_id=new.id,
        to=target.channel.value,
    )
    return entry, True


async def _next_destination(
    session: AsyncSession, row: Notification, user_id: int, available: Collection[str]
) -> Destination | None:
    """The person's next chat destination after the failed one, wrapping around.

    Skipped: channels already tried in this failover chain, channels that already carry
    this same message (critical alerts go to every chat at once), channels this process
    has not configured.
    """
    ordered = await destinations(session, user_id)
    skip = await _chain_channels(session, row) | await _message_channels(session, row)
    channels = [d.channel.value for d in ordered]
    at = channels.index(row.channel) if row.channel in channels else -1
    ring = ordered[at + 1 :] + ordered[: max(at, 0)]
    for destination in ring:
        name = destination.channel.value
        if name not in skip and name in available:
            return destination
    return None


async def _chain_channels(session: AsyncSession, row: Notification) -> set[str]:
    tried = {row.channel}
    parent = row.failover_of
    for _ in range(_MAX_CHAIN):
        if parent is None:
            break
        found = (
            await session.execute(
                select(Notification.channel, Notification.failover_of).where(
                    Notification.id == parent
                )
            )
        ).first()
        if found is None:
            break
        tried.add(found.channel)
        parent = found.failover_of
    return tried


async def _message_channels(session: AsyncSession, row: Notification) -> set[str]:
    """Channels with a live row for the same message (same alert, event type and time)."""
    if row.alert_id is None:
        return set()
    rows = await session.execute(
        select(Notification.channel, Notification.payload).where(
            Notification.alert_id == row.alert_id,
            Notification.id != row.id,
            Notification.status.not_in(_GAVE_UP),
        )
    )
    mine = row.payload or {}
    same = ("event_type", "timestamp")
    return {
        channel
        for channel, payload in rows
        if all((payload or {}).get(k) == mine.get(k) for k in same)
    }
