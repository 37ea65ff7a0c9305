"""Alerts end when what they were about ends: a removed, paused or changed watch, a level
that no longer escalates, a bought or muted event (QA lifecycle findings, session 8)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.clock import FakeClock
from core.db.models import Alert, Notification
from core.domain import ActionKind
from core.pipeline import EngineConfig
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_event,
    add_user,
    add_watch,
    alerts_of,
    audit_kinds,
    fresh_engine,
    minutes,
    process_snapshot,
)
from tests.integration.escalation_helpers import add_phone, run_until, sends, service

Sessions = async_sessionmaker[AsyncSession]
PRICE_ONLY = EngineConfig(weights=(1.0, 0, 0, 0, 0, 0))  # $10 under a $40 max is critical
HIGH_PRICE = 33.0  # then $33 is high, $38 medium


async def _critical(sessions: Sessions, **watch: object) -> tuple[Seed, int]:
    async with sessions() as session, session.begin():
        user = await add_user(session, chats=(("telegram", "tg-100"), ("console", "con-1")))
        event = await add_event(session)
        seed = Seed(user, event, await add_watch(session, user, event, **watch))
        await add_phone(session, user.id, at=T0)
        await add_phone(session, user.id, emergency=True, at=T0, name="Sam")
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0, 10.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert alert.level == 5
    return seed, alert.id


async def test_a_level_drop_to_medium_stops_the_critical_escalation(sessions: Sessions) -> None:
    seed, alert_id = await _critical(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0 + minutes(1), 38.0)
    clock = FakeClock(T0 + minutes(1))
    await run_until(service(sessions, clock), clock, 20 * 60, step=30)
    async with sessions() as session:
        alert = await session.get(Alert, alert_id)
        kinds = await audit_kinds(session, alert_id)
    assert alert is not None and alert.level == 3 and alert.next_step_at is None
    assert await sends(sessions, alert_id) == []  # no SMS, call or emergency contact
    assert "escalation_stopped" in kinds


async def test_buying_ends_the_watchs_other_alerts_about_the_event(sessions: Sessions) -> None:
    seed, alert_id = await _critical(sessions)
    async with sessions() as session, session.begin():
        other = Alert(
            dedup_key=f"{seed.watch.id}:{seed.event.id}:drop_pct", watch_id=seed.watch.id,
            user_id=seed.user.id, event_id=seed.event.id, kind="drop_pct", score=0.9,
            level=5, factors=[], price=10.0, status="open", opened_at=T0, updated_at=T0,
        )  # fmt: skip
        session.add(other)
    async with sessions() as session, session.begin():
        await apply_action(
            session, alert_id, ActionKind.BOUGHT, user_id=seed.user.id, via="telegram", now=T0
        )
    async with sessions() as session:
        rows = (await session.execute(select(Alert).order_by(Alert.id))).scalars().all()
        pending = (
            (
                await session.execute(
                    select(Notification).where(
                        Notification.alert_id == other.id, Notification.status == "pending"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [(a.status, a.reason) for a in rows] == [
        ("resolved", "bought via telegram"),
        ("resolved", "bought via telegram"),
    ]
    assert all(n.payload["event_type"] == "alert.resolved" for n in pending)


async def test_a_level_drop_to_high_keeps_the_sms_but_calls_nobody(sessions: Sessions) -> None:
    """A critical alert that falls to high within a minute gets high's reach: the SMS
    step still goes out, the calls and the emergency contact are skipped."""
    seed, alert_id = await _critical(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0 + minutes(1), HIGH_PRICE)
    async with sessions() as session:
        alert = await session.get(Alert, alert_id)
    assert alert is not None and alert.level == 4 and alert.next_step_at is not None
    clock = FakeClock(T0 + minutes(1))
    await run_until(service(sessions, clock), clock, 30 * 60, step=30)
    assert [s.split(":")[0] for s in await sends(sessions, alert_id)] == ["sms"]
    async with sessions() as session:
        kinds = await audit_kinds(session, alert_id)
    assert kinds.count("skipped") == 3
