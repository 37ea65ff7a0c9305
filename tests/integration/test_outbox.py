"""The outbox repository on SQLite and PostgreSQL: claim order, leases, outcomes, signal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Notification
from core.domain import Button, ChannelKind, DeliveryReceipt, Level
from core.outbox import (
    DELAYED,
    OutboxSignal,
    claim,
    mark_dead,
    mark_failed,
    mark_sent,
    next_due_at,
    queue_depth,
    recover_expired_leases,
    release,
    schedule_retry,
    to_outbound,
)

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


def note(key: str, *, level: int = 3, due: float = -1.0, **fields: Any) -> Notification:
    """A pending webhook notification due `due` seconds from NOW."""
    values: dict[str, Any] = {
        "channel": "webhook",
        "address": "https://hooks.example/1",
        "level": level,
        "payload": {"title": key, "body": "b"},
        "idempotency_key": key,
        "status": "pending",
        "due_at": NOW + timedelta(seconds=due),
        "created_at": NOW - timedelta(minutes=1),
    }
    values.update(fields)
    return Notification(**values)


async def add(sessions: Sessions, *rows: Notification) -> None:
    async with sessions() as session, session.begin():
        session.add_all(rows)


async def by_key(sessions: Sessions) -> dict[str, Notification]:
    async with sessions() as session:
        rows = (await session.execute(select(Notification))).scalars().all()
    return {row.idempotency_key: row for row in rows}


async def claim_now(
    sessions: Sessions,
    worker: str = "w1",
    limit: int = 100,
    lease_s: float = 30.0,
    at: datetime = NOW,
) -> list[Notification]:
    async with sessions() as session, session.begin():
        return await claim(session, worker, at, limit, lease_s)


async def test_claim_orders_by_level_then_score_then_due_time(sessions: Sessions) -> None:
    await add(
        sessions,
        note("low-early", level=1, due=-600),
        note("mid-late", level=3, due=-1),
        note("mid-early", level=3, due=-300),
        note("mid-early-high-score", level=3, due=-5, score=0.9),
        note("critical-late", level=5, due=-1),
        note("critical-future", level=5, due=+60),
        note("sent-already", level=5, due=-900, status="sent"),
    )
    claimed = await claim_now(sessions)
    assert [row.idempotency_key for row in claimed] == [
        "critical-late",
        "mid-early-high-score",
        "mid-early",
        "mid-late",
        "low-early",
    ]
    assert all(row.status == "sending" and row.claimed_by == "w1" for row in claimed)
    assert all(row.lease_until == NOW + timedelta(seconds=30) for row in claimed)
    stored = await by_key(sessions)
    assert stored["critical-future"].status == "pending"
    assert stored["sent-already"].status == "sent"
    assert stored["low-early"].status == "sending"


async def test_claim_takes_the_limit_and_never_claims_twice(sessions: Sessions) -> None:
    await add(sessions, *(note(f"n{i:02}", level=1 + i % 5, due=-i) for i in range(25)))
    first = await claim_now(sessions, "w1", limit=10)
    second = await claim_now(sessions, "w2", limit=10)
    third = await claim_now(sessions, "w3", limit=10)
    assert (len(first), len(second), len(third)) == (10, 10, 5)
    keys = [row.idempotency_key for row in first + second + third]
    assert len(set(keys)) == 25
    # Every level-5 row went out in the first claim.
    assert {row.level for row in first} >= {5}
    assert min(row.level for row in first) >= max(row.level for row in third)
    assert await claim_now(sessions, "w4") == []


async def test_expired_leases_are_recovered_and_claimed_again(sessions: Sessions) -> None:
    await add(sessions, note("a"), note("b"), note("c", due=-2))
    claimed = await claim_now(sessions, "dead-worker", lease_s=30)
    assert len(claimed) == 3
    async with sessions() as session, session.begin():
        assert await recover_expired_leases(session, NOW + timedelta(seconds=29)) == 0
    assert await claim_now(sessions, "w2", at=NOW + timedelta(seconds=29)) == []
    async with sessions() as session, session.begin():
        assert await recover_expired_leases(session, NOW + timedelta(seconds=31)) == 3
    stored = await by_key(sessions)
    assert {row.status for row in stored.values()} == {"pending"}
    assert {row.claimed_by for row in stored.values()} == {None}
    assert {row.lease_until for row in stored.values()} == {None}
    again = await claim_now(sessions, "w2", at=NOW + timedelta(seconds=31))
    assert [row.idempotency_key for row in again] == ["c", "a", "b"]


async def test_outcomes_are_recorded(sessions: Sessions) -> None:
    await add(sessions, *(note(k) for k in ("sent", "retry", "failed", "dead", "released")))
    rows = {row.idempotency_key: row for row in await claim_now(sessions)}
    later = NOW + timedelta(seconds=90)
    receipt = DeliveryReceipt(ChannelKind.WEBHOOK, "https://hooks.example/1", "msg-1", "200")
    async with sessions() as session, session.begin():
        await mark_sent(session, rows["sent"], worker_id="w1", receipt=receipt, now=NOW)
        await schedule_retry(session, rows["retry"], worker_id="w1", due_at=later, error="503")
        await mark_failed(session, rows["failed"], worker_id="w1", error="400 bad request")
        await mark_dead(session, rows["dead"], worker_id="w1", error="gave up")
        await release(session, [rows["released"]], worker_id="w1")
    stored = await by_key(sessions)
    sent = stored["sent"]
    assert (sent.status, sent.attempts, sent.sent_at, sent.lease_until) == ("sent", 1, NOW, None)
    assert sent.receipt == {
        "channel": "webhook",
        "address": "https://hooks.example/1",
        "message_id": "msg-1",
        "detail": "200",
    }
    retry = stored["retry"]
    assert (retry.status, retry.attempts, retry.due_at, retry.last_error) == (
        "pending",
        1,
        later,
        "503",
    )
    assert retry.claimed_by is None and retry.lease_until is None
    assert (stored["failed"].status, stored["failed"].last_error) == ("failed", "400 bad request")
    assert stored["dead"].status == "dead"
    released = stored["released"]
    assert (released.status, released.attempts, released.claimed_by) == ("pending", 0, None)
    async with sessions() as session:
        assert await queue_depth(session) == 2
        assert await next_due_at(session) == NOW - timedelta(seconds=1)


async def test_a_worker_cannot_overwrite_a_row_it_no_longer_holds(sessions: Sessions) -> None:
    await add(sessions, note("x"))
    (stale,) = await claim_now(sessions, "slow", lease_s=10)
    async with sessions() as session, session.begin():
        await recover_expired_leases(session, NOW + timedelta(seconds=11))
    (fresh,) = await claim_now(sessions, "fast", at=NOW + timedelta(seconds=11))
    async with sessions() as session, session.begin():
        await mark_failed(session, stale, worker_id="slow", error="late news")
    stored = (await by_key(sessions))["x"]
    assert (stored.status, stored.claimed_by, stored.last_error) == ("sending", "fast", None)
    assert fresh.id == stale.id


async def test_to_outbound_builds_the_neutral_message(sessions: Sessions) -> None:
    payload = {
        "event_type": "alert.updated",
        "title": "Rockies at Diamondbacks: $28",
        "body": "Under your max of $40",
        "buttons": [
            {"label": "Acknowledge", "action": "ack", "token": "t1", "url": None},
            {"label": "Open", "action": "open", "token": None, "url": "https://x/1"},
        ],
        "edit_of": {"channel": "telegram", "address": "42", "message_id": "7", "detail": None},
    }
    await add(sessions, note("k", level=4, channel="telegram", address="42", payload=payload))
    (row,) = await claim_now(sessions)
    message = to_outbound(row)
    assert message.notification_id == row.id and message.idempotency_key == "k"
    assert (message.channel, message.address, message.level) == (
        ChannelKind.TELEGRAM,
        "42",
        Level.HIGH,
    )
    assert (message.title, message.body) == (payload["title"], payload["body"])
    assert message.buttons == (
        Button("Acknowledge", "t1", None),
        Button("Open", None, "https://x/1"),
    )
    assert message.edit_of == DeliveryReceipt(ChannelKind.TELEGRAM, "42", "7", None)
    assert message.payload["event_type"] == "alert.updated"
    bare = to_outbound(note("plain", payload={}))
    assert (bare.title, bare.buttons, bare.edit_of) == ("", (), None)
    assert to_outbound(row, row.created_at + timedelta(minutes=14)).body == payload["body"]
    # Sent long after it was written (the process was down, say): it says how long ago.
    assert to_outbound(row, row.created_at + timedelta(hours=2)).body == (
        "⏳ Written 2 h ago. Prices may have moved.\nUnder your max of $40"
    )

    # Parked, then sent two hours after it was queued: a chat message says so first; a
    # webhook event (a signed contract with its own timestamp) is left as it is.
    parked = {**payload, DELAYED: "2024-03-20T12:00:00+00:00"}
    late = note("late", channel="telegram", address="42", payload=parked)
    late.created_at = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
    two_hours = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)
    assert to_outbound(late, two_hours).body == (
        "⏳ Sent 2 h late: telegram could not be reached. Prices may have moved.\n"
        "Under your max of $40"
    )
    hook = note("hook", channel="webhook", payload=parked)
    hook.created_at = late.created_at
    assert to_outbound(hook, two_hours).body == payload["body"]


async def test_skip_locked_lets_two_open_transactions_claim_disjoint_rows(
    postgres_url: str,
) -> None:
    """PostgreSQL: a claim in progress (uncommitted) is skipped by another worker."""
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    try:
        one, two = (make_sessionmaker(engine) for engine in engines)
        await add(one, *(note(f"r{i}", due=-i) for i in range(6)))
        async with one() as first, first.begin():
            mine = await claim(first, "w1", NOW, 4, 30)
            async with two() as second, second.begin():
                theirs = await asyncio.wait_for(claim(second, "w2", NOW, 4, 30), 10)
        assert len(mine) == 4 and len(theirs) == 2
        assert not {r.id for r in mine} & {r.id for r in theirs}
    finally:
        for engine in engines:
            await engine.dispose()


async def test_signal_wakes_a_waiting_worker() -> None:
    signal = OutboxSignal()
    assert await signal.wait(0.01) is False
    waiter = asyncio.create_task(signal.wait(5))
    await asyncio.sleep(0)
    signal.notify()
    assert await asyncio.wait_for(waiter, 5) is True
    signal.notify()  # a notification before anyone waits is not lost...
    assert await signal.wait(0.01) is True
    assert await signal.wait(0.01) is False  # ...and it is consumed by the wake-up


def _alert_row(created: datetime, due: datetime, **fields: Any) -> Notification:
    """A chat alert message about a $28 price, written at `created` for `due`."""
    payload = {
        "title": "Rockies at Diamondbacks — $28",
        "body": "Under your max of $40",
        "data": {"alert": {"price": 28.0}, "market": {"currency": "USD"}},
    }
    values: dict[str, Any] = {
        "kind": "alert", "channel": "telegram", "address": "42", "level": 3, "attempts": 0,
        "payload": payload, "idempotency_key": "held", "status": "sending",
        "created_at": created, "due_at": due,
    }  # fmt: skip
    return Notification(**(values | fields))


def test_a_message_held_for_quiet_hours_says_so_and_gives_the_price_now() -> None:
    written = datetime(2024, 3, 20, 22, 5, tzinfo=UTC)
    morning = datetime(2024, 3, 21, 7, 0, tzinfo=UTC)
    held = _alert_row(written, morning)

    assert to_outbound(held, morning, 39.0).body == (
        "🌙 Held 8 h 55 min for your quiet hours. The price is now $39 (it was $28).\n"
        "Under your max of $40"
    )
    assert to_outbound(held, morning, 28.0).body.startswith(
        "🌙 Held 8 h 55 min for your quiet hours. The price is still $28.\n"
    )
    assert to_outbound(held, morning).body.startswith(
        "🌙 Held 8 h 55 min for your quiet hours. Prices may have moved.\n"
    )
    # In the event's own currency.
    pounds = _alert_row(written, morning)
    pounds.payload = {**pounds.payload, "data": {"alert": {"price": 28.0},
                                                 "market": {"currency": "GBP"}}}  # fmt: skip
    assert "now £39 (it was £28)" in to_outbound(pounds, morning, 39.0).body
    # Failed once at 07:00 and retried: not held any more, but still late.
    retried = _alert_row(written, morning, attempts=1)
    assert to_outbound(retried, morning, 39.0).body.startswith(
        "⏳ Written 8 h 55 min ago. The price is now $39 (it was $28).\n"
    )
    # Parked during an outage: the channel is named, and the price now given.
    parked = _alert_row(written, morning, payload={**held.payload, DELAYED: written.isoformat()})
    assert to_outbound(parked, morning, 30.0).body.startswith(
        "⏳ Sent 8 h 55 min late: telegram could not be reached."
        " The price is now $30 (it was $28).\n"
    )


def test_no_late_note_on_prompt_sends_edits_webhooks_or_texts() -> None:
    written = datetime(2024, 3, 20, 22, 5, tzinfo=UTC)
    prompt = _alert_row(written, written)
    assert to_outbound(prompt, written + timedelta(minutes=2), 39.0).body == "Under your max of $40"
    edit = _alert_row(written, written, kind="update")
    assert to_outbound(edit, written + timedelta(hours=3), 39.0).body == "Under your max of $40"
    for channel in ("webhook", "sms"):
        row = _alert_row(written, written + timedelta(hours=9), channel=channel)
        assert to_outbound(row, written + timedelta(hours=9), 39.0).body == "Under your max of $40"
