"""An escalation the engine stopped (the alert fell to a level that does not escalate)
stays stopped: the auditor does not take its missing deadline for a stuck chain."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.escalation_audit import audit_escalations
from core.escalation_load import due_alerts, load_context
from core.metrics import RecordingMetrics
from core.policy import is_stopped
from tests.integration.engine_helpers import T0, fresh_engine, minutes, process_snapshot
from tests.integration.escalation_helpers import reload, run_until, sends, service, timeline
from tests.integration.test_lifecycle_ends import PRICE_ONLY, _critical

Sessions = async_sessionmaker[AsyncSession]


async def test_auditor_leaves_an_escalation_stopped_by_a_level_drop_alone(
    sessions: Sessions,
) -> None:
    """A critical alert that falls to medium stops escalating; twenty minutes of the
    minutely auditor and the ticker then send no SMS, call or emergency text, and the
    auditor neither counts it as stuck nor retries it."""
    seed, alert_id = await _critical(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0 + minutes(1), 38.0)  # -> medium
    stopped = await reload(sessions, alert_id)
    assert stopped.level == 3 and stopped.next_step_at is None
    assert is_stopped(stopped.escalation)
    assert stopped.escalation is not None and stopped.escalation["level"] == 5  # round kept
    clock = FakeClock(T0 + minutes(1))
    svc = service(sessions, clock)
    metrics = RecordingMetrics()
    reports = []
    for _ in range(20):
        clock.advance(60)
        async with sessions() as session, session.begin():
            reports.append(await audit_escalations(session, clock.now(), metrics))
        await run_until(svc, clock, 5, step=1)
    assert [(r.stuck, r.retried) for r in reports] == [(0, 0)] * 20
    assert await sends(sessions, alert_id) == []
    lines = await timeline(sessions, alert_id)
    assert any(line.startswith("escalation_stopped") for line in lines)
    assert not any(line.startswith("audit_retry") for line in lines), lines
    assert (await reload(sessions, alert_id)).next_step_at is None


async def test_a_step_read_before_the_engine_stopped_it_does_not_fire(
    sessions: Sessions,
) -> None:
    """A ticker that read a due step just before the engine stopped the round (a drop to
    medium) loses its compare-and-set: no SMS, and the stop is not overwritten."""
    seed, alert_id = await _critical(sessions)
    svc = service(sessions, FakeClock(T0))
    late = T0 + minutes(30)  # every step of the critical round is due by then
    async with sessions() as session:
        due = await due_alerts(session, late, 10)  # the ticker reads...
    assert [d.id for d in due] == [alert_id]
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0 + minutes(1), 38.0)  # ...the engine stops
    async with sessions() as session, session.begin():
        ctx = await load_context(session, due, late, 300)
        report = await svc._steps(session, due, ctx, late)  # ...the ticker fires
    assert report.stale == 1 and report.fired == 0
    assert await sends(sessions, alert_id) == []
    after = await reload(sessions, alert_id)
    assert after.next_step_at is None and is_stopped(after.escalation)
