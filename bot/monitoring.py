"""Monitoring routes: /healthz (alive), /readyz (database, channels, shared rate limits),
/metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import PrometheusMetrics
from core.db.engine import database_unavailable
from core.metrics import Metrics
from core.outbox import queue_depth
from core.ports import Channel

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MonitoringDeps:
    sessions: async_sessionmaker[AsyncSession]
    channels: Mapping[str, Channel]
    metrics: Metrics
    # Dependencies the process works on without (it falls back, e.g. to per-process rate
    # limits): a failing probe shows as "degraded" but does not make the process unready.
    optional: Mapping[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)


MONITORING = web.AppKey("monitoring", MonitoringDeps)


async def _database_ok(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))


async def _failure(probe: Callable[[], Awaitable[None]]) -> str | None:
    """The probe's error as one line, or None when it answered within 3 s."""
    try:
        async with asyncio.timeout(3):
            await probe()
    except Exception as exc:  # readiness reports the failure instead of raising it
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    deps = request.app[MONITORING]
    checks: dict[str, dict[str, str]] = {}
    error = await _failure(lambda: _database_ok(deps.sessions))
    checks["database"] = {
        "status": "ok" if error is None else "down",
        **({"error": error} if error else {}),
    }
    for name, channel in sorted(deps.channels.items()):
        state = getattr(channel, "state", None)
        status = state() if callable(state) else "ok"
        checks[f"channel:{name}"] = {"status": str(status)}
    ready = all(check["status"] == "ok" for check in checks.values())
    for name, probe in sorted(deps.optional.items()):
        error = await _failure(probe)
        checks[name] = {
            "status": "ok" if error is None else "degraded",
            **({"error": error} if error else {}),
        }
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    deps = request.app[MONITORING]
    if not isinstance(deps.metrics, PrometheusMetrics):
        return web.json_response(
            {"error": {"code": "no_metrics", "message": "metrics are off"}}, status=404
        )
    try:
        async with deps.sessions() as session:
            deps.metrics.gauge("queue_depth", float(await queue_depth(session)))
    except Exception as exc:  # a scrape every few seconds: a traceback only for a bug
        reason = database_unavailable(exc)
        if reason is None:
            logger.exception("could not read the outbox queue depth")
        else:
            logger.warning("could not read the outbox queue depth: %s", reason)
    return web.Response(body=deps.metrics.render(), content_type="text/plain", charset="utf-8")


def add_monitoring_routes(app: web.Application, deps: MonitoringDeps) -> None:
    app[MONITORING] = deps
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
