"""The real twilio SDK against the loopback fake; signed callbacks into our hooks."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.twilio.channel_sms import TwilioSmsChannel
from adapters.twilio.channel_voice import TwilioVoiceChannel
from adapters.twilio.client import TwilioConfig
from adapters.twilio.crypto import PhoneBox
from adapters.twilio.inbound import TwilioInbound
from adapters.twilio.webhook import add_twilio_routes
from core.backoff import RetryPolicies
from core.clock import FakeClock
from core.contacts import ContactNumbers, PhoneKeys, add_contact, confirm_phone, start_phone
from core.db.models import Alert, ContactPoint, Notification
from core.delivery import DeliveryService
from core.domain import Level
from core.errors import RetryableDeliveryError
from core.metrics import RecordingMetrics
from core.ratelimit import RateLimiter
from tests.fake_platforms.twilio.server import Carrier, FakeTwilio
from tests.integration.escalation_helpers import seed_alert, service, step_rows

NUMBER = "+15551234567"
CONTACT = "+15557654321"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio
    carrier: Carrier
    keys: PhoneKeys
    channels: dict[str, TwilioSmsChannel | TwilioVoiceChannel]

    def worker(self) -> DeliveryService:
        policies = RetryPolicies.from_settings(1.0, 2.0, 60.0, [4, 6, 8, 10, 12])
        return DeliveryService(
            self.sessions, self.channels, self.clock, random.Random(1), policies,
            RateLimiter(self.clock), RecordingMetrics(), "w1",
        )  # fmt: skip


@pytest.fixture
async def world(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[World]:
    fake = FakeTwilio(now=clock.now)
    api = await fake.start()
    port = _port()
    config = TwilioConfig(fake.account_sid, fake.auth_token, "+14155550100", api,
                          f"http://127.0.0.1:{port}", timeout_s=0.5)  # fmt: skip
    box = PhoneBox(b"k" * 32)
    keys = PhoneKeys(box, box.hash_key)
    numbers = ContactNumbers(sessions, box)
    inbound = TwilioInbound(sessions, clock, keys)
    channels = {"sms": TwilioSmsChannel(config, numbers, clock, inbound.opted_out),
                "voice": TwilioVoiceChannel(config, numbers, clock)}  # fmt: skip
    app = web.Application()
    add_twilio_routes(app, config, inbound)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        yield World(sessions, clock, fake, Carrier(config.public_url, fake.auth_token, http),
                    keys, channels)  # fmt: skip
    for channel in channels.values():
        await channel.close()
    await runner.cleanup()
    await fake.stop()
    assert fake.unexpected == []


async def _verified_alert(w: World, level: Level = Level.CRITICAL) -> Alert:
    t0 = w.clock.now()
    alert = await seed_alert(w.sessions, t0, level, phone=False, emergency=False)
    async with w.sessions() as session, session.begin():
        await start_phone(session, alert.user_id, NUMBER, t0, random.Random(3), w.keys)
    code = f"{random.Random(3).randrange(10**6):06d}"
    async with w.sessions() as session, session.begin():
        ok, line = await confirm_phone(session, alert.user_id, code, t0, w.keys)
    assert ok, line
    await w.worker().deliver_batch()  # the code's SMS
    w.fake.messages.clear()
    return alert


async def test_phone_is_encrypted_masked_and_verified_by_code(world: World) -> None:
    now = world.clock.now()
    alert = await seed_alert(world.sessions, now, Level.HIGH, phone=False, emergency=False)
    code = f"{random.Random(3).randrange(10**6):06d}"
    async with world.sessions() as session, session.begin():
        line = await start_phone(session, alert.user_id, NUMBER, now, random.Random(3), world.keys)
    assert "+1•••••4567" in line and NUMBER not in line
    await world.worker().deliver_batch()
    (sms,) = world.fake.messages
    assert sms["to"] == NUMBER and code in sms["body"]
    async with world.sessions() as session, session.begin():
        ok, _ = await confirm_phone(session, alert.user_id, code, now, world.keys)
    async with world.sessions() as session:
        (cp,) = (await session.execute(select(ContactPoint))).scalars()
        kinds = (await session.execute(select(Notification.kind, Notification.address))).all()
    assert ok and NUMBER not in cp.address_encrypted and cp.address_masked == "+1•••••4567"
    assert cp.verified_at is not None and kinds == [("verify", f"cp{cp.id}")]


async def test_wrong_codes_are_limited_to_five(world: World) -> None:
    t0 = world.clock.now()
    alert = await seed_alert(world.sessions, t0, Level.HIGH, phone=False, emergency=False)
    async with world.sessions() as session, session.begin():
        await start_phone(session, alert.user_id, NUMBER, t0, random.Random(3), world.keys)
    answers = []
    for _ in range(6):
        async with world.sessions() as session, session.begin():
            answers.append(await confirm_phone(session, alert.user_id, "000000", t0, world.keys))
    assert [ok for ok, _ in answers] == [False] * 6
    assert "too many" in answers[-1][1] and "1 try left" in answers[3][1]
    real = f"{random.Random(3).randrange(10**6):06d}"
    async with world.sessions() as session, session.begin():
        ok, _ = await confirm_phone(session, alert.user_id, real, t0, world.keys)
    assert not ok  # locked after five wrong tries
    async with world.sessions() as session, session.begin():
        ok, line = await confirm_phone(
            session, alert.user_id, real, t0 + timedelta(minutes=11), world.keys
        )
    assert not ok and "expired" in line


async def test_sms_step_goes_out_once_with_signed_status_callbacks(world: World) -> None:
    alert = await _verified_alert(world)
    world.fake.messages.clear()
    svc = service(world.sessions, world.clock)
    world.clock.advance(120)
    await svc.tick()
    world.fake.fail_next("500")
    world.fake.fail_next("429", 7)
    worker = world.worker()
    await worker.deliver_batch()  # 500
    assert world.fake.messages == []
    world.clock.advance(30)
    await worker.deliver_batch()  # 429 code 20429, Retry-After 7
    (row,) = await step_rows(world.sessions, alert.id)
    assert row.status == "pending" and "20429" in (row.last_error or "")
    assert row.due_at == world.clock.now() + timedelta(seconds=7)
    world.clock.advance(7)
    await worker.deliver_batch()
    (sms,) = world.fake.messages
    assert sms["to"] == NUMBER and "ACK" in sms["body"]
    callback = sms["form"]["StatusCallback"]
    for status in ("queued", "sent", "delivered", "sent", "delivered"):
        assert await world.carrier.status(callback, sms["sid"], status) == 204
    (row,) = await step_rows(world.sessions, alert.id)
    assert row.status == "delivered" and row.provider_status == "delivered"
    path = callback.removeprefix(world.carrier.base_url)
    params = {"MessageSid": sms["sid"], "MessageStatus": "failed"}
    forged = await world.carrier.post(path, params, forge=True)
    assert forged[0] == 403


async def test_timeout_is_retried_without_a_duplicate_sms(world: World) -> None:
    alert = await _verified_alert(world)
    world.fake.messages.clear()
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    world.fake.fail_next("timeout", 1.0)
    worker = world.worker()
    await worker.deliver_batch()  # created, but the answer comes too late
    assert len(world.fake.messages) == 1
    world.clock.advance(120)
    await worker.deliver_batch()
    (row,) = await step_rows(world.sessions, alert.id)
    assert row.status == "sent" and len(world.fake.messages) == 1


async def test_call_with_repeated_status_events_and_keypress_acks(world: World) -> None:
    alert = await _verified_alert(world)
    svc = service(world.sessions, world.clock)
    world.clock.advance(120)
    await svc.tick()
    world.clock.advance(180)
    await svc.tick()
    await world.worker().deliver_batch()
    (call,) = world.fake.calls
    assert call["form"]["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert "<Gather" in call["form"]["Twiml"] and 'numDigits="1"' in call["form"]["Twiml"]
    action = call["form"]["Twiml"].split('action="')[1].split('"')[0].replace("&amp;", "&")
    code, body = await world.carrier.keypress(action, "1")
    assert code == 200 and "Acknowledged" in body
    async with world.sessions() as session:
        got = await session.get(Alert, alert.id)
    assert got is not None and got.status == "acknowledged" and got.acked_via == "voice"
    path = action.removeprefix(world.carrier.base_url)
    assert (await world.carrier.post(path, {"Digits": "3"}, forge=True))[0] == 403
    # Signed callbacks whose ids no row can have are answered, not a 500.
    huge = "9" * 30
    code, body = await world.carrier.post(f"/hooks/twilio/voice?alert={huge}", {"Digits": "1"})
    assert code == 200 and "Sorry" in body
    status = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert (await world.carrier.post(f"/hooks/twilio/status?n={huge}", status))[0] == 204


async def test_sms_replies_ack_and_forged_is_403(world: World) -> None:
    alert = await _verified_alert(world)
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    await world.worker().deliver_batch()  # a bare ACK answers a text that went out
    code, _ = await world.carrier.sms(NUMBER, "ACK", forge=True)
    assert code == 403
    code, body = await world.carrier.sms(NUMBER, "ack")
    assert code == 200 and f"Acknowledged alert {alert.id}" in body
    code, body = await world.carrier.sms(NUMBER, f"ACK {alert.id}")
    assert "already acknowledged" in body


async def test_emergency_contact_opts_in_with_yes_and_stop_removes(world: World) -> None:
    alert = await _verified_alert(world)
    async with world.sessions() as session, session.begin():
        line = await add_contact(
            session, alert.user_id, "Sam", CONTACT, world.clock.now(), world.keys
        )
    assert "+1•••••4321" in line and CONTACT not in line
    code, body = await world.carrier.sms(CONTACT, "YES")
    assert code == 200 and "emergency contact" in body
    async with world.sessions() as session:
        (sam,) = (
            await session.execute(select(ContactPoint).where(ContactPoint.is_emergency))
        ).scalars()
    assert sam.owner_consent_at is not None
    code, body = await world.carrier.sms(CONTACT, "STOP")
    assert "removed" in body
    async with world.sessions() as session:
        assert (
            await session.execute(select(ContactPoint).where(ContactPoint.is_emergency))
        ).first() is None


async def test_429_maps_to_retryable_with_retry_after(world: World) -> None:
    from core.domain import ChannelKind, OutboundMessage

    await _verified_alert(world)
    world.fake.fail_next("429", 3)
    async with world.sessions() as session:
        cp = (await session.execute(select(ContactPoint))).scalars().first()
    assert cp is not None
    msg = OutboundMessage(1, "k1", ChannelKind.SMS, f"cp{cp.id}", Level.HIGH, "t", "b")
    with pytest.raises(RetryableDeliveryError) as info:
        await world.channels["sms"].send(msg)
    assert info.value.retry_after == 3.0
