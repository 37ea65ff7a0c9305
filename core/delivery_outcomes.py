"""Recording what happened to sends: outbox rows, the audit timeline, endpoint and
identity health, failover to the person's next chat channel, and parking.

A message whose retries are used up and that has no other chat channel to fail over to
(or is a webhook event) is not dropped while it can still matter: it is *parked* — back
to pending, tried again every retry cap (the outcome's `due_at`) until its event starts,
for at most `PARK_LIMIT` after it was queued. A platform outage longer than the retry
schedule then delays alerts instead of losing them; an alert that resolves or is
acknowledged meanwhile cancels its parked chat messages as it cancels any pending one.

`write_outcomes` runs inside one transaction per group of finished sends and keeps the
common path (a successful send) to a few bulk statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import AuditEntry, Identity, Notification, WebhookEndpoint
from core.domain import ChannelKind, DeliveryReceipt, NotificationStatus
from core.outbox import DELAYED, RowUpdate, apply_updates, receipt_json
from core.routing import Destination, destinations

# Chat channels fail over to one another; SMS/voice belong to escalation, webhooks to
# their endpoint.
CHAT_CHANNELS = frozenset(
    {ChannelKind.TELEGRAM, ChannelKind.SLACK, ChannelKind.DISCORD, ChannelKind.CONSOLE}
)
PARKED_CHANNELS = CHAT_CHANNELS | {ChannelKind.WEBHOOK}
PARK_LIMIT = timedelta(hours=24)
_MAX_KEY = 200
_MAX_CHAIN = 16
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
        when = o.due_at.isoformat() if o.due_at else "now"
        return _audit(o, "delivery_retry", f"{channel} send failed, retry at {when}: {o.error}")
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
) -> set[int]:
    """Record `outcomes` of rows claimed by `worker_id`, inside the caller's transaction.

    Sent rows get their receipt and a "sent" audit entry; failures their error and
    audit entry; webhook endpoints their failure count (disabled when the recipient is
    gone); chat identities that are gone are marked unreachable; failed and dead chat
    rows fail over to the person's next chat channel among `available_channels`; dead
    rows with nowhere to go are parked (see the module doc).

    Returns:
        The ids of the rows parked.
    """
    await apply_updates(session, worker_id, [_row_update(o) for o in outcomes])
    done = [o for o in outcomes if o.kind is not OutcomeKind.RELEASE]
    await _update_endpoints(session, done)
    follow: list[dict[str, Any]] = []
    parked: dict[int, datetime] = {}
    for o in done:
        if o.kind not in (OutcomeKind.FAILED, OutcomeKind.GONE, OutcomeKind.DEAD):
            continue
        entries, moved = await _after_failure(session, o, available_channels)
        until = None if moved else _park_until(o)
        if until is not None:
            if (o.row.payload or {}).get(DELAYED):  # parked before: said once is enough
                entries = [e for e in entries if e["kind"] != "failover"]
            await _park(session, o)
            parked[o.row.id] = until
        follow.extend(entries)
    audits = [
        _parked_audit(o, parked[o.row.id]) if o.row.id in parked else _outcome_audit(o)
        for o in done
    ]
    audits.extend(follow)
    if audits:
        await session.execute(insert(AuditEntry), audits)
    return set(parked)


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
        f"retrying at {when}, until {until.isoformat()}: {o.error}",
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
    session: AsyncSession, o: Outcome, available: Collection[str]
) -> tuple[list[dict[str, Any]], bool]:
    """Audit entries of what a failure led to, and whether the message moved to another
    chat channel (a failover row exists)."""
    row = o.row
    entries: list[dict[str, Any]] = []
    moved = False
    is_chat = row.channel in CHAT_CHANNELS
    if row.user_id is not None and is_chat:
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
