"""The auditor retries a stuck escalation once, logs it, and beats its heartbeat."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Alert
from core.domain import Level
from core.escalation_audit import audit_escalations
from core.metrics import RecordingMetrics
from tests.integration.escalation_helpers import reload, seed_alert, sends, service, timeline


async def test_stuck_chain_is_retried_once_then_reported(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    healthy = await seed_alert(sessions, t0, Level.CRITICAL)
    stuck = await seed_alert(sessions, t0, Level.CRITICAL)
    done = await seed_alert(sessions, t0, Level.MEDIUM)
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).where(Alert.id == stuck.id).values(next_step_at=None))
    metrics = RecordingMetrics()
    clock.advance(60)
    async with sessions() as session, session.begin():
        report = await audit_escalations(session, clock.now(), metrics)
    assert (report.stuck, report.retried) == (1, 1)
    assert metrics.total("escalation_auditor_runs") == 1
    assert (await reload(sessions, stuck.id)).next_step_at == clock.now()
    assert any(line.startswith("audit_retry") for line in await timeline(sessions, stuck.id))
    await service(sessions, clock).tick()
    assert [s.split(":")[0] for s in await sends(sessions, stuck.id)] == ["sms"]
    assert await sends(sessions, healthy.id) == [] and await sends(sessions, done.id) == []
    # Stuck again at the same step: reported, not retried a second time.
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).where(Alert.id == stuck.id).values(next_step_at=None))
    async with sessions() as session, session.begin():
        again = await audit_escalations(session, clock.now(), metrics)
    assert (again.stuck, again.retried) == (1, 1)  # step 1 now: a new step gets its one retry
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).where(Alert.id == stuck.id).values(next_step_at=None))
    async with sessions() as session, session.begin():
        third = await audit_escalations(session, clock.now(), metrics)
    assert (third.stuck, third.retried) == (1, 0)
