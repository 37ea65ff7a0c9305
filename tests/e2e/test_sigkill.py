"""The crash proof: SIGKILL the process mid-burst, restart it, and lose nothing.

Four people each watch the whole "mlb" category and own a webhook endpoint on one slow
loopback receiver; one signed batch of 20 events under their price makes 80 webhook
notifications. Once some (not all) are delivered the process is SIGKILLed and started
again on the same SQLite file. Every notification must then arrive with a 2xx, and only
those in flight at the kill (received but not answered before it, or answered but not yet
recorded as sent) may arrive twice. "In flight" is computed from the receiver's log of
request start and answer times versus the moment of the kill, and from the outbox as
the killed process left it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from standardwebhooks import Webhook

from core.db.engine import make_engine, make_sessionmaker
from core.db.models import User, Watch
from tests.e2e.proc_helpers import (
    Arrival,
    BotProcess,
    Endpoint,
    TimedReceiver,
    add_endpoint_blocking,
    bot_env,
    free_port,
    notifications,
    post_batch,
    snapshot,
    utc_now,
    wait_until,
)
from tests.fake_platforms.webhook_receiver import Reply

pytestmark = pytest.mark.slow

PEOPLE = 4
EVENTS = 20
TOTAL = PEOPLE * EVENTS
KILL_AFTER = 20  # answered requests before the SIGKILL
SLOW_S = 0.3  # each webhook request takes this long to answer
PROCESS_ENV = {
    "HDT_DELIVERY_LEASE_S": "2",
    "HDT_WEBHOOK_RATE_PER_S": "4",  # per endpoint: the burst takes seconds, not one
    "HDT_WEBHOOK_BURST": "2",
    "HDT_SHUTDOWN_GRACE_S": "1",
}


async def seed_people(database_url: str) -> list[int]:
    """People who each watch every "mlb" event under $40 (no chat identity: webhooks only)."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            users = [User(display_name=f"fan {n}", timezone="UTC") for n in range(PEOPLE)]
            session.add_all(users)
            await session.flush()
            for user in users:
                session.add(
                    Watch(
                        user_id=user.id,
                        label="mlb under 40",
                        category="mlb",
                        terms=[],
                        max_price=40.0,
                        triggers=["price_below"],
                    )
                )
            return [user.id for user in users]
    finally:
        await engine.dispose()


async def test_sigkill_mid_burst_then_restart_delivers_everything_resending_only_in_flight(
    sqlite_url: str,
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> None:
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    receiver = TimedReceiver(default=Reply(204, delay_s=SLOW_S))
    await receiver.start()
    first = BotProcess(cli_env, bot_env(sqlite_url, free_port(), **PROCESS_ENV), name="first")
    second = BotProcess(cli_env, bot_env(sqlite_url, free_port(), **PROCESS_ENV), name="second")
    try:
        user_ids = await seed_people(sqlite_url)
        endpoints: dict[int, Endpoint] = {}
        for user_id in user_ids:
            url = f"{receiver.url}?person={user_id}"
            endpoint = await asyncio.to_thread(
                add_endpoint_blocking, url, user_id, "alert.triggered"
            )
            endpoints[endpoint.id] = endpoint

        await first.start()
        await first.wait_healthy(http)
        now = utc_now()
        items = [snapshot(f"55{n:03d}", 28.0, now - timedelta(minutes=1)) for n in range(EVENTS)]
        status, report = await post_batch(http, first.base_url, items)
        assert status == 202 and report["accepted"] == EVENTS, report
        queued = await notifications(sqlite_url)
        assert len(queued) == TOTAL, [(r.channel, r.status) for r in queued]
        assert {r.channel for r in queued} == {"webhook"}
        keys = {r.idempotency_key for r in queued}
        assert len(keys) == TOTAL

        killed_at: list[float] = []

        def kill_once_enough_answered(_arrival: Arrival) -> None:
            # Runs right after an answer is written, before the sender can record it.
            if not killed_at and len(receiver.completed_ids()) >= KILL_AFTER:
                killed_at.append(time.monotonic())
                first.send(signal.SIGKILL)

        receiver.on_answered = kill_once_enough_answered

        async def killed() -> bool:
            return bool(killed_at)

        await wait_until(killed, 30, f"{KILL_AFTER} answered webhook requests", 0.05)
        kill_at = killed_at[0]
        assert await first.wait_exit(10) == -signal.SIGKILL
        at_kill = await notifications(sqlite_url)
        sent_at_kill = {r.idempotency_key for r in at_kill if r.status == "sent"}
        assert 0 < len(sent_at_kill) < TOTAL, "the kill must come mid-burst"

        restart_at = time.monotonic()
        await second.start()
        await second.wait_healthy(http)

        async def all_sent() -> bool:
            rows = await notifications(sqlite_url)
            return all(r.status == "sent" for r in rows)

        await wait_until(all_sent, 40, "every notification to be sent after the restart", 0.2)
        second.send(signal.SIGTERM)
        assert await second.wait_exit(15) == 0, second.log_tail()
    finally:
        await first.stop()
        await second.stop()
        await receiver.close()

    log = list(receiver.log)
    old = [a for a in log if a.started < restart_at]  # only the killed process sent these
    new = [a for a in log if a.started >= restart_at]
    answered_before_kill = {
        a.webhook_id
        for a in old
        if a.completed_2xx and a.finished is not None and a.finished <= kill_at
    }
    in_flight = {a.webhook_id for a in old} - answered_before_kill
    unrecorded = answered_before_kill - sent_at_kill
    may_repeat = in_flight | unrecorded

    # The kill really interrupted sends, and nothing answered after it was recorded.
    assert in_flight, "no request was in flight at the kill; the test proves nothing"
    assert not in_flight & sent_at_kill
    assert sent_at_kill <= answered_before_kill
    # Every notification arrived with a 2xx, and the outbox says so.
    final = await notifications(sqlite_url)
    assert {r.idempotency_key for r in final} == keys
    assert all(r.status == "sent" and r.receipt is not None for r in final)
    assert set(receiver.completed_ids()) == keys
    # Only what was in flight (or answered but unrecorded) at the kill came twice.
    arrivals = Counter(a.webhook_id for a in log)
    repeated = {key for key, n in arrivals.items() if n > 1}
    assert repeated <= may_repeat, sorted(repeated - may_repeat)
    assert max(arrivals.values()) <= 2
    # The kill came right after an answer was written, before the sender could record it:
    # those (answered but unrecorded) are the only ones answered 2xx twice.
    assert unrecorded, "the last answer before the kill cannot have been recorded"
    twice_2xx = {k for k, n in Counter(receiver.completed_ids()).items() if n > 1}
    assert twice_2xx == unrecorded
    # After the restart: exactly the unrecorded sends and the never-sent ones, once each.
    assert Counter(a.webhook_id for a in new) == dict.fromkeys(keys - sent_at_kill, 1)
    assert "recovered" in second.log_path.read_text()
    # And every request, before and after the crash, is signed with its endpoint's secret.
    endpoint_of = {r.idempotency_key: r.webhook_endpoint_id for r in final}
    assert receiver.unexpected == []
    for request in receiver.requests:
        endpoint = endpoints[endpoint_of[request.headers["webhook-id"]]]
        Webhook(endpoint.secret).verify(request.body, dict(request.headers))
