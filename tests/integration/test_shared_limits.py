"""Rate limits shared by several delivering processes, in PostgreSQL and in Redis.

Each "process" is its own store object (and, for PostgreSQL, its own engine); they share
only the database or the Redis server, as two machines would.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.redis.limits import RedisLimits
from bot.bootstrap import shared_rate_limits
from bot.settings import load_settings
from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Notification
from core.db.ratelimits import DatabaseLimits
from core.ratelimit import RateLimiter, Scope, SharedLimits
from tests.conftest import make_database_url
from tests.fakes.channels import FakeChannel
from tests.integration.test_delivery import add, endpoint, service

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reason() -> str | None:
    from redis import Redis

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # absent or refusing: say so, visibly
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return None


def limits(clock: FakeClock) -> RateLimiter:
    limiter = RateLimiter(clock)
    limiter.configure(("telegram", "chat"), rate_per_s=1, burst=1)
    limiter.configure("webhook", rate_per_s=1, burst=1)
    return limiter


Factory = Callable[[FakeClock], SharedLimits]


@pytest.fixture(params=["postgres", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """ "redis", or the URL of a new, migrated PostgreSQL database."""
    if request.param == "redis":
        reason = _redis_reason()
        if reason:
            pytest.skip(reason)
        yield "redis"
    else:
        yield from make_database_url("postgres", tmp_path)


@pytest.fixture
async def make_store(backend: str) -> AsyncIterator[Factory]:
    """A factory of independent stores ("processes") sharing one backend."""
    made: list[SharedLimits] = []
    engines: list[AsyncEngine] = []

    def factory(clock: FakeClock) -> SharedLimits:
        store: SharedLimits
        if backend == "redis":
            store = RedisLimits(REDIS_URL, clock, limits(clock).limit_for)
        else:
            engine = make_engine(backend)
            engines.append(engine)
            store = DatabaseLimits(make_sessionmaker(engine), clock, limits(clock).limit_for)
        made.append(store)
        return store

    yield factory
    for store in made:
        await store.aclose()
    for engine in engines:
        await engine.dispose()


def fresh_chat() -> Scope:
    return ("telegram", "chat", uuid.uuid4().hex)  # Redis outlives a test: unique keys


async def test_two_processes_share_one_slot(make_store: Factory, clock: FakeClock) -> None:
    factory = make_store
    first, second = factory(clock), factory(clock)
    chat = fresh_chat()
    assert await first.reserve_many([(chat,), (chat,)], 0.0) == [0.0, 1.0]
    # The second process sees the slot the first one took (a local bucket would say 0).
    assert await second.reserve_many([(chat,)], 0.0) == [1.0]
    clock.advance(1)
    assert await second.reserve_many([(chat,), (chat,)], 0.0) == [0.0, 1.0]
    assert await first.reserve_many([(chat,)], 0.0) == [1.0]


async def test_a_reachable_store_answers_ping(make_store: Factory, clock: FakeClock) -> None:
    await make_store(clock).ping()  # /readyz reports it ok (tests/integration/test_readiness.py)


async def test_bookings_within_max_wait_queue_up_across_processes(
    make_store: Factory, clock: FakeClock
) -> None:
    factory = make_store
    first, second = factory(clock), factory(clock)
    chat, other = fresh_chat(), fresh_chat()
    assert await first.reserve_many([(chat,), (other,), (chat,)], 5.0) == [0.0, 0.0, 1.0]
    assert await second.reserve_many([(chat,), (other,)], 5.0) == [2.0, 1.0]
    assert await second.reserve_many([(chat,)], 2.0) == [3.0]  # too far: not booked
    assert await first.reserve_many([(chat,)], 5.0) == [3.0]


async def test_a_429_seen_by_one_process_holds_back_the_other(
    make_store: Factory, clock: FakeClock
) -> None:
    factory = make_store
    first, second = factory(clock), factory(clock)
    hook: Scope = ("webhook", uuid.uuid4().hex)
    await first.penalise(hook, 30.0)
    [wait] = await second.reserve_many([(hook,)], 0.0)
    assert abs(wait - 30.0) < 1e-3
    clock.advance(30)
    assert await second.reserve_many([(hook,)], 0.0) == [0.0]


async def test_concurrent_bookings_never_share_a_slot(
    make_store: Factory, clock: FakeClock
) -> None:
    factory = make_store
    stores = [factory(clock) for _ in range(4)]
    chat = fresh_chat()
    results = await asyncio.gather(*(s.reserve_many([(chat,)] * 5, 100.0) for s in stores))
    waits = sorted(w for result in results for w in result)
    assert waits == [float(i) for i in range(20)]  # 20 distinct 1 s slots, none twice


async def test_two_delivery_workers_keep_an_endpoint_within_its_limit(
    postgres_url: str, clock: FakeClock
) -> None:
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    try:
        makers = [make_sessionmaker(engine) for engine in engines]
        hook = FakeChannel("webhook")
        target = await endpoint(makers[0])
        await add(
            makers[0],
            clock,
            *({"idempotency_key": f"n{i}", "webhook_endpoint_id": target} for i in range(6)),
        )
        workers = []
        for n, maker in enumerate(makers):
            limiter = limits(clock)  # each process has its own buckets
            shared = DatabaseLimits(maker, clock, limiter.limit_for)
            workers.append(
                service(
                    maker,
                    clock,
                    {"webhook": hook},
                    limiter=limiter,
                    worker=f"w{n}",
                    batch_size=3,
                    max_inline_wait_s=0.0,
                    shared=shared,
                )
            )
        for worker in workers:
            assert await worker.deliver_batch() == 3
        assert len(hook.keys) == 1  # 1/s for the endpoint, whichever process sends
        for _ in range(5):
            clock.advance(1)
            for worker in workers:
                await worker.deliver_batch()
        assert sorted(hook.keys) == [f"n{i}" for i in range(6)]
        async with makers[0]() as session:
            statuses = set((await session.execute(select(Notification.status))).scalars())
        assert statuses == {"sent"}
    finally:
        for engine in engines:
            await engine.dispose()


class _Down:
    async def reserve_many(self, requests: Any, max_wait: float) -> list[float]:
        raise ConnectionError("store down")

    async def penalise(self, scope: Scope, retry_after: float) -> None:
        raise ConnectionError("store down")

    async def ping(self) -> None:
        raise ConnectionError("store down")

    async def aclose(self) -> None:
        return None


async def test_delivery_goes_on_within_local_limits_when_the_store_is_down(
    sessions: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    hook = FakeChannel("webhook")
    target = await endpoint(sessions)
    await add(
        sessions,
        clock,
        *({"idempotency_key": f"n{i}", "webhook_endpoint_id": target} for i in range(2)),
    )
    worker = service(
        sessions,
        clock,
        {"webhook": hook},
        limiter=limits(clock),
        max_inline_wait_s=0.0,
        shared=_Down(),
    )
    with caplog.at_level(logging.WARNING):
        assert await worker.deliver_batch() == 2
    assert hook.keys == ["n0"]  # the local bucket still holds the second back
    assert "shared rate limits unavailable" in caplog.text


def test_the_process_picks_redis_then_postgres_then_none(tmp_path: Any) -> None:
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    limiter = limits(clock)
    with_redis = load_settings(secret_key="k", state_dir=tmp_path, redis_url=REDIS_URL)
    plain = load_settings(secret_key="k", state_dir=tmp_path)
    store = shared_rate_limits(with_redis, "sqlite", None, clock, limiter)  # type: ignore[arg-type]
    assert isinstance(store, RedisLimits)
    assert isinstance(shared_rate_limits(plain, "postgresql", None, clock, limiter), DatabaseLimits)  # type: ignore[arg-type]
    assert shared_rate_limits(plain, "sqlite", None, clock, limiter) is None  # type: ignore[arg-type]


async def test_a_store_outage_is_one_warning_per_worker_not_one_per_batch(
    sessions: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    hook = FakeChannel("webhook")
    target = await endpoint(sessions)
    store = _Down()
    worker = service(sessions, clock, {"webhook": hook}, max_inline_wait_s=0.0, shared=store)
    with caplog.at_level(logging.WARNING):
        for n in range(5):
            await add(sessions, clock, {"idempotency_key": f"n{n}", "webhook_endpoint_id": target})
            assert await worker.deliver_batch() == 1
    assert hook.keys == [f"n{n}" for n in range(5)]
    away = [r for r in caplog.records if "shared rate limits" in r.getMessage()]
    assert len(away) == 1, [r.getMessage() for r in away]
    assert away[0].exc_info is None
    assert "ConnectionError: store down" in away[0].getMessage()

    async def answers(requests: Any, max_wait: float) -> list[float]:
        return [0.0] * len(requests)

    store.reserve_many = answers  # type: ignore[method-assign]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        await add(sessions, clock, {"idempotency_key": "back", "webhook_endpoint_id": target})
        assert await worker.deliver_batch() == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"shared rate limits answer again worker={worker.worker_id}"
    ]
