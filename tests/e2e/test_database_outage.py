"""PostgreSQL away while `python -m bot run` runs: ingest answers 503, /readyz says the
database is down, and once it is back everything resumes with nothing lost or sent twice.

The process reaches PostgreSQL through a loopback TCP proxy the test cuts (listener
closed, every open connection dropped) and restores on the same port; the server itself
is never touched.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.proc_helpers import (
    INGEST_PATH,
    BotProcess,
    CuttableProxy,
    TimedReceiver,
    add_endpoint_blocking,
    batch_body,
    bot_env,
    free_port,
    notifications,
    post_batch,
    signed_headers,
    snapshot,
    utc_now,
    wait_until,
)
from tests.e2e.test_sigkill import seed_people
from tests.fake_platforms.webhook_receiver import Reply

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
PROCESS_LEASE_S = 4
PROCESS_ENV = {"HDT_DELIVERY_LEASE_S": str(PROCESS_LEASE_S), "HDT_SHUTDOWN_GRACE_S": "1"}


async def cuttable(postgres_url: str) -> tuple[CuttableProxy, str]:
    """A started proxy to the database of `postgres_url`, and the URL that goes through it."""
    real = make_url(postgres_url)
    proxy = CuttableProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    return proxy, real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


async def start_subscribed(
    postgres_url: str, receiver: TimedReceiver, bot: BotProcess, http: aiohttp.ClientSession
) -> None:
    """Seed the people, subscribe each to `receiver` for new alerts, start `bot`."""
    for user_id in await seed_people(postgres_url):
        url = f"{receiver.url}?person={user_id}"
        await asyncio.to_thread(add_endpoint_blocking, url, user_id, "alert.triggered")
    await bot.start()
    await bot.wait_healthy(http)


async def readiness(http: aiohttp.ClientSession, base_url: str) -> tuple[int, dict[str, object]]:
    async with http.get(base_url + "/readyz") as response:
        return response.status, await response.json()


async def test_an_outage_answers_503_and_everything_resumes_once_afterwards(
    postgres_url: str,
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> None:
    monkeypatch.setenv("HDT_DATABASE_URL", postgres_url)
    proxy, proxied = await cuttable(postgres_url)
    receiver = TimedReceiver()
    await receiver.start()
    bot = BotProcess(cli_env, bot_env(proxied, free_port(), **PROCESS_ENV))
    try:
        await start_subscribed(postgres_url, receiver, bot, http)
        now = utc_now()
        status, report = await post_batch(
            http, bot.base_url, [snapshot("7001", 28.0, now - timedelta(minutes=2))]
        )
        assert status == 202, report

        async def all_sent() -> bool:
            rows = await notifications(postgres_url)
            return bool(rows) and all(r.status == "sent" for r in rows)

        await wait_until(all_sent, 20, "the first alert's webhooks")

        await proxy.cut()
        body = batch_body([snapshot("7002", 27.0, now - timedelta(minutes=1))])
        async with http.post(
            bot.base_url + INGEST_PATH, data=body, headers=signed_headers(body)
        ) as response:
            answer = await response.json()
            assert response.status == 503, answer
            assert answer["error"]["code"] == "database_unavailable"
            assert response.headers["Retry-After"] == "5"
        status, ready = await readiness(http, bot.base_url)
        assert status == 503, ready
        assert ready["checks"]["database"]["status"] == "down"  # type: ignore[index]
        await asyncio.sleep(3)  # the delivery loop and the jobs fail a few times meanwhile

        await proxy.start()

        async def ready_again() -> bool:
            return (await readiness(http, bot.base_url))[0] == 200

        await wait_until(ready_again, 15, "/readyz to say ready again")
        async with http.post(
            bot.base_url + INGEST_PATH, data=body, headers=signed_headers(body)
        ) as response:
            assert response.status == 202, await response.text()
        await wait_until(all_sent, 20, "the second alert's webhooks after the outage")
        rows = await notifications(postgres_url)
        assert len(rows) == 8  # four people, two events
    finally:
        await bot.stop()
        await proxy.cut()
        await receiver.close()

    log = bot.log_path.read_text()
    assert "unhandled error" not in log, log[-3000:]
    assert log.count("cannot connect to the database") >= 1, log[-3000:]
    arrivals = Counter(a.webhook_id for a in receiver.log)
    assert set(arrivals) == {r.idempotency_key for r in rows}
    assert max(arrivals.values()) == 1, arrivals


async def test_sends_answered_during_an_outage_are_recorded_once_it_is_back(
    postgres_url: str,
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> None:
    monkeypatch.setenv("HDT_DATABASE_URL", postgres_url)
    proxy, proxied = await cuttable(postgres_url)
    receiver = TimedReceiver(default=Reply(204, delay_s=1.5))
    await receiver.start()
    bot = BotProcess(cli_env, bot_env(proxied, free_port(), **PROCESS_ENV))
    try:
        await start_subscribed(postgres_url, receiver, bot, http)
        items = [snapshot("7101", 28.0, utc_now() - timedelta(minutes=1))]
        status, report = await post_batch(http, bot.base_url, items)
        assert status == 202, report

        async def in_flight() -> bool:
            return len(receiver.log) == 4

        await wait_until(in_flight, 10, "four webhook requests in flight", 0.02)
        await proxy.cut()  # answered meanwhile: the sends are done, their outcomes not
        await asyncio.sleep(3)
        await proxy.start()

        async def all_sent() -> bool:
            rows = await notifications(postgres_url)
            return len(rows) == 4 and all(r.status == "sent" for r in rows)

        await wait_until(all_sent, 20, "the webhooks sent during the outage to be recorded")
        await asyncio.sleep(PROCESS_LEASE_S + 1)  # a lost outcome would be sent again now
    finally:
        await bot.stop()
        await proxy.cut()
        await receiver.close()

    assert len(receiver.completed_ids()) == 4
    arrivals = Counter(a.webhook_id for a in receiver.log)
    assert max(arrivals.values()) == 1, arrivals
