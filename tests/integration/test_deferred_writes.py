"""Writes sent without waiting (`wait=False`, `defer_statement`) and `settle`.

On SQLite they run on the driver's thread in the order sent, inside the caller's
transaction; `settle` waits for them and raises the first failure as SQLAlchemy's own
exception. On PostgreSQL the same calls simply execute at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.announce import cancel_pending, superseding
from core.db.engine import make_engine
from core.db.models import Alert
from core.db.statements import bulk_insert, bulk_update_values, settle
from core.db.tables import NOTIFICATIONS
from tests.integration.engine_helpers import add_seed

ALERTS = cast(Table, Alert.__table__)
AT = datetime(2025, 3, 1, 12, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


def _alert(seed: Any, key: str, score: float = 0.25) -> dict[str, Any]:
    at = seed.event.starts_at
    return {
        "dedup_key": key,
        "watch_id": seed.watch.id,
        "user_id": seed.user.id,
        "event_id": seed.event.id,
        "kind": "price_below",
        "score": score,
        "level": 2,
        "factors": [],
        "status": "open",
        "opened_at": at,
        "updated_at": at,
    }


def _note(alert_id: int, channel: str, status: str, n: int) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": "alert",
        "channel": channel,
        "address": "tg-100",
        "level": 2,
        "score": 0.25,
        "payload": {"n": n},
        "idempotency_key": f"k{alert_id}-{n}",
        "status": status,
        "attempts": 0,
        "due_at": AT,
        "created_at": AT,
    }


async def test_deferred_writes_run_in_order_inside_the_transaction(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        await bulk_insert(session, ALERTS, [_alert(seed, "a"), _alert(seed, "b")], wait=False)
        # A read sent afterwards runs afterwards: it sees the rows.
        ids = dict((await session.execute(select(ALERTS.c.dedup_key, ALERTS.c.id))).all())
        assert set(ids) == {"a", "b"}
        await bulk_update_values(
            session, ALERTS, "id", ("score",), [(ids["a"], 0.9), (ids["b"], 0.1)], wait=False
        )
        await settle(session)
    async with sessions() as session:
        scores = dict((await session.execute(select(ALERTS.c.dedup_key, ALERTS.c.score))).all())
    assert scores == {"a": 0.9, "b": 0.1}


async def test_a_failed_deferred_write_raises_at_settle_and_nothing_is_kept(
    sessions: Sessions,
) -> None:
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            seed = await add_seed(session)
            await bulk_insert(session, ALERTS, [_alert(seed, "a")], wait=False)
            # Two open alerts with one dedup key break the unique index.
            await bulk_insert(
                session, ALERTS, [_alert(seed, "same"), _alert(seed, "same")], wait=False
            )
            await bulk_insert(session, ALERTS, [_alert(seed, "c")], wait=False)
            await settle(session)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ALERTS)) == 0


async def test_settle_without_deferred_writes_does_nothing(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await settle(session)
        assert await session.scalar(select(func.count()).select_from(ALERTS)) == 0


async def test_cancel_pending_without_waiting_cancels_only_pending_chat_messages(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        await bulk_insert(session, ALERTS, [_alert(seed, "a"), _alert(seed, "b")])
        ids = dict((await session.execute(select(ALERTS.c.dedup_key, ALERTS.c.id))).all())
        a, b = ids["a"], ids["b"]
        rows = [
            _note(a, "telegram", "pending", 1),
            _note(a, "telegram", "sent", 2),
            _note(a, "webhook", "pending", 3),
            _note(b, "telegram", "pending", 4),
        ]
        await bulk_insert(session, NOTIFICATIONS, rows)
        await cancel_pending(session, [a], wait=False)
        await settle(session)
    async with sessions() as session:
        found = await session.execute(
            select(NOTIFICATIONS.c.idempotency_key, NOTIFICATIONS.c.status)
        )
        statuses = dict(found.all())
    assert statuses == {
        f"k{a}-1": "cancelled",
        f"k{a}-2": "sent",
        f"k{a}-3": "pending",
        f"k{b}-4": "pending",
    }


async def test_cancel_pending_finds_rows_by_alert_on_sqlite(sqlite_url: str) -> None:
    """Not through the status indexes: the bench's outbox holds ~200,000 pending rows."""
    engine = make_engine(sqlite_url)
    try:
        sql = str(
            superseding([1, 2]).compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )
        )
        async with engine.connect() as connection:
            plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            details = " | ".join(str(row[-1]) for row in plan)
    finally:
        await engine.dispose()
    assert "ix_notifications_alert_id" in details
    assert "ix_notifications_claim" not in details and "ix_notifications_lease" not in details
