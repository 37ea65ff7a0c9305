"""Steps that go out late (a restart, a stalled ticker, the auditor's retry) move the rest
of the chain back: the later steps keep the policy's gaps instead of firing together."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Alert
from core.domain import Level
from core.escalation_audit import audit_escalations
from core.metrics import RecordingMetrics
from tests.integration.escalation_helpers import (
    reload,
    run_until,
    seed_alert,
    service,
    step_rows,
    timeline,
)

Sessions = async_sessionmaker[AsyncSession]
# The critical row after its SMS (+2 min): call +5, contacts +15, repeat call +20.
GAPS_AFTER_SMS = [180.0, 600.0, 300.0]
TICK_S = 5


async def _gaps(sessions: Sessions, alert_id: int) -> list[tuple[str, float]]:
    """Each escalation row's channel and the seconds since the row before it."""
    rows = await step_rows(sessions, alert_id)
    return [
        (row.channel, (row.created_at - before.created_at).total_seconds())
        for before, row in pairwise(rows)
    ]


def _assert_policy_gaps(gaps: list[tuple[str, float]]) -> None:
    assert [channel for channel, _ in gaps] == ["voice", "sms", "voice"], gaps
    for (_, gap), policy in zip(gaps, GAPS_AFTER_SMS, strict=True):
        assert policy <= gap < policy + TICK_S, gaps


async def test_after_a_restart_overdue_steps_keep_their_gaps(
    sessions: Sessions, clock: FakeClock
) -> None:
    """The process is down for the first 25 minutes of a critical alert: its SMS goes out
    on the first tick, then the call 3 minutes later, the emergency contacts 10 minutes
    after that and the repeat call 5 minutes later, as the policy spaces them."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    clock.advance(25 * 60)
    svc = service(sessions, clock)
    await svc.tick()
    (first,) = await step_rows(sessions, alert.id)
    assert first.channel == "sms" and first.created_at == clock.now()
    await run_until(svc, clock, 20 * 60, step=TICK_S)
    _assert_policy_gaps(await _gaps(sessions, alert.id))
    assert (await reload(sessions, alert.id)).next_step_at is None  # finished
    assert any(line.startswith("late: step 1") for line in await timeline(sessions, alert.id))


async def test_an_auditor_retry_of_a_long_stuck_step_keeps_the_gaps(
    sessions: Sessions, clock: FakeClock
) -> None:
    """A chain that lost its deadline for 25 minutes is retried by the auditor
    (deadline = now); the steps after the retried one keep the policy's gaps."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).where(Alert.id == alert.id).values(next_step_at=None))
    clock.advance(25 * 60)
    async with sessions() as session, session.begin():
        report = await audit_escalations(session, clock.now(), RecordingMetrics())
    assert report.retried == 1
    svc = service(sessions, clock)
    await svc.tick()
    await run_until(svc, clock, 20 * 60, step=TICK_S)
    _assert_policy_gaps(await _gaps(sessions, alert.id))
