"""A carrier status that arrives before the delivery worker recorded the send (the row
still `sending`) is kept, and the row is settled once the worker has marked it sent."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.domain import ChannelKind, DeliveryReceipt, Level
from core.escalation_audit import audit_escalations
from core.escalation_status import record_status
from core.metrics import RecordingMetrics
from core.outbox import claim, mark_sent
from tests.integration.escalation_helpers import seed_alert, service, step_rows, timeline

Sessions = async_sessionmaker[AsyncSession]


@pytest.mark.parametrize(
    ("after_s", "channel", "carrier", "settled", "error"),
    [
        (120, "sms", "undelivered", "failed", "sms undelivered"),
        (120, "sms", "failed", "failed", "sms failed"),
        (300, "voice", "busy", "failed", "voice busy"),
        (120, "sms", "delivered", "delivered", None),
    ],
)
async def test_a_final_status_before_the_sent_outcome_settles_the_row(
    sessions: Sessions,
    clock: FakeClock,
    after_s: int,
    channel: str,
    carrier: str,
    settled: str,
    error: str | None,
) -> None:
    """The carrier's final state comes while the worker still holds the send; the
    worker then marks the row sent. The auditor's next run settles it (failed with the
    carrier's reason, or delivered), and a second run changes nothing."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL, emergency=False)
    svc = service(sessions, clock)
    for at in sorted({120, after_s}):
        clock.set(t0)
        clock.advance(at)
        await svc.tick()
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w1", clock.now(), 10, 60.0)
    (row,) = [r for r in claimed if r.channel == channel]
    async with sessions() as session, session.begin():
        assert await record_status(session, row.id, "SID1", carrier, clock.now()) == carrier
    receipt = DeliveryReceipt(ChannelKind(channel), row.address, "SID1")
    async with sessions() as session, session.begin():
        await mark_sent(session, row, worker_id="w1", receipt=receipt, now=clock.now())
    (before,) = [r for r in await step_rows(sessions, alert.id) if r.id == row.id]
    assert (before.status, before.provider_status) == ("sent", carrier)
    clock.advance(60)
    async with sessions() as session, session.begin():
        report = await audit_escalations(session, clock.now(), RecordingMetrics())
    assert report.settled == 1
    (after,) = [r for r in await step_rows(sessions, alert.id) if r.id == row.id]
    assert (after.status, after.provider_status, after.last_error) == (settled, carrier, error)
    async with sessions() as session, session.begin():
        again = await audit_escalations(session, clock.now(), RecordingMetrics())
    assert again.settled == 0
    kind = "receipt" if settled == "delivered" else "delivery_failed"
    assert f"{kind}: {channel} {carrier}" in await timeline(sessions, alert.id)
