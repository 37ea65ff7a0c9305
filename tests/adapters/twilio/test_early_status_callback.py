"""Twilio can post a final status while the delivery worker still holds the send (the
row `sending`, no receipt yet). The status is kept, and the escalation auditor settles the
row once the worker has marked it sent, instead of leaving it `sent` for good."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.twilio.channel_sms import TwilioSmsChannel
from core.domain import DeliveryReceipt, Level
from core.escalation_audit import audit_escalations
from core.metrics import RecordingMetrics
from tests.adapters.twilio.test_twilio import World, _verified_alert
from tests.integration.escalation_helpers import service, step_rows


async def test_undelivered_before_the_sent_outcome_ends_the_sms_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The carrier says `undelivered` before the worker records the SMS as sent; after the
    auditor's next run the row is failed with the carrier's reason, and a late repeat of
    the callback changes nothing."""
    alert = await _verified_alert(world, Level.CRITICAL)
    original = TwilioSmsChannel.send
    callbacks: list[tuple[str, str]] = []

    async def send_then_fast_callback(self: TwilioSmsChannel, message: Any) -> DeliveryReceipt:
        receipt = await original(self, message)
        sms = world.fake.messages[-1]
        callbacks.append((sms["form"]["StatusCallback"], sms["sid"]))
        assert await world.carrier.status(*callbacks[-1], "undelivered") == 204
        return receipt

    monkeypatch.setattr(TwilioSmsChannel, "send", send_then_fast_callback)
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    await world.worker().deliver_batch()
    (row,) = await step_rows(world.sessions, alert.id)
    assert (row.status, row.provider_status) == ("sent", "undelivered")
    world.clock.advance(60)
    async with world.sessions() as session, session.begin():
        report = await audit_escalations(session, world.clock.now(), RecordingMetrics())
    assert report.settled == 1
    assert await world.carrier.status(*callbacks[0], "delivered") == 204  # stale: ignored
    (row,) = await step_rows(world.sessions, alert.id)
    assert (row.status, row.provider_status) == ("failed", "undelivered")
    assert row.last_error == "sms undelivered"
