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
from core.outbox import claim, mark_sent, recover_expired_leases, schedule_retry
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


async def test_a_retried_send_is_judged_by_its_own_callbacks(
    sessions: Sessions, clock: FakeClock
) -> None:
    """The first try's carrier says failed while the worker still holds it, and the
    worker's call errors too, so it retries. The second message is delivered: its
    callbacks count, a late callback of the first try is ignored, and the row ends
    delivered (it used to keep the first try's 'failed' and settle failed)."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL, emergency=False)
    svc = service(sessions, clock)
    clock.advance(120)
    await svc.tick()
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w1", clock.now(), 10, 60.0)
    (row,) = [r for r in claimed if r.channel == "sms"]
    async with sessions() as session, session.begin():
        assert await record_status(session, row.id, "SID1", "failed", clock.now()) == "failed"
    async with sessions() as session, session.begin():
        await schedule_retry(
            session, row, worker_id="w1", due_at=clock.now(), error="twilio: timed out"
        )
    (pending,) = [r for r in await step_rows(sessions, alert.id) if r.id == row.id]
    assert (pending.status, pending.provider_status) == ("pending", None)
    async with sessions() as session, session.begin():
        assert await record_status(session, row.id, "SID1", "failed", clock.now()) is None
    clock.advance(5)
    async with sessions() as session, session.begin():
        (again,) = [r for r in await claim(session, "w2", clock.now(), 10, 60.0) if r.id == row.id]
    async with sessions() as session, session.begin():
        assert await record_status(session, row.id, "SID2", "sent", clock.now()) == "sent"
    receipt = DeliveryReceipt(ChannelKind.SMS, again.address, "SID2")
    async with sessions() as session, session.begin():
        await mark_sent(session, again, worker_id="w2", receipt=receipt, now=clock.now())
    async with sessions() as session, session.begin():
        assert await record_status(session, row.id, "SID2", "delivered", clock.now()) == (
            "delivered"
        )
    clock.advance(60)
    async with sessions() as session, session.begin():
        await audit_escalations(session, clock.now(), RecordingMetrics())
    (after,) = [r for r in await step_rows(sessions, alert.id) if r.id == row.id]
    assert (after.status, after.provider_status) == ("delivered", "delivered")


async def test_a_recovered_lease_forgets_the_carrier_state(
    sessions: Sessions, clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL, emergency=False)
    svc = service(sessions, clock)
    clock.advance(120)
    await svc.tick()
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w1", clock.now(), 10, 60.0)
    (row,) = [r for r in claimed if r.channel == "sms"]
    async with sessions() as session, session.begin():
        await record_status(session, row.id, "SID1", "undelivered", clock.now())
    clock.advance(120)  # the worker died holding the row
    async with sessions() as session, session.begin():
        assert await recover_expired_leases(session, clock.now()) >= 1
    (after,) = [r for r in await step_rows(sessions, alert.id) if r.id == row.id]
    assert (after.status, after.provider_status) == ("pending", None)
