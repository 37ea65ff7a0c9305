"""/readyz: the database and channels decide readiness; the shared rate-limit store
(Redis or PostgreSQL) is reported, and only degrades it, because delivery falls back to
per-process limits without it."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.redis.limits import RedisLimits
from bot.monitoring import MonitoringDeps, add_monitoring_routes
from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker
from core.metrics import NullMetrics
from core.ratelimit import RateLimiter
from tests.integration.test_shared_limits import REDIS_URL, _redis_reason

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def _ready(sqlite_url: str, redis_url: str | None) -> tuple[int, dict[str, object]]:
    engine = make_engine(sqlite_url)
    clock = FakeClock()
    limits = RedisLimits(redis_url, clock, RateLimiter(clock).limit_for) if redis_url else None
    app = web.Application()
    optional = {"shared_rate_limits": limits.ping} if limits else {}
    add_monitoring_routes(
        app, MonitoringDeps(make_sessionmaker(engine), {}, NullMetrics(), optional)
    )
    try:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/readyz")
            return response.status, await response.json()
    finally:
        if limits is not None:
            await limits.aclose()
        await engine.dispose()


@pytest.fixture
def redis_up() -> None:
    """Skip, visibly, when no Redis answers on 127.0.0.1:6379."""
    reason = _redis_reason()
    if reason:
        pytest.skip(reason)


async def test_ready_without_a_shared_store(sqlite_url: str) -> None:
    status, body = await _ready(sqlite_url, None)
    assert status == 200
    assert body == {"status": "ready", "checks": {"database": {"status": "ok"}}}


async def test_a_reachable_redis_store_is_reported_ok(sqlite_url: str, redis_up: None) -> None:
    status, body = await _ready(sqlite_url, REDIS_URL)
    assert status == 200
    assert body["checks"]["shared_rate_limits"] == {"status": "ok"}  # type: ignore[index]


async def test_an_unreachable_redis_store_degrades_but_stays_ready(sqlite_url: str) -> None:
    status, body = await _ready(sqlite_url, NOWHERE)
    assert status == 200 and body["status"] == "ready"
    check = body["checks"]["shared_rate_limits"]  # type: ignore[index]
    assert check["status"] == "degraded"
    assert "onnect" in check["error"]  # a one-line reason: the connection was refused
