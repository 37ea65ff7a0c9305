"""An alert that wakes from its snooze below the watch's minimum level is told to nobody,
so its old escalation round must not resume either: the auditor leaves it alone."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.clock import FakeClock
from core.domain import ActionKind, Level
from core.escalation_audit import audit_escalations
from core.metrics import RecordingMetrics
from tests.integration.engine_helpers import T0, fresh_engine, minutes, process_snapshot
from tests.integration.escalation_helpers import reload, run_until, sends, service
from tests.integration.test_lifecycle_ends import PRICE_ONLY, _critical

Sessions = async_sessionmaker[AsyncSession]


async def test_a_silent_wake_does_not_resume_the_escalation(sessions: Sessions) -> None:
    seed, alert_id = await _critical(sessions, min_level=int(Level.HIGH))
    async with sessions() as session, session.begin():
        await apply_action(
            session, alert_id, ActionKind.SNOOZE, user_id=seed.user.id, via="telegram",
            now=T0 + minutes(1), snooze_until=T0 + minutes(30),
        )  # fmt: skip
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0 + minutes(31), 38.0)  # medium: silent
    woken = await reload(sessions, alert_id)
    assert (woken.status, woken.level) == ("open", 3)

    clock = FakeClock(T0 + minutes(31))
    svc = service(sessions, clock)
    reports = []
    for _ in range(20):
        clock.advance(60)
        async with sessions() as session, session.begin():
            reports.append(await audit_escalations(session, clock.now(), RecordingMetrics()))
        await run_until(svc, clock, 5, step=1)
    assert [(r.stuck, r.retried) for r in reports] == [(0, 0)] * 20
    assert await sends(sessions, alert_id) == []  # no SMS, call or emergency text
