"""The outbox repository: claiming due notifications under a lease and recording outcomes.

Rows move pending -> sending (claimed, leased) -> sent | pending (retry, released) |
failed | dead. A worker that dies leaves its rows in `sending`; once their lease has
expired `recover_expired_leases` puts them back, so a SIGKILL loses nothing.

PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` lets several workers claim disjoint rows.
SQLite (one process, WAL): one `UPDATE ... RETURNING` claims atomically. Every write after
the claim is guarded by `claimed_by`, so a worker whose lease was taken over cannot
overwrite the new owner's outcome. Functions take a session inside a transaction; the
caller commits.

Webhook events are a log a receiver reads in order: per alert and endpoint, a row is not
due while an older row (a smaller id) of the same alert and endpoint is still pending or
being sent (`IN_ORDER`). So `alert.resolved` waits while `alert.triggered` retries, on
every backend and with any number of workers: the older row blocks by its mere status,
which every worker's claim reads, locked or not.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import IDEMPOTENCY_KEY_LENGTH, Notification
from core.db.statements import rowcount
from core.db.tables import NOTIFICATIONS
from core.domain import (
    CHAT_CHANNELS,
    Button,
    ChannelKind,
    DeliveryReceipt,
    Level,
    NotificationStatus,
    OutboundMessage,
)
from core.formatting import humanize_delta, money
from core.render import payload, price_moved, written_price

_CLAIM_ORDER = (
    Notification.level.desc(),
    Notification.score.desc(),
    Notification.due_at,
    Notification.id,
)
_WAITING = (NotificationStatus.PENDING.value, NotificationStatus.SENDING.value)
_MAX_ERROR = 1000
_OLDER = NOTIFICATIONS.alias("older")

# A row is claimable only when no older event of its alert to its webhook endpoint is
# still waiting (see the module doc). Chat rows and webhook rows without an alert are
# never held; for them the look-up is skipped.
IN_ORDER = or_(
    Notification.webhook_endpoint_id.is_(None),
    Notification.alert_id.is_(None),
    ~exists().where(
        and_(
            _OLDER.c.alert_id == Notification.alert_id,
            _OLDER.c.webhook_endpoint_id == Notification.webhook_endpoint_id,
            _OLDER.c.id < Notification.id,
            _OLDER.c.status.in_(_WAITING),
        )
    ),
)


def idempotency_key(*parts: object) -> str:
    """The outbox key of `parts` joined by ":", e.g. "digest:7:telegram:-100123:42".

    Unchanged when it fits its column (`IDEMPOTENCY_KEY_LENGTH`); a longer one (a long
    group address or webhook URL) keeps its start and ends in "#" and the SHA-256 hex
    digest of the whole key, so the same parts always give the same key (a retry or a
    restart still dedupes) and different parts different ones.
    """
    key = ":".join(str(part) for part in parts)
    if len(key) <= IDEMPOTENCY_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: IDEMPOTENCY_KEY_LENGTH - len(digest) - 1]}#{digest}"


def notice_row(
    *,
    kind: str,
    event_type: str,
    user_id: int | None,
    channel: str,
    address: str,
    level: int,
    title_text: str,
    body_text: str,
    data: dict[str, Any],
    key: str,
    now: datetime,
    due_at: datetime | None = None,
    alert_id: int | None = None,
) -> dict[str, Any]:
    """A pending outbox row (for an insert) of a plain notice to one person's chat: no
    buttons, no factors ("📅 … has moved", "I can no longer post in …", a digest); due
    `due_at`, else now."""
    return {
        "alert_id": alert_id,
        "user_id": user_id,
        "webhook_endpoint_id": None,
        "kind": kind,
        "channel": channel,
        "address": address,
        "level": level,
        "score": 0.0,
        "payload": payload(
            event_type=event_type,
            timestamp=now,
            title_text=title_text,
            body_text=body_text,
            data=data,
            fresh=True,
        ),
        "idempotency_key": key,
        "status": NotificationStatus.PENDING.value,
        "attempts": 0,
        "due_at": due_at or now,
        "created_at": now,
    }


def _claim_key(row: Notification) -> tuple[int, float, datetime, int]:
    return (-row.level, -row.score, row.due_at, row.id)


async def claim(
    session: AsyncSession, worker_id: str, now: datetime, limit: int, lease_s: float
) -> list[Notification]:
    """Claim up to `limit` due rows for `worker_id`, most urgent first.

    Due means status pending and due_at <= now, and for a webhook event no older event of
    its alert still waiting for the same endpoint (`IN_ORDER`). Order: level desc, score
    desc, due_at, id. Claimed rows become `sending` with `claimed_by = worker_id` and a
    lease until `now + lease_s`.

    Returns:
        The claimed rows, in claim order (detached-safe once the transaction commits).
    """
    if limit <= 0:
        return []
    due = (
        select(Notification.id)
        .where(
            Notification.status == NotificationStatus.PENDING.value,
            Notification.due_at <= now,
            # Digest items wait for core.digest to merge them into one summary.
            Notification.kind != "digest",
            IN_ORDER,
        )
        .order_by(*_CLAIM_ORDER)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = list((await session.execute(due.with_for_update(skip_locked=True))).scalars())
        if not ids:
            return []
        target: Any = Notification.id.in_(ids)
    else:
        target = Notification.id.in_(due.scalar_subquery())
    stmt = (
        update(Notification)
        # Re-checked so that a row another worker took meanwhile is never claimed twice.
        .where(target, Notification.status == NotificationStatus.PENDING.value)
        .values(
            status=NotificationStatus.SENDING.value,
            claimed_by=worker_id,
            lease_until=now + timedelta(seconds=lease_s),
        )
        .returning(Notification)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    rows = list((await session.scalars(stmt)).all())
    rows.sort(key=_claim_key)
    return rows


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """The new state of one claimed row; written in bulk by `apply_updates`."""

    notification_id: int
    status: NotificationStatus
    attempts: int
    due_at: datetime
    last_error: str | None = None
    receipt: dict[str, Any] | None = None
    sent_at: datetime | None = None


_APPLY = (
    update(NOTIFICATIONS)
    .where(
        NOTIFICATIONS.c.id == bindparam("b_id"),
        NOTIFICATIONS.c.claimed_by == bindparam("b_worker"),
        NOTIFICATIONS.c.status == NotificationStatus.SENDING.value,
    )
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        due_at=bindparam("b_due_at", type_=NOTIFICATIONS.c.due_at.type),
        last_error=bindparam("b_error"),
        receipt=bindparam("b_receipt", type_=NOTIFICATIONS.c.receipt.type),
        sent_at=bindparam("b_sent_at", type_=NOTIFICATIONS.c.sent_at.type),
        lease_until=None,
        # Terminal rows keep who sent them; rows going back to pending are unclaimed.
        claimed_by=bindparam("b_claimed_by"),
        # A row going back to pending forgets the carrier state of the failed try: the
        # retry is a new message whose callbacks must not read as stale (`record_status`).
        provider_status=case(
            (bindparam("b_status") == NotificationStatus.PENDING.value, null()),
            else_=NOTIFICATIONS.c.provider_status,
        ),
    )
)


async def apply_updates(
    session: AsyncSession, worker_id: str, updates: Sequence[RowUpdate]
) -> None:
    """Write the outcome of many claimed rows in one statement (executemany).

    A row no longer claimed by `worker_id` (its lease expired and another worker took
    it) is left alone.
    """
    if not updates:
        return
    params = [
        {
            "b_id": u.notification_id,
            "b_worker": worker_id,
            "b_status": u.status.value,
            "b_attempts": u.attempts,
            "b_due_at": u.due_at,
            "b_error": u.last_error[:_MAX_ERROR] if u.last_error else u.last_error,
            "b_receipt": u.receipt,
            "b_sent_at": u.sent_at,
            "b_claimed_by": None if u.status is NotificationStatus.PENDING else worker_id,
        }
        for u in updates
    ]
    await session.execute(_APPLY, params)


def receipt_json(receipt: DeliveryReceipt) -> dict[str, Any]:
    """A receipt as stored in notifications.receipt."""
    return {
        "channel": receipt.channel.value,
        "address": receipt.address,
        "message_id": receipt.message_id,
        "detail": receipt.detail,
    }


async def mark_sent(
    session: AsyncSession,
    row: Notification,
    *,
    worker_id: str,
    receipt: DeliveryReceipt,
    now: datetime,
) -> None:
    """Record a successful send: status sent, the receipt, sent_at; attempts + 1."""
    update_ = RowUpdate(
        row.id,
        NotificationStatus.SENT,
        row.attempts + 1,
        row.due_at,
        None,
        receipt_json(receipt),
        now,
    )
    await apply_updates(session, worker_id, [update_])


async def schedule_retry(
    session: AsyncSession,
    row: Notification,
    *,
    worker_id: str,
    due_at: datetime,
    error: str,
    count_attempt: bool = True,
) -> None:
    """Put a row back to pending until `due_at`, counting the failed attempt."""
    attempts = row.attempts + (1 if count_attempt else 0)
    update_ = RowUpdate(row.id, NotificationStatus.PENDING, attempts, due_at, error)
    await apply_updates(session, worker_id, [update_])


async def mark_failed(
    session: AsyncSession, row: Notification, *, worker_id: str, error: str
) -> None:
    """A permanent failure: status failed, never retried."""
    update_ = RowUpdate(row.id, NotificationStatus.FAILED, row.attempts + 1, row.due_at, error)
    await apply_updates(session, worker_id, [update_])


async def mark_dead(
    session: AsyncSession, row: Notification, *, worker_id: str, error: str
) -> None:
    """Retries exhausted: status dead."""
    update_ = RowUpdate(row.id, NotificationStatus.DEAD, row.attempts + 1, row.due_at, error)
    await apply_updates(session, worker_id, [update_])


async def release(
    session: AsyncSession,
    rows: Sequence[Notification],
    *,
    worker_id: str,
    due_at: datetime | None = None,
) -> None:
    """Give claimed rows back unsent (shutdown, rate limit): pending, lease cleared.

    No attempt is counted. `due_at`, when given, defers the rows until then.
    """
    updates = [
        RowUpdate(
            row.id, NotificationStatus.PENDING, row.attempts, due_at or row.due_at, row.last_error
        )
        for row in rows
    ]
    await apply_updates(session, worker_id, updates)


async def recover_expired_leases(session: AsyncSession, now: datetime) -> int:
    """Put rows whose lease expired (their worker died) back to pending.

    Returns:
        How many rows were recovered.
    """
    result = await session.execute(
        update(NOTIFICATIONS)
        .where(
            NOTIFICATIONS.c.status == NotificationStatus.SENDING.value,
            NOTIFICATIONS.c.lease_until < now,
        )
        .values(
            status=NotificationStatus.PENDING.value,
            claimed_by=None,
            lease_until=None,
            provider_status=None,
        )
    )
    return rowcount(result)


async def extend_leases(
    session: AsyncSession, worker_id: str, ids: Sequence[int], until: datetime
) -> int:
    """Hold the claim of `worker_id` on the rows `ids` still being sent until `until` (a
    batch that takes longer than one lease: slow receivers, rate-limit waits)."""
    if not ids:
        return 0
    result = await session.execute(
        update(NOTIFICATIONS)
        .where(
            NOTIFICATIONS.c.id.in_(list(ids)),
            NOTIFICATIONS.c.status == NotificationStatus.SENDING.value,
            NOTIFICATIONS.c.claimed_by == worker_id,
        )
        .values(lease_until=until)
    )
    return rowcount(result)


async def queue_depth(session: AsyncSession) -> int:
    """Rows waiting to be sent: pending or being sent."""
    total = await session.scalar(select(func.count()).where(NOTIFICATIONS.c.status.in_(_WAITING)))
    return int(total or 0)


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest due_at among pending rows, or None when nothing is pending.

    Webhook events held behind an older one of their alert (`IN_ORDER`) do not count: they
    fall due when that one is sent, and a worker polling for them meanwhile would spin.
    """
    return await session.scalar(
        select(func.min(Notification.due_at)).where(
            Notification.status == NotificationStatus.PENDING.value, IN_ORDER
        )
    )


DELAYED = "delayed_since"  # payload key set when a row is parked (core.delivery_lifecycle)


# A chat alert planned this long after it was written waited for the person's quiet hours.
HELD_AFTER = timedelta(minutes=10)
# A chat alert sent this long after it was written says so, and what its price is now.
STALE_AFTER = timedelta(minutes=15)


def late_note(row: Notification, now: datetime, price_now: float | None = None) -> str | None:
    """The first body line of a chat message sent well after it was written: why it is
    late, and the alert's price now beside the one it quotes, so nobody acts on a price
    from hours ago.

    A parked message (`DELAYED`) names the channel that could not be reached; an alert
    message planned for later (quiet hours) says it was held; any other alert message
    sent `STALE_AFTER` or more after it was written says how long ago that was.
    `price_now` is the alert's current price (None: unknown).
    """
    payload = row.payload or {}
    if row.channel == ChannelKind.WEBHOOK or row.created_at is None:
        return None
    late = now - row.created_at
    ago = humanize_delta(late.total_seconds())
    if payload.get(DELAYED):
        why = f"⏳ Sent {ago} late: {row.channel} could not be reached."
    elif row.kind != "alert" or row.channel not in CHAT_CHANNELS or late < STALE_AFTER:
        return None
    elif row.attempts == 0 and row.due_at - row.created_at >= HELD_AFTER:
        why = f"🌙 Held {ago} for your quiet hours."
    else:
        why = f"⏳ Written {ago} ago."
    return f"{why} {_price_then_and_now(payload, price_now)}"


def _price_then_and_now(payload: dict[str, Any], price_now: float | None) -> str:
    then, currency = written_price(payload)
    if price_now is None or then is None:
        return "Prices may have moved."
    if not price_moved(then, price_now):
        return f"The price is still {money(price_now, currency)}."
    return f"The price is now {money(price_now, currency)} (it was {money(then, currency)})."


def to_outbound(
    row: Notification, now: datetime | None = None, price_now: float | None = None
) -> OutboundMessage:
    """Build the neutral message for a row from its columns and payload.

    The payload is passed on as stored, plus `webhook_endpoint_id` for webhook rows. A
    chat message sent late starts with `late_note` when `now` is given (`price_now`: the
    alert's price now, if known).

    Raises:
        ValueError: when the row's channel or payload cannot be understood.
    """
    payload = dict(row.payload or {})
    note = late_note(row, now, price_now) if now is not None else None
    if row.webhook_endpoint_id is not None:
        # The webhook channel signs with this endpoint's secrets.
        payload["webhook_endpoint_id"] = row.webhook_endpoint_id
    buttons = tuple(
        Button(label=str(b["label"]), token=b.get("token"), url=b.get("url"))
        for b in payload.get("buttons") or ()
        if isinstance(b, dict) and b.get("label")
    )
    edit = payload.get("edit_of")
    edit_of = None
    if isinstance(edit, dict) and edit.get("channel"):
        edit_of = DeliveryReceipt(
            channel=ChannelKind(edit["channel"]),
            address=str(edit.get("address") or row.address),
            message_id=edit.get("message_id"),
            detail=edit.get("detail"),
        )
    return OutboundMessage(
        notification_id=row.id,
        idempotency_key=row.idempotency_key,
        channel=ChannelKind(row.channel),
        address=row.address,
        level=Level(min(5, max(1, row.level))),
        title=str(payload.get("title") or ""),
        body="\n".join(filter(None, (note, str(payload.get("body") or "")))),
        payload=payload,
        buttons=buttons,
        edit_of=edit_of,
    )


class OutboxSignal:
    """Wakes delivery workers as soon as new rows are committed (a thin asyncio.Event).

    Ingest calls `notify()` after committing notifications; idle workers `wait()`.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiting worker (and the next one to wait)."""
        self._event.set()

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (the API)
        """Wait for a notification, at most `timeout` seconds (None: no limit).

        Returns:
            True when notified, False on timeout. A notification is consumed by waking.
        """
        try:
            async with asyncio.timeout(None if timeout is None else max(0.0, timeout)):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True
