"""A message held for quiet hours goes out saying so, with the alert's price then and now:
nobody wakes to a price from last night as if it were this morning's."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from core.backoff import RetryPolicies
from core.clock import FakeClock
from core.delivery import DeliveryService
from core.metrics import RecordingMetrics
from core.ratelimit import RateLimiter
from tests.fakes.channels import FakeChannel
from tests.integration.engine_helpers import (
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


async def test_a_held_message_tells_the_price_it_was_written_at_and_the_price_now(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        user = await add_user(session, timezone="America/New_York", quiet=("22:00", "07:00"))
        event = await add_event(session)
        seed = Seed(user, event, await add_watch(session, user, event))
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, datetime(2024, 3, 20, 3, 0, tzinfo=NY), 28.0)
    # Still under the $40 max, but dearer: the held message is not rewritten.
    await process_snapshot(sessions, engine, seed, datetime(2024, 3, 20, 5, 0, tzinfo=NY), 33.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (held,) = await notifications_of(session)
    assert (alert.price, held.payload["data"]["alert"]["price"]) == (33.0, 28.0)

    morning = datetime(2024, 3, 20, 7, 0, tzinfo=NY)
    clock = FakeClock(morning)
    telegram = FakeChannel("telegram")
    worker = DeliveryService(
        sessions, {"telegram": telegram}, clock, random.Random(5),
        RetryPolicies.from_settings(2.0, 2.0, 60.0, [3, 3, 3, 3, 3]), RateLimiter(clock),
        RecordingMetrics(), "w1", 30.0,
    )  # fmt: skip
    assert await worker.deliver_batch() == 1

    (sent,) = telegram.sent
    first, *rest = sent.body.splitlines()
    assert first == "🌙 Held 4 h for your quiet hours. The price is now $33 (it was $28)."
    assert rest == held.payload["body"].splitlines()
