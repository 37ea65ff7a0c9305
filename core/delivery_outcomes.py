"""Recording what happened to sends: outbox rows, the audit timeline, endpoint and
identity health, failover to the person's next chat channel, and parking.

A message whose retries are used up and that has no other chat channel to fail over to
(or is a webhook event) is not dropped while it can still matter: it is *parked* — back
to pending, tried again every retry cap (the outcome's `due_at`) until its event starts,
for at most `PARK_LIMIT` after it was queued. A platform outage longer than the retry
schedule then delays alerts instead of losing them; an alert that resolves or is
acknowledged meanwhile cancels its parked chat messages as it cancels any pending one.
The `delivery_parked` audit entry is written when a message is parked, not on each try.

Messages that announce an alert as open (`announces_open`: new-alert messages and
re-notifications, escalation steps and reminders; not the in-place edits that announce a
change, nor webhook events, an ordered log of every change) are never sent, retried,
parked or failed over once the alert is acknowledged, snoozed or resolved: a claimed row
of such an alert is cancelled unsent (`withdrawals`), and a failure recorded after the
change ends the row `cancelled` (a retryable one) or without failover (a permanent one).
The alert's row is read `FOR SHARE` after the outcome is written, so an acknowledgement
committing meanwhile either sees the row already pending (and cancels it) or is seen here.
A message sent while the change was being committed was still `sending` when
`core.announce` looked for messages to edit: its edit is queued here (`announce.edit_late`).
A retried or parked chat message of a level that quiet hours hold is due no earlier than
the end of the person's quiet hours (the planner's rule, `core.planning.first_delivery_at`).

`write_outcomes` runs inside one transaction per group of finished sends and keeps the
common path (a successful send) to a few bulk statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.announce import edit_late
from core.db.models import Alert, AuditEntry, Identity, Notification, User, WebhookEndpoint
from core.domain import AlertStatus, ChannelKind, DeliveryReceipt, Level, NotificationStatus
from core.escalation_load import ESCALATION_KIND
from core.outbox import DELAYED, RowUpdate, apply_updates, receipt_json
from core.planning import Recipient, first_delivery_at
from core.routing import Destination, destinations

# Chat channels fail over to one another; SMS/voice belong to escalation, webhooks to
# their endpoint.
CHAT_CHANNELS = frozenset(
    {ChannelKind.TELEGRAM, ChannelKind.SLACK, ChannelKind.DISCORD, ChannelKind.CONSOLE}
)
PARKED_CHANNELS = CHAT_CHANNELS | {ChannelKind.WEBHOOK}
# Kinds of message that tell a person an alert is open and wants action (the engine's
# new-alert messages and re-notifications, escalation steps). "update" rows are the edits
# announcing a change; digests are cancelled with their alert by core.announce.
ANNOUNCING_KINDS = frozenset({"alert", ESCALATION_KIND})
PARK_LIMIT = timedelta(hours=24)
_MAX_KEY = 200
_MAX_CHAIN = 16
_WITHDRAWABLE = (NotificationStatus.PENDING.value, NotificationStatus.DEAD.value)
_GAVE_UP = (
    NotificationStatus.FAILED.value,
    NotificationStatus.DEAD.value,
    NotificationStatus.CANCELLED.value,
)


class OutcomeKind(StrEnum):
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


@dataclass(frozen=True, slots=True)
class Written:
    """Rows whose outcome turned out other than their kind says, by notification id."""

    parked: frozenset[int] = frozenset()
    cancelled: frozenset[int] = frozenset()


def announces_open(row: Notification) -> bool:
    """Whether `row` tells its person that its alert is open (see the module doc)."""
    return (
        row.alert_id is not None
        and row.kind in ANNOUNCING_KINDS
        and row.channel != ChannelKind.WEBHOOK.value
    )


async def closed_alerts(
    session: AsyncSession, rows: Iterable[Notification], *, lock: bool = False
) -> dict[int, str]:
    """The status of each alert announced open by `rows` that is no longer open.

    With `lock`, the alerts are read `FOR SHARE` on PostgreSQL: a state change committing
    meanwhile waits for the caller's transaction, or is waited for and seen.
    """
    ids = sorted({row.alert_id for row in rows if row.alert_id is not None and announces_open(row)})
    if not ids:
        return {}
    stmt = select(Alert.id, Alert.status).where(Alert.id.in_(ids)).order_by(Alert.id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    states = await session.execute(stmt)
    return {alert_id: status for alert_id, status in states if status != AlertStatus.OPEN.value}


async def withdrawals(
    session: AsyncSession, rows: Sequence[Notification], now: datetime
) -> list[Outcome]:
    """`cancelled` outcomes for the just-claimed `rows` whose alert is no longer open.

    A row can be pending after its alert changed although the change cancelled every
    pending message: it was being sent then, and came back (a release, a lease that
    expired). Call in the claim's transaction, after the claim.
    """
    closed = await closed_alerts(session, rows)
    return [
        _cancelled(row, now, row.attempts, closed[row.alert_id], None)
        for row in rows
        if row.alert_id in closed and announces_open(row)
    ]


def _cancelled(
    row: Notification, at: datetime, attempts: int, status: str, error: str | None
) -> Outcome:
    why = f"alert {status}" + (f"; last error: {error}" if error else "")
    return Outcome(row, OutcomeKind.CANCELLED, at, attempts, error=why)


def _row_update(o: Outcome) -> RowUpdate:
    row = o.row
    if o.kind is OutcomeKind.SENT:
        receipt = receipt_json(o.receipt) if o.receipt is not None else None
        return RowUpdate(
            row.id, NotificationStatus.SENT, o.attempts, row.due_at, None, receipt, o.at
        )
    if o.kind is OutcomeKind.RETRY:
        return RowUpdate(row.id, NotificationStatus.PENDING, o.attempts, o.due_at or o.at, o.error)
    if o.kind is OutcomeKind.RELEASE:
        return RowUpdate(
            row.id, NotificationStatus.PENDING, row.attempts, o.due_at or row.due_at, row.last_error
        )
    if o.kind is OutcomeKind.CANCELLED:
        return RowUpdate(row.id, NotificationStatus.CANCELLED, o.attempts, row.due_at, o.error)
    status = NotificationStatus.DEAD if o.kind is OutcomeKind.DEAD else NotificationStatus.FAILED
    return RowUpdate(row.id, status, o.attempts, row.due_at, o.error)


def _audit(o: Outcome, kind: str, detail: str, **data: Any) -> dict[str, Any]:
    base = {"notification_id": o.row.id, "channel": o.row.channel, "attempt": o.attempts}
    return {
        "alert_id": o.row.alert_id,
        "user_id": o.row.user_id,
        "at": o.at,
        "kind": kind,
        "detail": detail,
        "data": {**base, **data},
    }


def _outcome_audit(o: Outcome) -> dict[str, Any]:
    channel = o.row.channel
    if o.kind is OutcomeKind.SENT:
        message_id = o.receipt.message_id if o.receipt else None
        return _audit(o, "sent", f"sent via {channel}", message_id=message_id)
    if o.kind is OutcomeKind.RETRY:
        when = (o.due_at.isoformat() if o.due_at else "now") + _quiet_note(o)
        return _audit(o, "delivery_retry", f"{channel} send failed, retry at {when}: {o.error}")
    if o.kind is OutcomeKind.CANCELLED:
        return _audit(o, "delivery_cancelled", f"{channel} message withdrawn: {o.error}")
    if o.kind is OutcomeKind.DEAD:
        return _audit(o, "delivery_dead", f"{channel} gave up after {o.attempts}: {o.error}")
    if o.kind is OutcomeKind.GONE:
        return _audit(o, "recipient_gone", f"{channel} recipient gone: {o.error}")
    return _audit(o, "delivery_failed", f"{channel} permanent failure: {o.error}")


async def write_outcomes(
    session: AsyncSession,
    worker_id: str,
    outcomes: Sequence[Outcome],
    available_channels: Collection[str],
) -> Written:
    """Record `outcomes` of rows claimed by `worker_id`, inside the caller's transaction.

    Sent rows get their receipt and a "sent" audit entry; failures their error and
    audit entry; webhook endpoints their failure count (disabled when the recipient is
    gone); chat identities that are gone are marked unreachable; failed and dead chat
    rows fail over to the person's next chat channel among `available_channels`; dead
    rows with nowhere to go are parked. A message announcing an alert that is no longer
    open is neither retried, parked nor failed over, and one sent meanwhile gets its
    edit queued (see the module doc).

    Returns:
        The rows parked, and the rows cancelled because their alert is no longer open.
    """
    outcomes = await _after_quiet_hours(session, outcomes)
    # Written first: on SQLite the write takes the database's lock, so the alerts read
    # next cannot change before this transaction commits (on PostgreSQL, `FOR SHARE`).
    await apply_updates(session, worker_id, [_row_update(o) for o in outcomes])
    done = [o for o in outcomes if o.kind is not OutcomeKind.RELEASE]
    closed = await closed_alerts(
        session, (o.row for o in done if o.kind is not OutcomeKind.CANCELLED), lock=True
    )
    if closed:
        done = await _withdraw_failures(session, done, closed)
        await _edit_late_sends(session, done, closed)
    await _update_endpoints(session, done)
    follow: list[dict[str, Any]] = []
    parked: dict[int, datetime] = {}
    audits: list[dict[str, Any]] = []
    for o in done:
        if o.kind not in (OutcomeKind.FAILED, OutcomeKind.GONE, OutcomeKind.DEAD):
            audits.append(_outcome_audit(o))
            continue
        withdrawn = closed.get(o.row.alert_id or 0) if announces_open(o.row) else None
        entries, moved = await _after_failure(session, o, available_channels, withdrawn)
        until = None if moved else _park_until(o)
        if until is None:
            audits.append(_outcome_audit(o))
        else:
            await _park(session, o)
            parked[o.row.id] = until
            if not (o.row.payload or {}).get(DELAYED):  # parked before: said once is enough
                audits.append(_parked_audit(o, until))
            else:
                entries = [e for e in entries if e["kind"] != "failover"]
        follow.extend(entries)
    audits.extend(follow)
    if audits:
        await session.execute(insert(AuditEntry), audits)
    cancelled = frozenset(o.row.id for o in done if o.kind is OutcomeKind.CANCELLED)
    return Written(frozenset(parked), cancelled)


async def _withdraw_failures(
    session: AsyncSession, outcomes: list[Outcome], closed: dict[int, str]
) -> list[Outcome]:
    """Retryable failures of messages whose alert closed become `cancelled` outcomes."""
    out: list[Outcome] = []
    for o in outcomes:
        status = closed.get(o.row.alert_id or 0)
        if (
            status is None
            or o.kind not in (OutcomeKind.RETRY, OutcomeKind.DEAD)
            or not announces_open(o.row)
        ):
            out.append(o)
            continue
        withdrawn = _cancelled(o.row, o.at, o.attempts, status, o.error)
        # Written above as pending (a retry) or dead; a row another worker took over
        # meanwhile is `sending` and left alone (its own outcome will cancel it).
        await session.execute(
            update(Notification)
            .where(
                Notification.id == o.row.id,
                Notification.status.in_(_WITHDRAWABLE),
            )
            .values(status=NotificationStatus.CANCELLED.value, last_error=withdrawn.error)
            .execution_options(synchronize_session=False)
        )
        out.append(withdrawn)
    return out


async def _edit_late_sends(
    session: AsyncSession, outcomes: Sequence[Outcome], closed: dict[int, str]
) -> None:
    """Queue the edit of chat messages sent while their alert was changing."""
    sent = [
        (o.row.id, o.row.alert_id, o.row.channel, o.row.address, receipt_json(o.receipt))
        for o in outcomes
        if o.kind is OutcomeKind.SENT
        and o.receipt is not None
        and o.receipt.message_id
        and o.row.alert_id in closed
        and o.row.channel in CHAT_CHANNELS
        and announces_open(o.row)
    ]
    if sent:
        await edit_late(session, sent, max(o.at for o in outcomes))


async def _after_quiet_hours(
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


def _quiet_note(o: Outcome) -> str:
    return " (after the person's quiet hours)" if o.held else ""


def _park_until(o: Outcome) -> datetime | None:
    """Until when a dead row may wait for its channel to come back; None: not at all."""
    row = o.row
    if o.kind is not OutcomeKind.DEAD or o.due_at is None or row.alert_id is None:
        return None
    if row.channel not in PARKED_CHANNELS:
        return None  # SMS and calls belong to escalation, which has its own next steps
    limit = (row.created_at or o.at) + PARK_LIMIT
    data = (row.payload or {}).get("data")
    event = (data.get("event") if isinstance(data, dict) else None) or {}
    try:
        starts = datetime.fromisoformat(event["starts_at"]) if event.get("starts_at") else None
    except (TypeError, ValueError):
        starts = None
    if starts is not None and starts.tzinfo is not None:
        limit = min(limit, starts)
    return limit if o.due_at < limit else None


async def _park(session: AsyncSession, o: Outcome) -> None:
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


def _parked_audit(o: Outcome, until: datetime) -> dict[str, Any]:
    channel, when = o.row.channel, (o.due_at or o.at).isoformat()
    return _audit(
        o,
        "delivery_parked",
        f"{channel} still failing after {o.attempts} attempts and nowhere else to send: "
        f"retrying at {when}{_quiet_note(o)}, until {until.isoformat()}: {o.error}",
        until=until.isoformat(),
    )


async def _update_endpoints(session: AsyncSession, outcomes: Sequence[Outcome]) -> None:
    ok = {o.row.webhook_endpoint_id for o in outcomes if o.kind is OutcomeKind.SENT}
    ok.discard(None)
    bad = Counter(
        o.row.webhook_endpoint_id
        for o in outcomes
        if o.kind is not OutcomeKind.SENT and o.row.webhook_endpoint_id is not None
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


async def _after_failure(
    session: AsyncSession, o: Outcome, available: Collection[str], closed: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Audit entries of what a failure led to, and whether the message moved to another
    chat channel (a failover row exists). `closed`: the status of the alert the message
    announces open, when it no longer is (then it does not fail over)."""
    row = o.row
    entries: list[dict[str, Any]] = []
    moved = False
    is_chat = row.channel in CHAT_CHANNELS
    if row.user_id is not None and is_chat and closed is not None:
        entries.append(
            _audit(o, "failover", f"{row.channel} failed; not failing over: alert {closed}")
        )
    elif row.user_id is not None and is_chat:
        # Before marking the identity unreachable, so the failed channel keeps its place.
        entry, moved = await _fail_over(session, o, row.user_id, available)
        entries.append(entry)
    if o.kind is not OutcomeKind.GONE:
        return entries, moved
    if row.webhook_endpoint_id is not None:
        await _disable_endpoint(session, row.webhook_endpoint_id, o.error or "recipient gone")
        entries.append(_audit(o, "endpoint_disabled", f"webhook endpoint disabled: {o.error}"))
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
        entries.append(_audit(o, "unreachable", f"{row.channel} identity marked unreachable"))
    return entries, moved


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
    key = f"{row.idempotency_key}:fo:{target.channel.value}" if target else ""
    if target is None or len(key) > _MAX_KEY:
        return _audit(o, "failover", f"{row.channel} failed; no other chat channel to try"), False
    existing = await session.scalar(
        select(Notification.id).where(Notification.idempotency_key == key)
    )
    if existing is not None:
        return _audit(o, "failover", f"already failed over to {target.channel.value}"), True
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
    entry = _audit(
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
