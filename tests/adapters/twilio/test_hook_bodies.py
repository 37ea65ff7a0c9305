"""Twilio hooks answer a body that is not a readable form with a JSON 400, never a 500.

The app is built as production builds it (`bot.web_errors.json_errors`, MAX_BODY_BYTES) with the
routes of `add_twilio_routes`. The form is read before the signature can be checked, so
these requests need no valid signature to reach the parser.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.twilio.client import TwilioConfig
from adapters.twilio.crypto import PhoneBox
from adapters.twilio.inbound import TwilioInbound
from adapters.twilio.webhook import add_twilio_routes
from bot.web_errors import MAX_BODY_BYTES, json_errors
from core.clock import FakeClock
from core.contacts import PhoneKeys


@pytest.fixture
async def base_url(clock: FakeClock) -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    config = TwilioConfig("AC" + "0" * 32, "tok", "+14155550100", "http://127.0.0.1:9", base)
    box = PhoneBox(b"k" * 32)
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
    unused: async_sessionmaker[AsyncSession] = async_sessionmaker()  # refused before any query
    add_twilio_routes(app, config, TwilioInbound(unused, clock, PhoneKeys(box, box.hash_key)))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield base
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("path", ["/hooks/twilio/sms", "/hooks/twilio/status?n=1"])
@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("application/x-www-form-urlencoded", b"From=%2B1555&Body=\xff\xfe"),  # not UTF-8
        ("application/x-www-form-urlencoded; charset=no-such-charset", b"From=x&Body=y"),
        ("multipart/form-data", b"From=x"),  # no boundary
    ],
)
async def test_unreadable_form_is_a_json_400_without_a_traceback(
    base_url: str, path: str, ctype: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with aiohttp.ClientSession() as http, http.post(
            base_url + path, data=body,
            headers={"Content-Type": ctype, "X-Twilio-Signature": "bogus"},
        ) as resp:  # fmt: skip
            status, answer = resp.status, await resp.json()
    assert status == 400
    assert answer["error"]["code"] == "bad_request" and answer["error"]["message"]
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


async def test_a_readable_form_with_a_bad_signature_is_a_json_403(base_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        base_url + "/hooks/twilio/sms", data={"From": "+15551234567", "Body": "ACK"},
        headers={"X-Twilio-Signature": "bogus"},
    ) as resp:  # fmt: skip
        status, answer = resp.status, await resp.json()
    assert status == 403 and answer["error"]["code"] == "forbidden"
