"""The end of quiet hours: the 3 most important held alert messages of one destination go
out as they are, the rest in one "while your quiet hours were on" summary."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.actions import ActionSigner
from core.alerts import resolve
from core.backoff import RetryPolicies
from core.chat import CommandContext
from core.clock import FakeClock, ensure_utc
from core.db.engine import make_engine, make_sessionmaker
from core.delivery import DeliveryService
from core.digest import compose_held
from core.handlers import CommandHandlers
from core.metrics import RecordingMetrics
from core.ratelimit import RateLimiter
from tests.fakes.channels import FakeChannel
from tests.integration.engine_helpers import (
    SECRET,
    Seed,
    Sessions,
    add_event,
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    notifications_of,
    process_snapshot,
)

NY = ZoneInfo("America/New_York")
NIGHT = datetime(2024, 3, 20, 1, 0, tzinfo=NY)
MORNING = datetime(2024, 3, 20, 7, 0, tzinfo=NY)
LEAD = timedelta(seconds=90)


async def _night(sessions: Sessions, count: int) -> list[Seed]:
    """`count` events watched by one person with quiet hours 22:00-07:00, each alerting
    once during the night (a cheaper price for each: different scores)."""
    async with sessions() as session, session.begin():
        user = await add_user(session, timezone="America/New_York", quiet=("22:00", "07:00"))
        seeds = []
        for n in range(count):
            event = await add_event(session, external_id=f"ev-{n}", name=f"Game {n}")
            seeds.append(Seed(user, event, await add_watch(session, user, event)))
    engine = await fresh_engine(sessions)
    for n, seed in enumerate(seeds):
        when = NIGHT + timedelta(minutes=10 * n)
        await process_snapshot(sessions, engine, seed, when, 30.0 - n)
    return seeds


def _worker(sessions: Sessions, clock: FakeClock, telegram: FakeChannel) -> DeliveryService:
    return DeliveryService(
        sessions, {"telegram": telegram}, clock, random.Random(5),
        RetryPolicies.from_settings(2.0, 2.0, 60.0, [3, 3, 3, 3, 3]), RateLimiter(clock),
        RecordingMetrics(), "w1", 30.0,
    )  # fmt: skip


async def _morning(sessions: Sessions, clock: FakeClock) -> list[FakeChannel]:
    """The scheduler's merge shortly before 07:00, then delivery at 07:00."""
    clock.set(MORNING - timedelta(seconds=30))
    async with sessions() as session, session.begin():
        await compose_held(session, clock.now(), LEAD)
    clock.set(MORNING)
    telegram = FakeChannel("telegram")
    worker = _worker(sessions, clock, telegram)
    while await worker.deliver_batch():
        pass
    return [telegram]


async def test_eight_held_alerts_wake_the_person_with_three_messages_and_a_summary(
    sessions: Sessions,
) -> None:
    await _night(sessions, 8)
    async with sessions() as session:
        alerts = await alerts_of(session)
        held = await notifications_of(session)
    assert len(alerts) == 8 and all(1 < a.level < 5 for a in alerts)
    assert {ensure_utc(r.due_at) for r in held} == {MORNING}
    clock = FakeClock(MORNING - timedelta(minutes=1))
    (telegram,) = await _morning(sessions, clock)

    ranked = sorted(alerts, key=lambda a: (a.level, a.score), reverse=True)
    top, rest = ranked[:3], ranked[3:]
    assert len(telegram.sent) == 4
    singles, (summary,) = telegram.sent[:3], telegram.sent[3:]
    assert sorted(m.payload["data"]["alert"]["id"] for m in singles) == sorted(a.id for a in top)
    assert summary.title == "🌙 While your quiet hours were on: 5 more alerts"
    lines = summary.body.splitlines()
    assert len(lines) == 5
    assert sorted(int(line.split()[1][1:]) for line in lines) == sorted(a.id for a in rest)
    assert all("Game" in line for line in lines)
    assert all(m.body.startswith("🌙 Held ") for m in singles)  # as before: they say so


async def test_three_held_alerts_come_as_three_messages_without_a_summary(
    sessions: Sessions,
) -> None:
    await _night(sessions, 3)
    clock = FakeClock(MORNING - timedelta(minutes=1))
    (telegram,) = await _morning(sessions, clock)
    assert len(telegram.sent) == 3
    assert all(m.payload.get("event_type") != "digest" for m in telegram.sent)


async def test_an_alert_resolved_in_the_night_is_neither_sent_nor_listed(
    sessions: Sessions,
) -> None:
    await _night(sessions, 6)
    async with sessions() as session, session.begin():
        alerts = await alerts_of(session)
        gone = min(alerts, key=lambda a: (a.level, a.score))  # would have been summarized
        await resolve(session, gone, "resolved by an admin", NIGHT + timedelta(hours=3))
    clock = FakeClock(MORNING - timedelta(minutes=1))
    (telegram,) = await _morning(sessions, clock)
    assert len(telegram.sent) == 4
    summary = telegram.sent[-1]
    assert summary.title == "🌙 While your quiet hours were on: 2 more alerts"
    assert f"#{gone.id} " not in summary.body
    assert all(
        m.payload.get("data", {}).get("alert", {}).get("id") != gone.id for m in telegram.sent
    )


async def test_rerunning_the_merge_changes_nothing(sessions: Sessions) -> None:
    await _night(sessions, 8)
    at = MORNING - timedelta(seconds=30)
    async with sessions() as session, session.begin():
        assert await compose_held(session, at, LEAD) == 1
    async with sessions() as session:
        before = [(r.id, r.status, r.kind, r.last_error) for r in await notifications_of(session)]
    for later in (at, at + timedelta(seconds=30), MORNING + timedelta(minutes=5)):
        async with sessions() as session, session.begin():
            assert await compose_held(session, later, LEAD) == 0
    async with sessions() as session:
        after = [(r.id, r.status, r.kind, r.last_error) for r in await notifications_of(session)]
    assert after == before
    assert sum(1 for r in after if r[2] == "digest_summary") == 1
    assert sum(1 for r in after if r[1] == "cancelled") == 5


async def test_a_summarized_alert_can_be_acknowledged_and_leaves_the_summary(
    sessions: Sessions,
) -> None:
    seeds = await _night(sessions, 5)
    clock = FakeClock(MORNING - timedelta(seconds=30))
    async with sessions() as session, session.begin():
        assert await compose_held(session, clock.now(), LEAD) == 1
    async with sessions() as session:
        rows = await notifications_of(session)
    merged = [r for r in rows if r.status == "cancelled"]
    assert len(merged) == 2
    summary = next(r for r in rows if r.kind == "digest_summary")
    assert all(r.last_error == f"sent in digest notification {summary.id}" for r in merged)
    acked_id = merged[0].alert_id
    handlers = CommandHandlers(sessions, clock, random.Random(1), ActionSigner(SECRET))
    me = CommandContext(seeds[0].user.id, "telegram", "tg-100")
    reply = await handlers.handle_text(me, f"ack {acked_id}")
    assert not reply.is_error and f"Acknowledged alert #{acked_id}" in reply.text
    clock.set(MORNING)
    telegram = FakeChannel("telegram")
    worker = _worker(sessions, clock, telegram)
    while await worker.deliver_batch():
        pass
    assert len(telegram.sent) == 4
    assert telegram.sent[-1].title == "🌙 While your quiet hours were on: 1 more alert"
    body = telegram.sent[-1].body
    assert f"#{acked_id} " not in body and f"#{merged[1].alert_id} " in body


async def test_two_processes_merge_a_night_once(postgres_url: str) -> None:
    """PostgreSQL: a merge in progress (uncommitted) holds its rows; another process's
    merge leaves that destination alone, and after the commit finds nothing to do."""
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    try:
        one, two = (make_sessionmaker(engine) for engine in engines)
        await _night(one, 8)
        at = MORNING - timedelta(seconds=30)
        async with one() as first, first.begin():
            assert await compose_held(first, at, LEAD) == 1
            async with two() as second, second.begin():
                assert await asyncio.wait_for(compose_held(second, at, LEAD), 10) == 0
        async with two() as second, second.begin():
            assert await compose_held(second, at, LEAD) == 0
        async with one() as session:
            rows = await notifications_of(session)
        assert [r.kind for r in rows].count("digest_summary") == 1
        assert [r.status for r in rows].count("cancelled") == 5
    finally:
        for engine in engines:
            await engine.dispose()
