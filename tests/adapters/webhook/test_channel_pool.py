"""The webhook timeout covers a request, never its wait for a free pooled connection.

The channel opens at most 10 connections to one host. A burst of sends to a receiver that
answers promptly (0.3 s, within the 1 s timeout) queues for those connections; none of
them may fail with "did not answer" before it was even sent, and the receiver still never
sees more than 10 at once.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from yarl import URL

from adapters.webhook.channel import WebhookChannel
from adapters.webhook.pool import ConnectionSlots
from adapters.webhook.secrets import generate_secret
from adapters.webhook.ssrf import CONNECTIONS_PER_HOST
from core.domain import DeliveryReceipt
from tests.adapters.webhook.test_channel import LOOPBACK, StubSecrets, message
from tests.fake_platforms.webhook_receiver import Reply, WebhookReceiver

BURST = 50


async def test_a_burst_to_a_prompt_receiver_never_times_out_in_the_queue() -> None:
    async with WebhookReceiver(default=Reply(204, delay_s=0.3)) as receiver:
        channel = WebhookChannel(StubSecrets([generate_secret()]), LOOPBACK, timeout_s=1.0)
        try:
            async with asyncio.timeout(15):
                results = await asyncio.gather(
                    *(channel.send(message(receiver.url, key=f"k{i}")) for i in range(BURST)),
                    return_exceptions=True,
                )
        finally:
            await channel.close()
        arrived = len(receiver.requests)

    failed = [r for r in results if not isinstance(r, DeliveryReceipt)]
    assert failed == [], f"{len(failed)} of {BURST} failed, e.g. {failed[0]}"
    assert arrived == BURST


async def test_a_receiver_never_gets_more_than_the_per_host_limit_at_once() -> None:
    busy = 0
    most = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        try:
            await asyncio.sleep(0.05)
        finally:
            busy -= 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    channel = WebhookChannel(StubSecrets([generate_secret()]), LOOPBACK, timeout_s=2.0)
    try:
        async with asyncio.timeout(15):
            await asyncio.gather(*(channel.send(message(url, key=f"k{i}")) for i in range(40)))
    finally:
        await channel.close()
        await runner.cleanup()

    assert most == CONNECTIONS_PER_HOST


async def test_connection_slots_are_per_host_and_forgotten_when_idle() -> None:
    slots = ConnectionSlots(limit=3, limit_per_host=1)
    a, b = URL("http://a.example/x"), URL("https://b.example/y")
    entered: list[str] = []

    async def hold(url: URL, name: str, release: asyncio.Event) -> None:
        async with slots.hold(url):
            entered.append(name)
            await release.wait()

    release = asyncio.Event()
    tasks = [
        asyncio.create_task(hold(a, "a1", release)),
        asyncio.create_task(hold(a, "a2", release)),  # waits: one connection per host
        asyncio.create_task(hold(b, "b1", release)),  # another host: goes at once
    ]
    await asyncio.sleep(0.01)
    assert sorted(entered) == ["a1", "b1"]
    release.set()
    async with asyncio.timeout(2):
        await asyncio.gather(*tasks)
    assert sorted(entered) == ["a1", "a2", "b1"]
    assert slots.in_use() == 0
