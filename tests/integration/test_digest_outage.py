"""A digest survives a chat outage like any other message.

README: "with nowhere to fail over to, a message is retried every cap until its event starts,
for at most a day". A person whose only chat is Telegram: Telegram is down for a minute
when the hourly digest goes out. The summary row (no alert of its own) exhausts the level-1
attempts (4 by default) in ~15 s; it must be parked, not dropped, because compose_digests
has already cancelled its items.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from core.backoff import RetryPolicies
from core.clock import FakeClock
from core.db.models import Notification
from core.delivery import DeliveryService
from core.digest import compose_digests
from core.errors import RetryableDeliveryError
from core.metrics import RecordingMetrics
from core.ratelimit import RateLimiter
from tests.fakes.channels import FakeChannel
from tests.integration.test_delivery import Sessions, alert_for, person


async def test_digest_survives_a_one_minute_outage(sessions: Sessions, clock: FakeClock) -> None:
    user_id = await person(sessions, {"telegram": "tg-1"}, ["telegram"])
    alert_id = await alert_for(sessions, user_id)
    now = clock.now()
    async with sessions() as session, session.begin():
        for n in (1, 2):
            session.add(
                Notification(
                    kind="digest", alert_id=alert_id if n == 1 else None, user_id=user_id,
                    channel="telegram", address="tg-1", level=1,
                    payload={"event_type": "digest", "title": f"alert {n}", "body": ""},
                    idempotency_key=f"item-{n}", status="pending", due_at=now,
                    created_at=now - timedelta(minutes=30),
                )
            )  # fmt: skip
    async with sessions() as session, session.begin():
        assert await compose_digests(session, now) == 1

    telegram = FakeChannel("telegram")
    telegram.fail_always(RetryableDeliveryError("HTTP 502"), count=1000)
    # the production defaults: base 2 s, factor 2, cap 600 s, attempts 4,6,8,10,12
    worker = DeliveryService(
        sessions, {"telegram": telegram}, clock, random.Random(5),
        RetryPolicies.from_settings(2.0, 2.0, 600.0, [4, 6, 8, 10, 12]),
        RateLimiter(clock), RecordingMetrics(), "w1", 30.0,
    )  # fmt: skip
    start = clock.now()
    for _ in range(20):  # Telegram down for the first 60 s
        await worker.deliver_batch()
        async with sessions() as session:
            summary = await session.scalar(
                select(Notification).where(Notification.kind == "digest_summary")
            )
        assert summary is not None
        if summary.status != "pending" or summary.due_at - start > timedelta(seconds=60):
            died_after = clock.now() - start
            break
        clock.set(max(summary.due_at, clock.now()))
    # Telegram is back a minute later.
    telegram._errors.clear()
    clock.set(start + timedelta(seconds=600))
    await worker.deliver_batch()
    clock.set(start + timedelta(seconds=1200))
    await worker.deliver_batch()
    async with sessions() as session:
        summary = await session.scalar(
            select(Notification).where(Notification.kind == "digest_summary")
        )
    assert summary is not None
    assert summary.status == "sent", (
        f"digest summary ended {summary.status!r} after {summary.attempts} attempts "
        f"({summary.last_error}) {died_after.total_seconds():.0f} s into the outage"
    )
