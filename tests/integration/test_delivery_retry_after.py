"""Delivery survives a receiver's absurd Retry-After (SQLite and PostgreSQL).

A 429 with `Retry-After: 1e12`, an epoch timestamp as seconds, or an HTTP-date in the
year 9999 makes the row wait an hour at most (`core.backoff.MAX_RETRY_AFTER_S`), counted
as one attempt, and holds the endpoint's other rows back as long: never a task that dies
(which left the row due at once, so the receiver was sent it again and again) nor an
endpoint blocked for decades. If honouring a Retry-After fails anyway, the row still
waits its backoff.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.webhook.channel import WebhookChannel
from adapters.webhook.secrets import EndpointSecrets, SecretBox, generate_secret, new_entry
from adapters.webhook.ssrf import SsrfPolicy
from core.backoff import MAX_RETRY_AFTER_S
from core.clock import FakeClock
from core.db.models import WebhookEndpoint
from core.errors import RetryableDeliveryError
from core.ratelimit import RateLimiter, Scope
from tests.fake_platforms.webhook_receiver import Reply, WebhookReceiver
from tests.fakes.channels import FakeChannel
from tests.integration.test_delivery import Sessions, add, endpoint, load, service

BOX = SecretBox(b"delivery-retry-after-test-key")
PAYLOAD = {"event_type": "alert.triggered", "timestamp": "2024-03-20T12:00:00Z", "data": {}}


async def signed_endpoint(sessions: Sessions, url: str, clock: FakeClock) -> int:
    async with sessions() as session, session.begin():
        row = WebhookEndpoint(
            url=url,
            secrets=[new_entry(BOX, generate_secret(), clock.now())],
            event_types=["alert.triggered"],
            active=True,
            consecutive_failures=0,
            created_at=clock.now(),
        )
        session.add(row)
        await session.flush()
        return row.id


@pytest.mark.parametrize("retry_after", ["1e12", "1710936000", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_huge_retry_after_makes_the_endpoint_wait_an_hour(
    sessions: Sessions, clock: FakeClock, retry_after: str
) -> None:
    async with WebhookReceiver(default=Reply(429, {"Retry-After": retry_after}, "later")) as rx:
        endpoint_id = await signed_endpoint(sessions, rx.url, clock)
        row = {"webhook_endpoint_id": endpoint_id, "address": rx.url, "payload": PAYLOAD}
        await add(sessions, clock, {**row, "idempotency_key": "first"})
        channel = WebhookChannel(
            EndpointSecrets(sessions, BOX, clock), SsrfPolicy.parse(["127.0.0.1"]), clock=clock
        )
        worker = service(sessions, clock, {"webhook": channel})  # type: ignore[dict-item]
        try:
            for _ in range(3):
                await worker.deliver_batch()
            await add(sessions, clock, {**row, "idempotency_key": "second"})
            await worker.deliver_batch()
        finally:
            await channel.close()
        sent = len(rx.requests)
    rows = await load(sessions)
    hour = clock.now() + timedelta(seconds=MAX_RETRY_AFTER_S)
    first, second = rows["first"], rows["second"]
    assert sent == 1, f"the receiver was sent {sent} requests"
    assert (first.status, first.attempts, first.due_at) == ("pending", 1, hour)
    assert "answered 429" in (first.last_error or "")
    assert (second.status, second.attempts, second.due_at) == ("pending", 0, hour)


class BrokenLimiter(RateLimiter):
    """A limiter whose 429 bookkeeping fails, as an overflowing date once did."""

    def penalise(self, scope: Scope, retry_after: float) -> None:
        raise OverflowError("date value out of range")


async def test_a_fault_while_honouring_retry_after_still_retries_with_backoff(
    sessions: Sessions, clock: FakeClock
) -> None:
    hook = FakeChannel("webhook")
    hook.script(RetryableDeliveryError("webhook hooks.example answered 429", retry_after=5.0))
    endpoint_id = await endpoint(sessions)
    await add(sessions, clock, {"idempotency_key": "n1", "webhook_endpoint_id": endpoint_id})
    worker = service(sessions, clock, {"webhook": hook}, limiter=BrokenLimiter(clock))

    for _ in range(3):
        await worker.deliver_batch()

    row = (await load(sessions))["n1"]
    assert len(hook.calls) == 1, "the row was sent again at once"
    assert (row.status, row.attempts) == ("pending", 1)
    assert clock.now() < row.due_at <= clock.now() + timedelta(seconds=60)  # the level's cap
    assert row.last_error == "webhook hooks.example answered 429"
