"""`insert_skipping_returning`, the snapshot insert of ingest: what it stores and returns
is what SQLAlchemy's own INSERT … ON CONFLICT DO NOTHING RETURNING gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import Event, MarketSnapshot
from core.db.statements import insert_skipping_returning

SNAPSHOTS: Table = MarketSnapshot.__table__  # type: ignore[assignment]
T0 = datetime(2024, 3, 20, 17, 0, tzinfo=UTC)
UNIQUE = ("event_id", "source", "observed_at")
RETURNING = ("id", "event_id", "observed_at")


def _row(event_id: int, minute: int, source: str = "sim") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": source,
        "observed_at": T0 + timedelta(minutes=minute, microseconds=7),
        "currency": "USD",
        "min_price": 10.0 + minute,
        "median_price": None,
        "avg_price": 20.5,
        "max_price": 99.0,
        "listing_count": minute,
        "ticket_count": None,
        "ingested_at": T0 + timedelta(hours=1),
    }


async def _events(session: AsyncSession, count: int) -> list[int]:
    rows = [
        {"source": "sim", "external_id": f"e{i}", "name": f"Game {i}", "starts_at": T0}
        for i in range(count)
    ]
    await session.execute(insert(Event), rows)
    return list((await session.execute(select(Event.id).order_by(Event.id))).scalars())


def _stored(row: Any) -> tuple[Any, ...]:
    return tuple(row[name] for name in _row(0, 0) if name != "event_id")


async def test_returns_inserted_rows_skips_conflicts_and_stores_what_sqlalchemy_stores(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        first, second = await _events(session, 2)
        await session.execute(insert(SNAPSHOTS), [_row(second, 1)])  # SQLAlchemy's own path
        returned = await insert_skipping_returning(
            session, SNAPSHOTS, UNIQUE, [_row(first, 1), _row(first, 2), _row(second, 1)], RETURNING
        )
        stored = {row.id: row._mapping for row in await session.execute(select(SNAPSHOTS))}
    got = sorted((event_id, at) for _, event_id, at in returned)
    assert got == [(first, _row(0, 1)["observed_at"]), (first, _row(0, 2)["observed_at"])]
    assert all(isinstance(at, datetime) and at.tzinfo is not None for _, _, at in returned)
    assert len(stored) == 3  # the conflicting row was skipped, not stored twice
    for snapshot_id, event_id, at in returned:
        assert (stored[snapshot_id]["event_id"], stored[snapshot_id]["observed_at"]) == (
            event_id,
            at,
        )
    by_sqlalchemy = next(m for m in stored.values() if m["event_id"] == second)
    by_fast_path = next(
        m for m in stored.values() if m["event_id"] == first and m["listing_count"] == 1
    )
    assert _stored(by_fast_path) == _stored(by_sqlalchemy)


async def test_more_rows_than_one_statement_takes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        (event_id,) = await _events(session, 1)
        rows = [_row(event_id, minute) for minute in range(2500)]
        returned = await insert_skipping_returning(session, SNAPSHOTS, UNIQUE, rows, RETURNING)
        again = await insert_skipping_returning(
            session, SNAPSHOTS, UNIQUE, [*rows[-3:], _row(event_id, 2500)], RETURNING
        )
    assert sorted(at for _, _, at in returned) == [row["observed_at"] for row in rows]
    assert len({snapshot_id for snapshot_id, _, _ in returned}) == 2500
    assert [at for _, _, at in again] == [_row(event_id, 2500)["observed_at"]]
