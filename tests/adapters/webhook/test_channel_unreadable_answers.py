"""Answers a receiver may really send that are awkward to report (SQLite and PostgreSQL).

A failure's body is quoted in the error, which delivery writes to the outbox row and the
alert's timeline: a NUL byte in it (a binary or compressed error page) must not keep that
write from happening (PostgreSQL refuses NUL in text, so the row stayed `sending` and was
sent again when its lease ran out), nor may terminal escapes reach a log or a terminal.
An answer whose head aiohttp cannot parse is said to be that, not "unreachable: 400" (a
status the receiver never sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from adapters.webhook.channel import WebhookChannel
from adapters.webhook.secrets import generate_secret
from core.clock import FakeClock
from core.errors import RetryableDeliveryError
from tests.adapters.webhook.test_channel import LOOPBACK, StubSecrets
from tests.adapters.webhook.test_channel_answers import send
from tests.fake_platforms.raw_http import RawHttpServer
from tests.integration.test_delivery import Sessions, add, endpoint, load, service

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def answering(raw: bytes) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()

    return answer


BINARY_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 15\r\n\r\nbad\x00input\x1b[31m!"


async def test_a_failure_body_with_a_nul_is_recorded_as_the_failure(
    sessions: Sessions, clock: FakeClock
) -> None:
    channel = WebhookChannel(StubSecrets([generate_secret()]), LOOPBACK, timeout_s=2.0)
    try:
        async with RawHttpServer(answering(BINARY_400)) as server:
            endpoint_id = await endpoint(sessions)
            payload = {"event_type": "alert.triggered", "timestamp": "2024-03-20T12:00:00+00:00"}
            await add(
                sessions,
                clock,
                {
                    "idempotency_key": "n1",
                    "webhook_endpoint_id": endpoint_id,
                    "address": server.url,
                    "payload": payload,
                },
            )
            await service(sessions, clock, {"webhook": channel}).deliver_batch()
    finally:
        await channel.close()

    row = (await load(sessions))["n1"]
    assert row.status == "failed", (row.status, row.last_error)
    assert row.last_error is not None
    assert row.last_error.startswith("webhook 127.0.0.1 answered 400: bad")
    assert "\x00" not in row.last_error and "\x1b" not in row.last_error


async def test_a_head_aiohttp_cannot_parse_is_named_so() -> None:
    long_header = b"HTTP/1.1 200 OK\r\nX-Trace: " + b"a" * 9000 + b"\r\nContent-Length: 0\r\n\r\n"

    result, _ = await send(answering(long_header))

    assert isinstance(result, RetryableDeliveryError)
    message = str(result)
    assert message.startswith("webhook 127.0.0.1 answered with a head that is not valid HTTP:")
    assert "unreachable" not in message and "400" not in message, message
