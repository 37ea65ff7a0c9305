"""A batch slower than one lease keeps its claim (its leases are renewed while it runs):
another worker's recovery must not take its rows and send them a second time."""

from __future__ import annotations

import asyncio
import random

from core.backoff import RetryPolicies
from core.clock import FakeClock
from core.delivery import DeliveryService
from core.metrics import RecordingMetrics
from core.outbox import recover_expired_leases
from core.ratelimit import RateLimiter
from tests.fakes.channels import FakeChannel
from tests.integration.test_delivery import Sessions, add, load, until


async def test_a_long_batch_renews_its_leases(sessions: Sessions, clock: FakeClock) -> None:
    await add(sessions, clock, {"idempotency_key": "slow"})
    gate = asyncio.Event()
    hook = FakeChannel("webhook", gate=gate)
    worker = DeliveryService(
        sessions, {"webhook": hook}, clock, random.Random(5),
        RetryPolicies.from_settings(2.0, 2.0, 60.0, [3, 3, 3, 3, 3]),
        RateLimiter(clock), RecordingMetrics(), "w1", 0.3,
    )  # fmt: skip
    batch = asyncio.create_task(worker.deliver_batch())
    await until(lambda: hook.started == 1)
    clock.advance(0.5)  # the claim's own lease has run out
    await asyncio.sleep(0.25)  # a renewal (every lease / 3 of wall time) has happened

    async with sessions() as session, session.begin():
        assert await recover_expired_leases(session, clock.now()) == 0

    gate.set()
    assert await batch == 1
    assert (await load(sessions))["slow"].status == "sent"
    assert hook.keys == ["slow"]
