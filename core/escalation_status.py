"""The carrier delivery state machine of SMS and calls, fed by Twilio status callbacks.

pending -> sending -> queued -> sent -> delivered | failed | undelivered (calls:
queued/initiated -> ringing -> in-progress -> completed | busy | no-answer | failed |
canceled). A callback that repeats, or arrives after a later state, changes nothing; a
final state is final. `notifications.provider_status` keeps the carrier state; a final
one also settles the outbox row (delivered or failed) once the send was recorded.

The carrier can answer before the delivery worker has recorded the send (the row still
`sending`): the final state is kept, and `settle_reported` (run by the escalation
auditor) settles the row once the worker has marked it `sent`. A try the worker counts
as failed (the row back to `pending`, `core.outbox`) forgets its carrier state, and
callbacks that come while the row is pending are ignored: the retry is a new message
whose own callbacks decide the row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import AuditEntry, Notification
from core.db.statements import rowcount
from core.domain import NotificationStatus

RANK = {
    "accepted": 1, "queued": 1, "initiated": 1, "sending": 2, "ringing": 2, "sent": 3,
    "in-progress": 3, "answered": 3,
    "delivered": 9, "completed": 9, "undelivered": 9, "failed": 9, "busy": 9, "no-answer": 9,
    "canceled": 9,
}  # fmt: skip
DELIVERED = frozenset({"delivered", "completed"})
FINAL = frozenset(state for state, rank in RANK.items() if rank >= RANK["delivered"])
# How far back `settle_reported` looks (by due time): a row is sent soon after it is due.
SETTLE_WINDOW = timedelta(days=1)

logger = logging.getLogger(__name__)


def advance(current: str | None, incoming: str) -> str | None:
    """The new carrier state, or None when `incoming` is a repeat, stale or unknown."""
    new = RANK.get(incoming)
    if new is None:
        return None
    old = RANK.get(current or "", 0)
    if old >= RANK["delivered"] or new <= old:
        return None
    return incoming


async def record_status(
    session: AsyncSession,
    notification_id: int,
    sid: str,
    status: str,
    now: datetime,
    error_code: str | None = None,
) -> str | None:
    """Apply one callback; returns the state it moved to (None: ignored). Caller commits."""
    row = (
        await session.execute(
            select(Notification.id, Notification.provider_status, Notification.status,
                   Notification.receipt, Notification.alert_id, Notification.user_id,
                   Notification.channel)
            .where(Notification.id == notification_id)
            .with_for_update()
        )
    ).first()  # fmt: skip
    if row is None or row.status == NotificationStatus.PENDING.value:
        return None  # pending: between tries, so the callback is about a failed one
    receipt = row.receipt or {}
    if receipt.get("message_id") not in (None, sid):
        return None  # a callback about another message than the one recorded
    new = advance(row.provider_status, status.lower())
    if new is None:
        return None
    values: dict[str, object] = {"provider_status": new}
    final = new in FINAL
    if final and row.status == NotificationStatus.SENT.value:
        values.update(_settled(row.channel, new, error_code))
    # Not `sent` yet (the worker has not recorded the send): its outcome would overwrite
    # a settled status, so only the carrier state is kept here; `settle_reported`
    # settles the row once the worker has marked it sent.
    await session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.provider_status.is_not_distinct_from(row.provider_status),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    detail = f"{row.channel} {new}" + (f" (error {error_code})" if error_code else "")
    await session.execute(
        insert(AuditEntry).values(
            alert_id=row.alert_id, user_id=row.user_id, at=now,
            kind="receipt" if new in DELIVERED or not final else "delivery_failed",
            detail=detail, data={"notification_id": notification_id, "sid": sid, "status": new},
        )
    )  # fmt: skip
    return new


def _settled(channel: str, state: str, error_code: str | None) -> dict[str, object]:
    """The columns that settle a sent row whose carrier state `state` is final."""
    if state in DELIVERED:
        return {"status": NotificationStatus.DELIVERED.value}
    error = f"{channel} {state}" + (f" ({error_code})" if error_code else "")
    return {"status": NotificationStatus.FAILED.value, "last_error": error}


async def settle_reported(
    session: AsyncSession, now: datetime, *, window: timedelta = SETTLE_WINDOW
) -> int:
    """Settle `sent` rows whose final carrier state came before the send was recorded.

    `record_status` keeps such a state without settling the row (the delivery worker
    then marks it `sent`, and no later callback comes). The timeline already has the
    callback's entry. Runs in the caller's transaction.

    Args:
        session: the caller's session.
        now: the current time; rows due more than `window` before it are not looked at.
        window: how far back to look.

    Returns:
        How many rows were settled.
    """
    rows = await session.execute(
        select(Notification.id, Notification.channel, Notification.provider_status).where(
            Notification.status == NotificationStatus.SENT.value,
            Notification.due_at >= now - window,
            Notification.provider_status.in_(sorted(FINAL)),
        )
    )
    settled = 0
    for notification_id, channel, state in rows.all():
        result = await session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == NotificationStatus.SENT.value,
                Notification.provider_status == state,
            )
            .values(**_settled(channel, str(state), None))
            .execution_options(synchronize_session=False)
        )
        if rowcount(result):
            settled += 1
            logger.info(
                "settled notification_id=%s channel=%s as %s: carrier reported it before the "
                "send was recorded", notification_id, channel, state,
            )  # fmt: skip
    return settled
