"""`core.db.engine.database_unavailable` and the web's 503 for a database that is away."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.metrics import PrometheusMetrics
from bot.monitoring import MonitoringDeps, add_monitoring_routes
from bot.web_errors import json_errors
from core.db.engine import database_unavailable, make_engine, make_sessionmaker
from tests.e2e.proc_helpers import free_port


async def test_a_refused_connection_is_a_503_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")

    async def reads(_request: web.Request) -> web.Response:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return web.json_response({})

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/x", reads)
    try:
        async with TestClient(TestServer(app)) as client:
            answer = await client.get("/x")
            assert answer.status == 503
            assert (await answer.json())["error"]["code"] == "database_unavailable"
            assert answer.headers["Retry-After"] == "5"
    finally:
        await engine.dispose()
    logged = [r for r in caplog.records if r.name == "bot.web_errors"]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert "cannot connect to the database" in logged[0].getMessage()


async def test_an_os_error_outside_the_driver_is_still_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails(_request: web.Request) -> web.Response:
        raise ConnectionRefusedError("some other service")

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/x", fails)
    with caplog.at_level(logging.ERROR):
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/x")).status == 500
    try:
        raise ConnectionRefusedError("x")
    except ConnectionRefusedError as exc:
        assert database_unavailable(exc) is None


async def test_metrics_scraped_during_an_outage_log_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    app = web.Application(middlewares=[json_errors])
    deps = MonitoringDeps(make_sessionmaker(engine), {}, PrometheusMetrics())
    add_monitoring_routes(app, deps)
    try:
        async with TestClient(TestServer(app)) as client:
            for _ in range(2):
                assert (await client.get("/metrics")).status == 200
            ready = await client.get("/readyz")
            assert ready.status == 503
            assert (await ready.json())["checks"]["database"]["status"] == "down"
    finally:
        await engine.dispose()
    logged = [r for r in caplog.records if r.name == "bot.monitoring"]
    assert len(logged) == 2 and all(r.exc_info is None for r in logged)
    assert "cannot connect to the database" in logged[0].getMessage()
