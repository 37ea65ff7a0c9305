"""Bulk alert inserts of the alert engine: every new alert gets the id of its own row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import Alert
from core.engine_batch import ActiveAlert, insert_alerts
from tests.integration.engine_helpers import add_seed, add_watch

AT = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _alert(key: str, watch_id: int, user_id: int, event_id: int, **fields: object) -> ActiveAlert:
    values: dict[str, object] = {
        "id": None,
        "dedup_key": key,
        "watch_id": watch_id,
        "user_id": user_id,
        "event_id": event_id,
        "kind": "price_below",
        "score": 0.5,
        "level": 3,
        "price": 30.0,
        "status": "open",
        "reason": f"reason {key}",
        "opened_at": AT,
        "updated_at": AT,
        "factors": [{"name": "price", "value": 0.5, "weight": 0.25, "reason": key}],
    }
    values.update(fields)
    return ActiveAlert(**values)  # type: ignore[arg-type]


async def _stored(session: AsyncSession) -> dict[int, tuple[str, int, str | None, str]]:
    rows = await session.execute(
        select(Alert.id, Alert.dedup_key, Alert.watch_id, Alert.reason, Alert.status)
    )
    return {row.id: (row.dedup_key, row.watch_id, row.reason, row.status) for row in rows}


async def test_insert_alerts_sets_each_alerts_own_id(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        other = await add_watch(session, seed.user, seed.event, label="second")
        u, e = seed.user.id, seed.event.id
        # Keys deliberately out of order, so an id assigned by position would be caught.
        alerts = [
            _alert(f"{w}:{e}:{kind}", w, u, e, kind=kind)
            for w in (other.id, seed.watch.id)
            for kind in ("price_below", "drop_pct", "new_listing")
        ]
        alerts.reverse()
        await insert_alerts(session, alerts)
        stored = await _stored(session)
    assert len({a.id for a in alerts}) == len(alerts) == len(stored)
    for alert in alerts:
        assert alert.id is not None
        assert stored[alert.id] == (alert.dedup_key, alert.watch_id, alert.reason, "open")


async def test_insert_alerts_with_a_repeated_key_keeps_parameter_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        w, u, e = seed.watch.id, seed.user.id, seed.event.id
        key = f"{w}:{e}:price_below"
        alerts = [
            _alert(key, w, u, e, status="resolved", reason="first", resolved_at=AT),
            _alert(key, w, u, e, status="expired", reason="second", resolved_at=AT),
            _alert(key, w, u, e, reason="third"),
        ]
        await insert_alerts(session, alerts)
        stored = await _stored(session)
    assert [stored[a.id][2:] for a in alerts if a.id is not None] == [
        ("first", "resolved"),
        ("second", "expired"),
        ("third", "open"),
    ]
