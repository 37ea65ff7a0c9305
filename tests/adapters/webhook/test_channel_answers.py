"""What the webhook channel makes of an answer whose body is slow, cut off or huge.

A 2xx is success as soon as its status line and head arrive: the receiver has the event,
so its body is never read (one that trickles, never comes, is reset or is gigabytes long
changes nothing). A failure's body is read only briefly, for the reason: a 4xx whose body
never comes is still the 4xx it said. A head that trickles in is still cut at the timeout.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.webhook.channel import WebhookChannel
from adapters.webhook.secrets import generate_secret
from core.domain import DeliveryReceipt
from core.errors import PermanentDeliveryError, RecipientGone, RetryableDeliveryError
from tests.adapters.webhook.test_channel import LOOPBACK, StubSecrets, message
from tests.fake_platforms.raw_http import Answer, RawHttpServer

TIMEOUT_S = 1.0


async def send(answer: Answer) -> tuple[DeliveryReceipt | Exception, float]:
    """One send to a server answering with `answer`: its result (or error) and duration."""
    channel = WebhookChannel(StubSecrets([generate_secret()]), LOOPBACK, timeout_s=TIMEOUT_S)
    started = time.monotonic()
    try:
        async with RawHttpServer(answer) as server, asyncio.timeout(10):
            try:
                result: DeliveryReceipt | Exception = await channel.send(message(server.url))
            except Exception as exc:  # the outcome under test
                result = exc
        assert server.requests == 1
    finally:
        await channel.close()
    return result, time.monotonic() - started


async def ok_then_no_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(30)


async def ok_then_reset(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    await writer.drain()
    writer.transport.abort()


async def ok_then_trickle(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100000\r\n\r\n")
    while True:
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.2)


async def ok_then_huge(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n")
    chunk = b"\0" * 65536
    for _ in range(32768):
        writer.write(chunk)
        await writer.drain()


@pytest.mark.parametrize(
    "answer",
    [ok_then_no_body, ok_then_reset, ok_then_trickle, ok_then_huge],
    ids=["body-never-comes", "reset-before-body", "body-trickles", "2-GiB-body"],
)
async def test_a_2xx_is_success_whatever_its_body_does(answer: Answer) -> None:
    result, took = await send(answer)

    assert isinstance(result, DeliveryReceipt), f"{type(result).__name__}: {result}"
    assert took < TIMEOUT_S


async def gone_then_no_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 410 Gone\r\nContent-Length: 100\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(30)


async def bad_request_then_reset(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\n")
    await writer.drain()
    writer.transport.abort()


async def unavailable_with_reason(writer: asyncio.StreamWriter) -> None:
    body = b"maintenance until noon"
    writer.write(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()


async def test_a_410_whose_body_never_comes_is_still_gone() -> None:
    result, took = await send(gone_then_no_body)

    assert isinstance(result, RecipientGone), f"{type(result).__name__}: {result}"
    assert took < TIMEOUT_S + 1.0  # the reason's short wait, not the request's timeout


async def test_a_400_reset_before_its_body_is_still_refused() -> None:
    result, _ = await send(bad_request_then_reset)

    assert isinstance(result, PermanentDeliveryError), f"{type(result).__name__}: {result}"
    assert "answered 400" in str(result)


async def test_a_failures_body_still_gives_the_reason() -> None:
    result, _ = await send(unavailable_with_reason)

    assert isinstance(result, RetryableDeliveryError)
    assert str(result) == "webhook 127.0.0.1 answered 503: maintenance until noon"
    assert result.retry_after == 30.0


async def head_trickles(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:  # one header byte every 0.2 s, forever
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.2)


async def test_a_head_that_trickles_in_is_cut_at_the_timeout() -> None:
    result, took = await send(head_trickles)

    assert isinstance(result, RetryableDeliveryError), f"{type(result).__name__}: {result}"
    assert "did not answer within 1 s" in str(result)
    assert took < TIMEOUT_S + 1.0
