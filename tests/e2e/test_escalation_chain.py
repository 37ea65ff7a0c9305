"""A whole critical escalation chain: Telegram chat, Twilio SMS and calls, acknowledge.

The container `bot/bootstrap.py` builds, with the real PTB against the fake Bot API, the
real twilio SDK against the fake Twilio, the real web app (signed carrier callbacks) on
an ephemeral port, and a FakeClock driving the escalation tick. Delivery workers and the
tick are called directly; only chat replies and HTTP round trips are awaited (bounded).
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.bootstrap import Container, build
from bot.jobs import escalation_jobs
from bot.process import web_app
from bot.scheduler import JobFn
from core.clock import FakeClock
from core.db.models import Alert, AuditEntry, ContactPoint, Notification
from core.delivery import DeliveryService
from core.domain import Level
from tests.adapters.telegram.conftest import (
    SteppingClock,
    TelegramStack,
    running,
    stack_settings,
)
from tests.fake_platforms.telegram import FakeBotApi
from tests.fake_platforms.twilio.server import Carrier, FakeTwilio
from tests.fakes.predictor import StubPredictor, make_forecast

USER = 4242
NUMBER = "+15551234567"
SAM = "+15557654321"
MASKED = "+1•••••4567"
FROM = "+14155550100"
START = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _item(price: float, at: datetime) -> dict[str, Any]:
    """A snapshot of an event starting in 12 hours (urgency 1.0), complete and fresh."""
    return {
        "event": {
            "external_id": "e1",
            "name": "Rockies at Diamondbacks",
            "category": "mlb",
            "performers": ["Arizona Diamondbacks", "Colorado Rockies"],
            "venue": "Chase Field",
            "city": "Phoenix",
            "starts_at": (at + timedelta(hours=12)).isoformat(),
            "timezone": "America/Phoenix",
        },
        "observed_at": at.isoformat(),
        "currency": "USD",
        "min_price": price,
        "median_price": price * 1.5,
        "avg_price": price * 1.6,
        "max_price": price * 4,
        "listing_count": 300,
        "ticket_count": 40,
    }


def _edits(api: FakeBotApi) -> int:
    """editMessageText/Caption/ReplyMarkup calls the fake answered (alert cards are photos)."""
    return sum(1 for c in api.calls if c.method.startswith("editMessage") and c.status == 200)


async def _rows(container: Container) -> list[Notification]:
    async with container.sessions() as session:
        rows = await session.execute(select(Notification).order_by(Notification.id))
        return list(rows.scalars())


async def test_critical_chain_sms_call_then_ack_stops_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    clock = FakeClock(START)
    twilio = FakeTwilio()
    twilio_url = await twilio.start()
    port = _port()
    predictor = StubPredictor(
        make_forecast(demand=1.0, p_sellout=1.0, confidence=1.0, hours_to_depletion=None)
    )
    runner: web.AppRunner | None = None
    try:
        async with FakeBotApi(clock=SteppingClock()) as api:
            settings = stack_settings(
                api, database_url, tmp_path,
                twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
                twilio_from_number=FROM, twilio_api_url=twilio_url,
                public_url=f"http://127.0.0.1:{port}",
            )  # fmt: skip
            container = await build(settings, clock=clock, predictor=predictor)
            worker = container.delivery_worker(0)
            tick = escalation_jobs(container)[0].run
            runner = web.AppRunner(web_app(container))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), trust_env=False)
            try:
                async with running(api, container) as tg:
                    carrier = Carrier(settings.public_url, twilio.auth_token, http)
                    await _scenario(tg, container, worker, tick, twilio, carrier, clock)
            finally:
                await http.close()
                await container.aclose()
    finally:
        if runner is not None:
            await runner.cleanup()
        await twilio.stop()
    assert twilio.unexpected == []


async def _scenario(
    tg: TelegramStack,
    container: Container,
    worker: DeliveryService,
    tick: JobFn,
    twilio: FakeTwilio,
    carrier: Carrier,
    clock: FakeClock,
) -> None:
    api = tg.api
    # The person adds and verifies their phone by the code texted to it.
    reply = await tg.say(USER, f"/phone {NUMBER}")
    assert MASKED in reply.plain and NUMBER not in reply.plain
    await worker.deliver_batch()
    [code_sms] = twilio.messages
    assert code_sms["to"] == NUMBER
    code = re.search(r"\b(\d{6})\b", code_sms["body"])
    assert code is not None, code_sms["body"]
    reply = await tg.say(USER, f"/phone {code.group(1)}")
    async with container.sessions() as session:
        [phone] = (await session.execute(select(ContactPoint))).scalars()
    assert phone.verified_at is not None, reply.plain

    # An emergency contact is asked, and agrees by replying YES (signed, via the web app).
    reply = await tg.say(USER, f"/contact add Sam {SAM}")
    assert SAM not in reply.plain
    await worker.deliver_batch()
    assert [m["to"] for m in twilio.messages] == [NUMBER, SAM]
    status, _ = await carrier.sms(SAM, "YES")
    assert status == 200
    async with container.sessions() as session:
        sam = await session.scalar(select(ContactPoint).where(ContactPoint.is_emergency))
    assert sam is not None and sam.owner_consent_at is not None

    # The event exists (above the max), the person watches it.
    report = await container.ingest.ingest("test", [_item(90, clock.now())])
    assert report.accepted == 1, report
    reply = await tg.say(USER, "/watch rockies under 40")
    assert "Watching Rockies at Diamondbacks" in reply.plain, reply.plain

    # Ten quiet minutes later (no longer "active" in chat), the price falls: critical.
    clock.advance(600)
    t0 = clock.now()
    report = await container.ingest.ingest("test", [_item(20, t0)])
    assert report.accepted == 1, report
    async with container.sessions() as session:
        [alert] = (await session.execute(select(Alert))).scalars()
    assert alert.level == Level.CRITICAL, (alert.level, alert.score)
    before = len(api.sent)
    await worker.deliver_batch()
    [message] = [m for m in api.sent[before:] if "Acknowledge" in str(m.keyboard)]
    assert message.chat_id == str(USER)
    twilio.messages.clear()

    # +2 min: an SMS to the person; +5 min: a call.
    clock.set(t0 + timedelta(seconds=119))
    await tick()
    await worker.deliver_batch()
    assert twilio.messages == [] and twilio.calls == []
    clock.set(t0 + timedelta(seconds=120))
    await tick()
    await worker.deliver_batch()
    assert [m["to"] for m in twilio.messages] == [NUMBER]
    assert "Rockies at Diamondbacks" in twilio.messages[0]["body"], twilio.messages[0]
    assert twilio.calls == []
    clock.set(t0 + timedelta(seconds=300))
    await tick()
    await worker.deliver_batch()
    assert [c["to"] for c in twilio.calls] == [NUMBER]
    assert [m["to"] for m in twilio.messages] == [NUMBER]

    # The person acknowledges on Telegram: the chain ends, the message is edited in place.
    edits_before = _edits(api)
    answer = await tg.press(USER, message, message.buttons()[0]["callback_data"])
    assert answer["text"].startswith("Acknowledged alert #"), answer
    async with container.sessions() as session:
        acked = await session.get(Alert, alert.id)
    assert acked is not None and (acked.status, acked.acked_via) == ("acknowledged", "telegram")
    await worker.deliver_batch()
    await api.wait_for(lambda: message.edits >= 1, 10)
    assert _edits(api) > edits_before and message.keyboard is None
    assert "Acknowledged via telegram" in message.plain, message.plain

    # +15 min and +20 min pass: no text to Sam, no repeat call.
    for seconds in (900, 1200, 3600):
        clock.set(t0 + timedelta(seconds=seconds))
        await tick()
        await worker.deliver_batch()
    assert [m["to"] for m in twilio.messages] == [NUMBER]
    assert [c["to"] for c in twilio.calls] == [NUMBER]
    steps = [f"{r.channel}:{r.address}" for r in await _rows(container) if r.kind == "escalation"]
    assert steps == [f"sms:cp{phone.id}", f"voice:cp{phone.id}"]
    async with container.sessions() as session:
        kinds = (
            (
                await session.execute(
                    select(AuditEntry.kind)
                    .where(AuditEntry.alert_id == alert.id)
                    .order_by(AuditEntry.id)
                )
            )
            .scalars()
            .all()
        )
    assert kinds.count("escalated") == 2 and "acknowledged" in kinds, kinds

    # The person's number is never stored in plain text.
    rows = await _rows(container)
    assert rows and all(NUMBER not in (r.address or "") for r in rows)
    assert all(NUMBER not in json.dumps(r.payload, ensure_ascii=False) for r in rows)
    async with container.sessions() as session:
        audits = (await session.execute(select(AuditEntry))).scalars().all()
    text = json.dumps(
        [{k: str(v) for k, v in vars(a).items() if not k.startswith("_")} for a in audits],
        ensure_ascii=False,
    )
    assert audits and NUMBER not in text
