"""Ingest -> match -> score -> outbox -> webhook, in-process over real HTTP (SQLite and PG).

The container is the one `bot/bootstrap.py` builds for the process, with the real
WebhookChannel (SSRF guard allow-listing 127.0.0.1). Snapshots arrive as signed batches
at the real web app on an ephemeral port; delivery workers run as tasks; the webhook
endpoint is added by `hdtickets webhooks add`; a loopback receiver checks every request
with the `standardwebhooks` package as an independent oracle. Real time, bounded waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bot.bootstrap import Container, build
from bot.process import web_app
from bot.settings import load_settings
from core.chat import CommandContext
from core.db.models import AuditEntry, Notification, User, Watch
from core.domain import ChannelKind, NotificationStatus
from tests.e2e.proc_helpers import (
    Endpoint,
    TimedReceiver,
    add_endpoint_blocking,
    post_batch,
    snapshot,
    utc_now,
    wait_until,
)
from tests.fake_platforms.webhook_receiver import Reply

TIMEOUT_S = 0.5
RETRY_AFTER_S = 1.0
DATA_KEYS = {"alert", "event", "market", "prediction", "recommendation", "watch", "links"}


@dataclass
class Stack:
    container: Container
    base_url: str
    receiver: TimedReceiver
    endpoint: Endpoint
    user_id: int
    http: aiohttp.ClientSession

    @property
    def ctx(self) -> CommandContext:
        return CommandContext(user_id=self.user_id, platform="console", address="console:ada")

    async def webhook_rows(self) -> list[Notification]:
        async with self.container.sessions() as session:
            rows = await session.execute(
                select(Notification)
                .where(Notification.channel == ChannelKind.WEBHOOK.value)
                .order_by(Notification.id)
            )
            return list(rows.scalars())

    async def wait_all_sent(self, count: int, within_s: float = 20.0) -> list[Notification]:
        async def done() -> bool:
            rows = await self.webhook_rows()
            return len(rows) == count and all(r.status == "sent" for r in rows)

        try:
            await wait_until(done, within_s, f"{count} webhook notifications to be sent")
        except AssertionError:
            states = [(r.id, r.status, r.attempts, r.last_error) for r in await self.webhook_rows()]
            raise AssertionError(f"not all sent within {within_s} s: {states}") from None
        return await self.webhook_rows()


@pytest.fixture
async def stack(
    database_url: str,
    cli_env: object,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> AsyncIterator[Stack]:
    monkeypatch.setenv("HDT_DATABASE_URL", database_url)
    monkeypatch.setenv("HDT_DEMO", "false")
    monkeypatch.setenv("HDT_DELIVERY_LEASE_S", "4")
    monkeypatch.setenv("HDT_RETRY_BASE_S", "0.05")
    monkeypatch.setenv("HDT_RETRY_CAP_S", "0.5")
    monkeypatch.setenv("HDT_RETRY_ATTEMPTS", "10,10,10,10,10")
    monkeypatch.setenv("HDT_WEBHOOK_TIMEOUT_S", str(TIMEOUT_S))
    monkeypatch.setenv("HDT_SHUTDOWN_GRACE_S", "1")
    settings = load_settings()
    receiver = TimedReceiver()
    await receiver.start()
    container = await build(settings)
    runner = web.AppRunner(web_app(container), access_log=None, handle_signals=False)
    stop = asyncio.Event()
    workers: list[asyncio.Task[None]] = []
    pending: set[asyncio.Task[None]] = set()
    try:
        async with container.sessions() as session, session.begin():
            user = User(display_name="Ada", timezone="UTC")
            session.add(user)
            await session.flush()
            user_id = user.id
        endpoint = await asyncio.to_thread(
            add_endpoint_blocking, receiver.url, user_id, "alert.triggered"
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        for i in range(2):
            worker = container.delivery_worker(i, prefix="e2e")
            workers.append(asyncio.create_task(worker.run(stop), name=f"e2e-delivery-{i}"))
        yield Stack(container, f"http://127.0.0.1:{port}", receiver, endpoint, user_id, http)
    finally:
        stop.set()
        if workers:
            _, pending = await asyncio.wait(workers, timeout=10)
            for task in pending:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await runner.cleanup()
        await container.aclose()
        await receiver.close()
    for task in workers:
        assert task.cancelled() or task.exception() is None, task
    assert not pending, "delivery workers did not stop within 10 s of the stop event"


async def ingest(stack: Stack, items: list[dict[str, object]]) -> None:
    status, report = await post_batch(stack.http, stack.base_url, items)
    assert status == 202, report
    assert report == {"accepted": len(items), "duplicates": 0, "rejected": []}


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_signed_ingest_fires_a_watch_and_a_signed_webhook_arrives(stack: Stack) -> None:
    now = utc_now()
    name = "Rockies at Diamondbacks"
    await ingest(stack, [snapshot("7001", 60.0, now - timedelta(minutes=2), name=name)])
    reply = await stack.container.handlers.handle_text(stack.ctx, f"watch {name} under 40")
    assert not reply.is_error, reply.text
    async with stack.container.sessions() as session:
        [watch] = (await session.execute(select(Watch))).scalars()
    assert watch.event_id is not None and watch.max_price == 40.0

    await ingest(stack, [snapshot("7001", 28.0, now - timedelta(minutes=1), name=name)])
    [row] = await stack.wait_all_sent(1)

    assert stack.receiver.unexpected == []
    [request] = stack.receiver.requests
    # The independent oracle: the standardwebhooks package verifies what we signed.
    body = Webhook(stack.endpoint.secret).verify(request.body, dict(request.headers))
    assert request.headers["webhook-id"] == row.idempotency_key
    assert request.headers["content-type"].startswith("application/json")
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "alert.triggered"
    assert abs(parse_iso(body["timestamp"]) - utc_now()) < timedelta(minutes=1)
    data = body["data"]
    assert set(data) == DATA_KEYS
    assert data["event"]["name"] == name
    assert data["event"]["venue"] == "Chase Field"
    assert data["market"]["min_price"] == 28.0
    assert data["alert"]["kind"] == "price_below"
    assert data["alert"]["status"] == "open"
    assert data["alert"]["price"] == 28.0
    assert data["alert"]["id"] == row.alert_id
    assert data["watch"]["id"] == watch.id
    assert "webhook_endpoint_id" not in request.body.decode()
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, dict(request.headers))

    assert row.status == NotificationStatus.SENT.value
    assert row.attempts == 1 and row.sent_at is not None and row.last_error is None
    assert row.webhook_endpoint_id == stack.endpoint.id
    assert row.receipt == {
        "channel": "webhook",
        "address": stack.receiver.url,
        "message_id": row.idempotency_key,
        "detail": "HTTP 204",
    }


async def test_a_burst_survives_500s_429s_and_timeouts_with_stable_webhook_ids(
    stack: Stack,
) -> None:
    now = utc_now()
    events = [f"80{n:02d}" for n in range(12)]
    await ingest(stack, [snapshot(e, 60.0, now - timedelta(minutes=2)) for e in events])
    reply = await stack.container.handlers.handle_text(stack.ctx, "watch mlb under 40")
    assert not reply.is_error, reply.text
    stack.receiver.script(
        Reply(500, body="boom"),
        Reply(429, {"Retry-After": f"{RETRY_AFTER_S:g}"}, "slow down"),
        Reply(204, delay_s=30.0),  # hangs: the sender times out after TIMEOUT_S
        Reply(503),
        Reply(502),
        Reply(500),
    )

    await ingest(stack, [snapshot(e, 28.0, now - timedelta(minutes=1)) for e in events])
    rows = await stack.wait_all_sent(len(events))

    receiver = stack.receiver
    assert receiver.unexpected == []
    assert len(receiver.log) == len(events) + 6, "every scripted failure was used once"
    # Every request, retries included, verifies with the endpoint's secret.
    for request in receiver.requests:
        Webhook(stack.endpoint.secret).verify(request.body, dict(request.headers))
    keys = {row.idempotency_key for row in rows}
    assert receiver.ids() == keys
    # Stable webhook-id: a notification's retries carry the same id and the same bytes,
    # and no other notification uses that id.
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.requests:
        bodies[request.headers["webhook-id"]].add(request.body)
    assert all(len(b) == 1 for b in bodies.values()), "a retry changed the body"
    alert_ids = [receiver_body_alert(b) for b in bodies.values()]
    assert sorted(alert_ids) == sorted(row.alert_id for row in rows)
    # Each id delivered with a 2xx exactly once; every attempt reached the receiver.
    assert Counter(receiver.completed_ids()) == dict.fromkeys(keys, 1)
    arrivals = Counter(a.webhook_id for a in receiver.log)
    assert {row.idempotency_key: row.attempts for row in rows} == dict(arrivals)
    assert sum(row.attempts for row in rows) == len(events) + 6

    # Retry-After was honoured: the 429'd notification came back no sooner than asked.
    [limited] = [a for a in receiver.log if a.status == 429]
    assert limited.finished is not None
    later = [a for a in receiver.log_of(limited.webhook_id) if a.started > limited.started]
    assert later and min(a.started for a in later) - limited.finished >= RETRY_AFTER_S - 0.05
    # The hung request was abandoned by the sender after the timeout, then retried.
    [hung] = [a for a in receiver.log if a.finished is None]
    again = [a for a in receiver.log_of(hung.webhook_id) if a.started > hung.started]
    assert again and min(a.started for a in again) - hung.started >= TIMEOUT_S - 0.05
    async with stack.container.sessions() as session:
        details = (
            await session.execute(
                select(AuditEntry.detail).where(AuditEntry.kind == "delivery_retry")
            )
        ).scalars()
        retries = list(details)
    assert len(retries) == 6
    assert sum(f"did not answer within {TIMEOUT_S:g} s" in d for d in retries) == 1
    assert sum("answered 429" in d for d in retries) == 1
    assert sum("answered 5" in d for d in retries) == 4


def receiver_body_alert(bodies: set[bytes]) -> int:
    [body] = bodies
    return int(json.loads(body)["data"]["alert"]["id"])
