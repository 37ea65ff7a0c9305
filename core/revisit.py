"""Waking time-snoozed alerts whose snooze has run out when no new snapshot comes.

The engine decides about an alert when a snapshot of its event arrives; a snooze that
ends while the feed is quiet (an outage, a source that polls hourly) would otherwise
wait for the next one, and "Snooze 1h" would mean "until the market moves". The wake
job finds events with such alerts and has the engine decide again from each event's
newest stored snapshot (`AlertEngine.revisit`): the alert wakes and the person hears
about it again, with the same rules as a wake on a fresh snapshot (minimum level, quiet
hours, channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Alert
from core.db.statements import bulk_insert
from core.db.tables import AUDIT_LOG
from core.domain import AlertStatus
from core.history import latest_snapshots
from core.pipeline import AlertEngine, PipelineResult

ALERTS: Table = Alert.__table__  # type: ignore[assignment]
# Events revisited in one transaction.
WAKE_BATCH = 200
NO_MARKET = "snooze over (no market data left to show)"


async def due_events(session: AsyncSession, now: datetime, limit: int = WAKE_BATCH) -> list[int]:
    """Events (at most `limit`) with an alert whose time snooze ended at or before `now`."""
    query = (
        select(ALERTS.c.event_id)
        .where(ALERTS.c.status == AlertStatus.SNOOZED.value, ALERTS.c.snoozed_until <= now)
        .group_by(ALERTS.c.event_id)
        .order_by(func.min(ALERTS.c.snoozed_until), ALERTS.c.event_id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def _wake_without_market(
    session: AsyncSession, event_ids: Sequence[int], now: datetime
) -> int:
    """Wake the due alerts of events with no snapshot left (retention removed them): they
    reopen without a message, as there is no market to show."""
    woken = list(
        await session.execute(
            update(ALERTS)
            .where(
                ALERTS.c.event_id.in_(list(event_ids)),
                ALERTS.c.status == AlertStatus.SNOOZED.value,
                ALERTS.c.snoozed_until <= now,
            )
            .values(status=AlertStatus.OPEN.value, snoozed_until=None, updated_at=now)
            .returning(ALERTS.c.id, ALERTS.c.user_id)
        )
    )
    audits = [
        {
            "alert_id": alert_id,
            "user_id": user_id,
            "at": now,
            "kind": "woke",
            "detail": NO_MARKET,
            "data": None,
        }
        for alert_id, user_id in woken
    ]
    await bulk_insert(session, AUDIT_LOG, audits)
    return len(audits)


async def wake_snoozed(
    session: AsyncSession, engine: AlertEngine, now: datetime, limit: int = WAKE_BATCH
) -> tuple[int, PipelineResult]:
    """Revisit up to `limit` events with alerts whose snooze ended; the caller commits.

    Returns the number of events looked at (fewer than `limit`: none are left) and what
    the engine did.
    """
    event_ids = await due_events(session, now, limit)
    stored = await latest_snapshots(session, event_ids)
    bare = sorted(set(event_ids) - {s.event.id for s in stored})
    if bare:
        await _wake_without_market(session, bare, now)
    return len(event_ids), await engine.revisit(session, stored, now)
