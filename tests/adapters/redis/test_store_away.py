"""A shared rate-limit store that hangs costs delivery one short timeout, not one per
batch: after a failure the store is left alone for a while, then tried again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import RedisError

from adapters.redis.limits import RETRY_AFTER_S, RedisLimits, SharedStoreAway
from core.clock import FakeClock
from core.ratelimit import RateLimiter


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class HungServer:
    """Accepts connections, reads what comes and never answers."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while await reader.read(4096):
                pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"redis://{host}:{port}/0"


@pytest.fixture
async def hung() -> AsyncIterator[HungServer]:
    server = HungServer()
    server.server = await asyncio.start_server(server._client, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.server.close()


async def test_a_hung_store_is_asked_again_only_after_a_pause(hung: HungServer) -> None:
    clock, ticks = FakeClock(), Ticks()
    store = RedisLimits(
        hung.url, clock, RateLimiter(clock).limit_for, timeout_s=0.2, monotonic=ticks
    )
    scopes = [(("webhook", "1"),)]
    try:
        with pytest.raises(RedisError):  # the short socket timeout, not a hang
            await asyncio.wait_for(store.reserve_many(scopes, 1.0), timeout=5.0)
        assert hung.accepted == 1
        for _ in range(20):  # every later batch: at once, without touching the server
            with pytest.raises(SharedStoreAway):
                await store.reserve_many(scopes, 1.0)
        with pytest.raises(SharedStoreAway):
            await store.penalise(("webhook", "1"), 30.0)
        ticks.now += RETRY_AFTER_S
        with pytest.raises(RedisError):  # tried again after the pause
            await asyncio.wait_for(store.reserve_many(scopes, 1.0), timeout=5.0)
    finally:
        await store.aclose()
