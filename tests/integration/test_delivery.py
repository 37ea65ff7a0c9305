"""DeliveryService on SQLite and PostgreSQL: outcomes, retries, failover, limits, shutdown."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.backoff import RetryPolicies
from core.clock import FakeClock, SystemClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import (
    Alert,
    AuditEntry,
    Event,
    Identity,
    Notification,
    Preference,
    User,
    Watch,
    WebhookEndpoint,
)
from core.delivery import DeliveryService
from core.errors import PermanentDeliveryError, RecipientGone, RetryableDeliveryError
from core.metrics import RecordingMetrics
from core.outbox import OutboxSignal
from core.ports import Channel, Clock
from core.ratelimit import RateLimiter
from core.routing import destinations
from tests.fakes.channels import FakeChannel

Sessions = async_sessionmaker[AsyncSession]
URL = "https://hooks.example/in"


# --- helpers ------------------------------------------------------------------------


async def person(sessions: Sessions, chats: dict[str, str], order: list[str]) -> int:
    """A user with one identity per chat platform and a channel order."""
    async with sessions() as session, session.begin():
        user = User(display_name="Ada")
        session.add(user)
        await session.flush()
        for platform, address in chats.items():
            session.add(
                Identity(
                    user_id=user.id, platform=platform, external_id=address, dm_address=address
                )
            )
        session.add(Preference(user_id=user.id, channel_order=order))
        return user.id


async def endpoint(sessions: Sessions, failures: int = 0) -> int:
    async with sessions() as session, session.begin():
        row = WebhookEndpoint(url=URL, secrets=["s"], consecutive_failures=failures)
        session.add(row)
        await session.flush()
        return row.id


async def alert_for(
    sessions: Sessions, user_id: int, starts_at: datetime | None = None, external_id: str = "1"
) -> int:
    """An open alert of `user_id` about a new event (by default one that started at 11:00)."""
    now = datetime(2024, 3, 20, 11, 0, tzinfo=UTC)
    async with sessions() as session, session.begin():
        event = Event(
            source="s",
            external_id=external_id,
            name="Rockies at Diamondbacks",
            starts_at=starts_at or now,
        )
        session.add(event)
        await session.flush()
        watch = Watch(user_id=user_id, label="rockies", event_id=event.id)
        session.add(watch)
        await session.flush()
        alert = Alert(
            dedup_key=f"{watch.id}:{event.id}:price_below",
            watch_id=watch.id,
            user_id=user_id,
            event_id=event.id,
            kind="price_below",
            score=0.9,
            level=5,
            opened_at=now,
            updated_at=now,
        )
        session.add(alert)
        await session.flush()
        return alert.id


async def add(sessions: Sessions, clock: Clock, *specs: dict[str, Any]) -> list[int]:
    """Pending notifications due now; each spec overrides the defaults (a webhook row)."""
    rows = []
    for spec in specs:
        values: dict[str, Any] = {
            "channel": "webhook",
            "address": URL,
            "level": 3,
            "payload": {"event_type": "alert.triggered", "title": "t", "body": "b"},
            "status": "pending",
            "due_at": clock.now(),
            "created_at": clock.now() - timedelta(seconds=60),
        }
        values.update(spec)
        rows.append(Notification(**values))
    async with sessions() as session, session.begin():
        session.add_all(rows)
    return [row.id for row in rows]


async def load(sessions: Sessions) -> dict[str, Notification]:
    async with sessions() as session:
        rows = (await session.execute(select(Notification))).scalars().all()
    return {row.idempotency_key: row for row in rows}


async def audit_kinds(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return list(
            (await session.execute(select(AuditEntry.kind).order_by(AuditEntry.id))).scalars()
        )


def service(
    sessions: Sessions,
    clock: Clock,
    channels: dict[str, FakeChannel],
    *,
    rng: random.Random | None = None,
    limiter: RateLimiter | None = None,
    attempts: list[float] | None = None,
    metrics: RecordingMetrics | None = None,
    worker: str = "w1",
    **options: Any,
) -> DeliveryService:
    chans: dict[str, Channel] = dict(channels)
    return DeliveryService(
        sessions,
        chans,
        clock,
        rng or random.Random(5),
        RetryPolicies.from_settings(2.0, 2.0, 60.0, attempts or [3, 3, 3, 3, 3]),
        limiter or RateLimiter(clock),
        metrics or RecordingMetrics(),
        worker,
        30.0,
        **options,
    )


async def until(condition: Any, seconds: float = 10.0) -> None:
    """Wait (bounded, real time) until `condition()` is true."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {seconds} s")


# --- outcomes -----------------------------------------------------------------------


async def test_success_stores_receipt_audit_and_metrics(
    sessions: Sessions, clock: FakeClock
) -> None:
    hook = FakeChannel("webhook")
    assert isinstance(hook, Channel)
    endpoint_id = await endpoint(sessions, failures=3)
    await add(sessions, clock, {"idempotency_key": "n1", "webhook_endpoint_id": endpoint_id})
    metrics = RecordingMetrics()
    assert await service(sessions, clock, {"webhook": hook}, metrics=metrics).deliver_batch() == 1
    row = (await load(sessions))["n1"]
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, clock.now())
    assert row.receipt == {
        "channel": "webhook",
        "address": URL,
        "message_id": "webhook-1",
        "detail": None,
    }
    assert hook.sent[0].payload["webhook_endpoint_id"] == endpoint_id
    assert await audit_kinds(sessions) == ["sent"]
    assert metrics.counts[("notifications", (("channel", "webhook"), ("status", "sent")))] == 1
    assert metrics.observations == [("delivery_latency_seconds", 60.0, {"channel": "webhook"})]
    async with sessions() as session:
        assert (await session.get(WebhookEndpoint, endpoint_id)).consecutive_failures == 0  # type: ignore[union-attr]


async def test_retry_after_is_honoured_exactly(sessions: Sessions, clock: FakeClock) -> None:
    hook = FakeChannel("webhook")
    hook.script(RetryableDeliveryError("HTTP 429", retry_after=17.5))
    endpoint_id = await endpoint(sessions)
    await add(sessions, clock, {"idempotency_key": "n1", "webhook_endpoint_id": endpoint_id})
    limiter = RateLimiter(clock)
    worker = service(sessions, clock, {"webhook": hook}, limiter=limiter)
    start = clock.now()
    await worker.deliver_batch()
    row = (await load(sessions))["n1"]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 429")
    assert row.due_at == start + timedelta(seconds=17.5)
    # The 429 also blocks the endpoint: a new row for it waits without using an attempt.
    await add(sessions, clock, {"idempotency_key": "n2", "webhook_endpoint_id": endpoint_id})
    clock.advance(1)
    assert await worker.deliver_batch() == 1
    second = (await load(sessions))["n2"]
    assert (second.status, second.attempts) == ("pending", 0)
    assert second.due_at == start + timedelta(seconds=17.5)
    clock.advance(16.4)  # 17.4 s after the 429: not yet
    assert await worker.deliver_batch() == 0
    clock.advance(0.1)
    assert await worker.deliver_batch() == 2
    stored = await load(sessions)
    assert [stored[k].status for k in ("n1", "n2")] == ["sent", "sent"]
    assert (stored["n1"].attempts, stored["n2"].attempts) == (2, 1)
    assert len(hook.calls) == 3
    async with sessions() as session:
        assert (await session.get(WebhookEndpoint, endpoint_id)).consecutive_failures == 0  # type: ignore[union-attr]


async def test_retry_without_retry_after_uses_jittered_backoff(
    sessions: Sessions, clock: FakeClock
) -> None:
    hook = FakeChannel("webhook")
    hook.fail_always(RetryableDeliveryError("HTTP 503"))
    await add(sessions, clock, {"idempotency_key": "n1", "level": 5})
    worker = service(sessions, clock, {"webhook": hook}, attempts=[9, 9, 9, 9, 9])
    delays = []
    for attempt in range(1, 7):
        before = clock.now()
        assert await worker.deliver_batch() == 1
        row = (await load(sessions))["n1"]
        assert row.attempts == attempt
        delay = (row.due_at - before).total_seconds()
        assert 0.0 <= delay <= min(60.0, 2.0 * 2 ** (attempt - 1))
        delays.append(delay)
        clock.set(row.due_at)
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule


async def test_permanent_error_is_never_retried(sessions: Sessions, clock: FakeClock) -> None:
    hook = FakeChannel("webhook")
    hook.script(PermanentDeliveryError("HTTP 400: bad payload"))
    endpoint_id = await endpoint(sessions, failures=1)
    await add(sessions, clock, {"idempotency_key": "n1", "webhook_endpoint_id": endpoint_id})
    worker = service(sessions, clock, {"webhook": hook})
    await worker.deliver_batch()
    clock.advance(hours=24)
    assert await worker.deliver_batch() == 0
    stored = await load(sessions)
    assert list(stored) == ["n1"]  # webhook rows do not fail over
    assert (stored["n1"].status, stored["n1"].attempts) == ("failed", 1)
    assert stored["n1"].last_error == "HTTP 400: bad payload"
    assert len(hook.calls) == 1
    assert await audit_kinds(sessions) == ["delivery_failed"]
    async with sessions() as session:
        hook_row = await session.get(WebhookEndpoint, endpoint_id)
        assert hook_row is not None
        assert (hook_row.consecutive_failures, hook_row.active) == (2, True)


async def test_recipient_gone_marks_identity_and_fails_over(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id = await person(sessions, {"telegram": "tg-1", "slack": "U1"}, ["telegram", "slack"])
    telegram, slack = FakeChannel("telegram"), FakeChannel("slack")
    telegram.script(RecipientGone("bot was blocked by the user"))
    payload = {"event_type": "alert.triggered", "title": "Cheap seats", "body": "b"}
    await add(
        sessions,
        clock,
        {
            "idempotency_key": "a1",
            "channel": "telegram",
            "address": "tg-1",
            "user_id": user_id,
            "level": 4,
            "score": 0.7,
            "payload": payload,
        },
    )
    worker = service(sessions, clock, {"telegram": telegram, "slack": slack})
    await worker.deliver_batch()
    stored = await load(sessions)
    assert stored["a1"].status == "failed"
    fo = stored["a1:fo:slack"]
    assert (fo.status, fo.channel, fo.address, fo.failover_of) == (
        "pending",
        "slack",
        "U1",
        stored["a1"].id,
    )
    assert (fo.level, fo.score, fo.payload["title"]) == (4, 0.7, "Cheap seats")
    async with sessions() as session:
        identity = (
            await session.execute(select(Identity).where(Identity.platform == "telegram"))
        ).scalar_one()
        assert identity.unreachable_at == clock.now()
        assert [d.channel.value for d in await destinations(session, user_id)] == ["slack"]
    assert await audit_kinds(sessions) == ["recipient_gone", "failover", "unreachable"]
    await worker.deliver_batch()
    assert [m.idempotency_key for m in slack.sent] == ["a1:fo:slack"]
    assert (await load(sessions))["a1:fo:slack"].status == "sent"


async def test_webhook_gone_disables_the_endpoint(sessions: Sessions, clock: FakeClock) -> None:
    hook = FakeChannel("webhook")
    hook.script(RecipientGone("HTTP 410 Gone"))
    endpoint_id = await endpoint(sessions)
    other_id = await endpoint(sessions)
    await add(
        sessions,
        clock,
        {"idempotency_key": "n1", "webhook_endpoint_id": endpoint_id, "level": 5},
        {
            "idempotency_key": "n2",
            "webhook_endpoint_id": endpoint_id,
            "due_at": clock.now() + timedelta(hours=1),
        },
        {
            "idempotency_key": "n3",
            "webhook_endpoint_id": other_id,
            "due_at": clock.now() + timedelta(hours=1),
        },
    )
    await service(sessions, clock, {"webhook": hook}).deliver_batch()
    stored = await load(sessions)
    assert (stored["n1"].status, stored["n2"].status, stored["n3"].status) == (
        "failed",
        "cancelled",
        "pending",
    )
    assert len(stored) == 3  # no failover for webhooks
    async with sessions() as session:
        gone = await session.get(WebhookEndpoint, endpoint_id)
        assert gone is not None
        assert (gone.active, gone.disabled_reason, gone.consecutive_failures) == (
            False,
            "HTTP 410 Gone",
            1,
        )
        assert (await session.get(WebhookEndpoint, other_id)).active  # type: ignore[union-attr]
    assert "endpoint_disabled" in await audit_kinds(sessions)


async def test_exhausted_attempts_go_dead_and_fail_over(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id = await person(
        sessions,
        {"telegram": "tg-1", "slack": "U1", "discord": "D1"},
        ["slack", "telegram", "discord"],
    )
    channels = {name: FakeChannel(name) for name in ("telegram", "slack", "discord")}
    channels["telegram"].fail_always(RetryableDeliveryError("HTTP 502"))
    await add(
        sessions,
        clock,
        {
            "idempotency_key": "a1",
            "channel": "telegram",
            "address": "tg-1",
            "user_id": user_id,
            "level": 2,
        },
    )
    worker = service(sessions, clock, channels, attempts=[3, 2, 3, 3, 3])
    await worker.deliver_batch()
    first = (await load(sessions))["a1"]
    assert (first.status, first.attempts) == ("pending", 1)
    clock.set(first.due_at)
    await worker.deliver_batch()
    stored = await load(sessions)
    assert (stored["a1"].status, stored["a1"].attempts) == ("dead", 2)
    # Next after telegram in the person's order is discord (slack comes before it).
    assert stored["a1:fo:discord"].status == "pending"
    assert await audit_kinds(sessions) == ["delivery_retry", "delivery_dead", "failover"]
    await worker.deliver_batch()
    assert channels["discord"].keys == ["a1:fo:discord"]
    assert channels["slack"].calls == []
    # Identities are not marked unreachable for a plain outage.
    async with sessions() as session:
        assert len(await destinations(session, user_id)) == 3


async def test_an_outage_longer_than_the_retries_parks_the_message_until_it_is_back(
    sessions: Sessions, clock: FakeClock
) -> None:
    """Only Telegram, down for longer than its retries: the alert waits, it is not lost."""
    user_id = await person(sessions, {"telegram": "tg-1"}, ["telegram"])
    starts = clock.now() + timedelta(days=2)
    alert_id = await alert_for(sessions, user_id, starts)
    message = {
        "event_type": "alert.triggered",
        "data": {"event": {"starts_at": starts.isoformat()}},
    }
    common = {"user_id": user_id, "alert_id": alert_id, "payload": message, "level": 2}
    await add(sessions, clock, {"idempotency_key": "a1", "channel": "telegram",
                                "address": "tg-1", **common})  # fmt: skip
    telegram = FakeChannel("telegram")
    telegram.fail_always(RetryableDeliveryError("HTTP 502"), count=4)
    metrics = RecordingMetrics()
    worker = service(sessions, clock, {"telegram": telegram}, attempts=[3, 2, 3, 3, 3],
                     metrics=metrics)  # fmt: skip

    for expected in ("pending", "pending", "pending", "pending"):  # 2 tries, 2 parked tries
        await worker.deliver_batch()
        row = (await load(sessions))["a1"]
        assert row.status == expected and row.claimed_by is None
        clock.set(row.due_at)
    assert row.attempts == 4
    await worker.deliver_batch()  # Telegram is back

    row = (await load(sessions))["a1"]
    assert (row.status, telegram.keys) == ("sent", ["a1"])
    assert telegram.sent[0].body.startswith("⏳ Sent 4 min late: telegram could not be reached")
    kinds = await audit_kinds(sessions)
    # Parked once, said once: the parked tries that failed again add nothing.
    assert kinds == ["delivery_retry", "delivery_parked", "failover", "sent"]
    parked = ("notifications", (("channel", "telegram"), ("status", "parked")))
    assert metrics.counts[parked] == 3
    assert ("notifications", (("channel", "telegram"), ("status", "dead"))) not in metrics.counts


async def test_a_parked_message_gives_up_when_its_event_starts(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id = await person(sessions, {"telegram": "tg-1"}, ["telegram"])
    hook = FakeChannel("webhook")
    hook.fail_always(RetryableDeliveryError("HTTP 503"))
    telegram = FakeChannel("telegram")
    telegram.fail_always(RetryableDeliveryError("HTTP 502"))
    starts_soon, starts_later = clock.now() + timedelta(seconds=30), clock.now() + timedelta(days=3)
    alert_soon = await alert_for(sessions, user_id, starts_soon, "soon")
    alert_id = await alert_for(sessions, user_id, starts_later, "later")
    soon = {"data": {"event": {"starts_at": starts_soon.isoformat()}}}
    later = {"data": {"event": {"starts_at": starts_later.isoformat()}}}
    await add(
        sessions,
        clock,
        # The retry cap is 60 s: the event starts before the next try could happen.
        {"idempotency_key": "tg", "channel": "telegram", "address": "tg-1", "user_id": user_id,
         "alert_id": alert_soon, "payload": soon},
        # A webhook event is parked too (no failover for webhooks), but not a lone digest
        # line without an alert, nor a row queued more than a day ago.
        {"idempotency_key": "wh", "alert_id": alert_id, "payload": later},
        {"idempotency_key": "old", "alert_id": alert_id, "payload": later,
         "created_at": clock.now() - timedelta(hours=24)},
        {"idempotency_key": "no-alert", "payload": later},
    )  # fmt: skip
    worker = service(sessions, clock, {"telegram": telegram, "webhook": hook}, attempts=[1] * 5)

    await worker.deliver_batch()

    stored = await load(sessions)
    assert {k: r.status for k, r in stored.items()} == {
        "tg": "dead", "wh": "pending", "old": "dead", "no-alert": "dead"
    }  # fmt: skip
    assert stored["wh"].due_at == clock.now() + timedelta(seconds=60)


async def test_failover_skips_channels_tried_or_already_carrying_the_message(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id = await person(
        sessions,
        {"telegram": "tg-1", "slack": "U1", "discord": "D1"},
        ["telegram", "slack", "discord"],
    )
    alert_id = await alert_for(sessions, user_id)
    channels = {name: FakeChannel(name) for name in ("telegram", "slack", "discord")}
    channels["telegram"].script(PermanentDeliveryError("message too long"))
    channels["discord"].script(PermanentDeliveryError("cannot DM"))
    message = {"event_type": "alert.triggered", "timestamp": "2024-03-20T12:00:00Z", "title": "t"}
    common = {"user_id": user_id, "alert_id": alert_id, "level": 5, "payload": message}
    await add(
        sessions,
        clock,
        {"idempotency_key": "a:tg", "channel": "telegram", "address": "tg-1", **common},
        # A critical alert goes to every chat at once: slack already carries it.
        {
            "idempotency_key": "a:sl",
            "channel": "slack",
            "address": "U1",
            **common,
            "due_at": clock.now() + timedelta(hours=1),
        },
    )
    worker = service(sessions, clock, channels)
    await worker.deliver_batch()
    stored = await load(sessions)
    assert set(stored) == {"a:tg", "a:sl", "a:tg:fo:discord"}
    await worker.deliver_batch()  # discord fails too; telegram was tried, slack has it
    stored = await load(sessions)
    assert stored["a:tg:fo:discord"].status == "failed"
    assert set(stored) == {"a:tg", "a:sl", "a:tg:fo:discord"}
    async with sessions() as session:
        details = (
            await session.execute(
                select(AuditEntry.detail)
                .where(AuditEntry.kind == "failover")
                .order_by(AuditEntry.id)
            )
        ).scalars()
        assert list(details) == [
            "telegram failed; failing over to discord",
            "discord failed; no other chat channel to try",
        ]


async def test_unconfigured_channel_fails_over_to_a_configured_one(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id = await person(sessions, {"telegram": "tg-1", "console": "me"}, ["telegram", "console"])
    console = FakeChannel("console")
    await add(
        sessions,
        clock,
        {"idempotency_key": "a1", "channel": "telegram", "address": "tg-1", "user_id": user_id},
    )
    worker = service(sessions, clock, {"console": console})
    await worker.deliver_batch()
    await worker.deliver_batch()
    stored = await load(sessions)
    assert stored["a1"].status == "failed"
    assert stored["a1"].last_error == "no telegram channel is configured"
    assert console.keys == ["a1:fo:console"]


async def test_a_crashing_row_does_not_stop_the_batch(
    sessions: Sessions, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    hook = FakeChannel("webhook")
    hook.script(ValueError("bug in a renderer"), address="https://bad.example/")
    await add(
        sessions,
        clock,
        {"idempotency_key": "bad", "address": "https://bad.example/", "level": 5},
        *({"idempotency_key": f"ok{i}"} for i in range(5)),
    )
    with caplog.at_level(logging.ERROR, logger="core.delivery"):
        assert await service(sessions, clock, {"webhook": hook}).deliver_batch() == 6
    stored = await load(sessions)
    assert (stored["bad"].status, stored["bad"].attempts) == ("pending", 1)
    assert stored["bad"].last_error == "ValueError: bug in a renderer"
    assert all(stored[f"ok{i}"].status == "sent" for i in range(5))
    assert f"notification_id={stored['bad'].id} channel=webhook attempt=1" in caplog.text


# --- rate limits ----------------------------------------------------------------------


async def test_rate_limited_rows_wait_without_blocking_others(
    sessions: Sessions, clock: FakeClock
) -> None:
    hook = FakeChannel("webhook")
    limiter = RateLimiter(clock)
    limiter.configure("webhook", rate_per_s=1, burst=1)
    busy, quiet = await endpoint(sessions), await endpoint(sessions)
    await add(
        sessions,
        clock,
        *(
            {"idempotency_key": f"busy{i}", "webhook_endpoint_id": busy, "level": 5}
            for i in range(3)
        ),
        {"idempotency_key": "quiet", "webhook_endpoint_id": quiet, "level": 1},
    )
    worker = service(sessions, clock, {"webhook": hook}, limiter=limiter, max_inline_wait_s=0.0)
    start = clock.now()
    assert await worker.deliver_batch() == 4
    stored = await load(sessions)
    assert sorted(hook.keys) == ["busy0", "quiet"]
    for key in ("busy1", "busy2"):
        assert (stored[key].status, stored[key].attempts) == ("pending", 0)
        assert stored[key].due_at == start + timedelta(seconds=1)
    clock.advance(1)
    await worker.deliver_batch()
    clock.advance(1)
    await worker.deliver_batch()
    assert hook.keys == ["busy0", "quiet", "busy1", "busy2"]


async def test_short_waits_are_spaced_inline_in_one_batch(
    sessions: Sessions, clock: FakeClock
) -> None:
    hook = FakeChannel("webhook")
    limiter = RateLimiter(clock)
    limiter.configure("webhook", rate_per_s=10, burst=1)
    await add(sessions, clock, *({"idempotency_key": f"n{i}", "level": 5 - i} for i in range(5)))
    start = clock.now()
    worker = service(sessions, clock, {"webhook": hook}, limiter=limiter, max_inline_wait_s=1.0)
    assert await worker.deliver_batch() == 5
    assert sorted(hook.keys) == [f"n{i}" for i in range(5)]
    assert hook.keys[0] == "n0"  # the most urgent goes first
    assert clock.now() >= start + timedelta(seconds=0.4)  # slots 0.1 s apart were awaited
    assert {row.attempts for row in (await load(sessions)).values()} == {1}


# --- the worker loop and shutdown -------------------------------------------------------


async def test_run_recovers_expired_leases_at_start(sessions: Sessions, clock: FakeClock) -> None:
    hook = FakeChannel("webhook")
    await add(
        sessions,
        clock,
        *(
            {
                "idempotency_key": f"n{i}",
                "status": "sending",
                "claimed_by": "killed-worker",
                "lease_until": clock.now() - timedelta(seconds=1),
            }
            for i in range(3)
        ),
    )
    metrics = RecordingMetrics()
    stop = asyncio.Event()
    worker = service(sessions, clock, {"webhook": hook}, metrics=metrics)
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: len(hook.keys) == 3)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert {row.status for row in (await load(sessions)).values()} == {"sent"}
    assert ("queue_depth", ()) in metrics.gauges


async def test_signal_wakes_an_idle_worker(sessions: Sessions) -> None:
    hook = FakeChannel("webhook")
    signal = OutboxSignal()
    clock = SystemClock()
    stop = asyncio.Event()
    worker = service(sessions, clock, {"webhook": hook}, signal=signal, idle_s=60.0)
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)  # let it go idle: nothing is due, it would wait 60 s
        await add(sessions, clock, {"idempotency_key": "new"})
        signal.notify()
        await until(lambda: hook.keys == ["new"], seconds=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_shutdown_releases_unfinished_rows(
    sessions: Sessions, clock: FakeClock, how: str
) -> None:
    gate = asyncio.Event()  # never opens: every send hangs
    hook = FakeChannel("webhook", gate=gate)
    await add(sessions, clock, *({"idempotency_key": f"n{i}"} for i in range(8)))
    stop = asyncio.Event()
    worker = service(sessions, clock, {"webhook": hook}, concurrency=3, grace_s=0.5)
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: hook.started == 3)
    if how == "stop":
        stop.set()
        await asyncio.wait_for(task, 10)
    else:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    stored = await load(sessions)
    assert hook.keys == []
    assert {(r.status, r.claimed_by, r.lease_until, r.attempts) for r in stored.values()} == {
        ("pending", None, None, 0)
    }


async def test_shutdown_lets_in_flight_sends_finish(sessions: Sessions) -> None:
    clock = SystemClock()
    hook = FakeChannel("webhook", delay_s=0.3)
    await add(sessions, clock, *({"idempotency_key": f"n{i}"} for i in range(6)))
    stop = asyncio.Event()
    worker = service(sessions, clock, {"webhook": hook}, concurrency=2, grace_s=5.0)
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: hook.started == 2)
    stop.set()
    await asyncio.wait_for(task, 10)
    stored = await load(sessions)
    sent = {k for k, r in stored.items() if r.status == "sent"}
    assert sent == set(hook.keys) and len(sent) == 2  # the two in flight finished
    waiting = [r for r in stored.values() if r.status != "sent"]
    assert len(waiting) == 4
    assert all(r.status == "pending" and r.claimed_by is None for r in waiting)


# --- PostgreSQL: several workers ------------------------------------------------------


async def test_two_workers_deliver_every_row_exactly_once(postgres_url: str) -> None:
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    try:
        makers = [make_sessionmaker(engine) for engine in engines]
        clock = SystemClock()
        hook = FakeChannel("webhook", delay_s=0.002)
        await add(
            makers[0],
            clock,
            *({"idempotency_key": f"n{i:03}", "level": 1 + i % 5} for i in range(500)),
        )
        workers = [
            service(maker, clock, {"webhook": hook}, worker=f"w{n}", batch_size=25)
            for n, maker in enumerate(makers)
        ]

        async def drain(worker: DeliveryService) -> int:
            claimed = 0
            while len(hook.calls) < 500:
                got = await worker.deliver_batch()
                claimed += got
                if not got:
                    await asyncio.sleep(0.01)
            return claimed

        counts = await asyncio.wait_for(asyncio.gather(*(drain(w) for w in workers)), 60)
        assert sum(counts) == 500 and min(counts) > 0  # both really worked
        assert sorted(hook.call_keys) == [f"n{i:03}" for i in range(500)]  # once each
        stored = await load(makers[1])
        assert {r.status for r in stored.values()} == {"sent"}
        assert {r.claimed_by for r in stored.values()} == {"w0", "w1"}
    finally:
        for engine in engines:
            await engine.dispose()
