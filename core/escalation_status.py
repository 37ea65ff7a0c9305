"""The carrier delivery state machine of SMS and calls, fed by Twilio status callbacks.

pending -> sending -> queued -> sent -> delivered | failed | undelivered (calls:
queued/initiated -> ringing -> in-progress -> completed | busy | no-answer | failed |
canceled). A callback that repeats, or arrives after a later state, changes nothing; a
final state is final. `notifications.provider_status` keeps the carrier state; a final
one also settles the outbox row (delivered or failed) once the send was recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import AuditEntry, Notification
from core.domain import NotificationStatus

RANK = {
    "accepted": 1, "queued": 1, "initiated": 1, "sending": 2, "ringing": 2, "sent": 3,
    "in-progress": 3, "answered": 3,
    "delivered": 9, "completed": 9, "undelivered": 9, "failed": 9, "busy": 9, "no-answer": 9,
    "canceled": 9,
}  # fmt: skip
DELIVERED = frozenset({"delivered", "completed"})


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
    if row is None:
        return None
    receipt = row.receipt or {}
    if receipt.get("message_id") not in (None, sid):
        return None  # a callback about another message than the one recorded
    new = advance(row.provider_status, status.lower())
    if new is None:
        return None
    values: dict[str, object] = {"provider_status": new}
    final = RANK[new] >= RANK["delivered"]
    if final and row.status == NotificationStatus.SENT.value:
        ok = new in DELIVERED
        values["status"] = (NotificationStatus.DELIVERED if ok else NotificationStatus.FAILED).value
        if not ok:
            values["last_error"] = f"{row.channel} {new}" + (
                f" ({error_code})" if error_code else ""
            )
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
