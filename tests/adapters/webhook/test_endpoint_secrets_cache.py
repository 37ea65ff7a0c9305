"""EndpointSecrets reads an endpoint's row at most once per `max_age_s`, and decrypts each
stored secret once; a change to the row reaches sends once that time has passed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.webhook.secrets import (
    EndpointSecrets,
    SecretBox,
    generate_secret,
    new_entry,
    rotate_entries,
)
from core.clock import FakeClock
from core.db.models import WebhookEndpoint
from core.errors import PermanentDeliveryError


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingBox(SecretBox):
    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.decrypted = 0

    def decrypt(self, token: str) -> str:
        self.decrypted += 1
        return super().decrypt(token)


@contextmanager
def endpoint_reads(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements that read `webhook_endpoints`, as they run."""
    seen: list[str] = []

    def on_execute(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "webhook_endpoints" in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


async def _endpoint(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, clock: FakeClock
) -> tuple[int, str]:
    secret = generate_secret()
    async with sessions() as session, session.begin():
        row = WebhookEndpoint(
            url="https://a.example/h", secrets=[new_entry(box, secret, clock.now())], event_types=[]
        )
        session.add(row)
        await session.flush()
        return row.id, secret


async def test_sends_within_max_age_read_and_decrypt_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    box = CountingBox(b"k")
    endpoint_id, secret = await _endpoint(sessions, box, clock)
    ticks = Ticks()
    resolve = EndpointSecrets(sessions, box, clock, max_age_s=1.0, monotonic=ticks)

    with endpoint_reads(engine) as reads:
        for _ in range(50):
            assert await resolve(endpoint_id) == [secret]
            ticks.now += 0.01
    assert len(reads) == 1
    assert box.decrypted == 1


async def test_a_rotation_or_disable_reaches_sends_after_max_age(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    box = SecretBox(b"k")
    endpoint_id, first = await _endpoint(sessions, box, clock)
    ticks = Ticks()
    resolve = EndpointSecrets(sessions, box, clock, max_age_s=1.0, monotonic=ticks)
    assert await resolve(endpoint_id) == [first]

    async with sessions() as session, session.begin():
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        row.secrets, second = rotate_entries(row.secrets, box, clock.now())
    ticks.now += 0.5
    assert await resolve(endpoint_id) == [first]  # what was read half a second ago
    ticks.now += 0.5
    assert await resolve(endpoint_id) == [second, first]

    async with sessions() as session, session.begin():
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(active=False, disabled_reason="410 Gone")
        )
    ticks.now += 1.0
    with pytest.raises(PermanentDeliveryError, match="disabled"):
        await resolve(endpoint_id)


async def test_expiry_is_judged_on_every_call(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    box = SecretBox(b"k")
    endpoint_id, first = await _endpoint(sessions, box, clock)
    async with sessions() as session, session.begin():
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        row.secrets, second = rotate_entries(row.secrets, box, clock.now())
    ticks = Ticks()
    resolve = EndpointSecrets(sessions, box, clock, max_age_s=60.0, monotonic=ticks)
    assert await resolve(endpoint_id) == [second, first]
    clock.advance(hours=25)  # the old secret's grace is over; the row was not read again
    assert await resolve(endpoint_id) == [second]


async def test_concurrent_sends_share_one_read(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    box = SecretBox(b"k")
    endpoint_id, secret = await _endpoint(sessions, box, clock)
    resolve = EndpointSecrets(sessions, box, clock, monotonic=Ticks())

    with endpoint_reads(engine) as reads:
        answers = await asyncio.gather(*(resolve(endpoint_id) for _ in range(20)))
    assert answers == [[secret]] * 20
    assert len(reads) == 1


async def test_a_failed_read_is_not_remembered(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    box = SecretBox(b"k")
    endpoint_id, secret = await _endpoint(sessions, box, clock)
    calls = 0

    def flaky() -> AsyncSession:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return sessions()

    resolve = EndpointSecrets(flaky, box, clock, monotonic=Ticks())  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await resolve(endpoint_id)
    assert await resolve(endpoint_id) == [secret]  # read again at once, not an hour later
