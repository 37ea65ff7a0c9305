"""A failure that repeats (the database is away) logs one traceback, then a line a minute,
then one line when the work goes through again; and the scheduler logs its jobs that way."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, cast
from unittest.mock import MagicMock

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.scheduler import Job, Scheduler
from core.backoff import RetryPolicies
from core.clock import FakeClock
from core.delivery import DeliveryService
from core.metrics import RecordingMetrics
from core.ratelimit import RateLimiter
from core.repeats import RepeatedFailures


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, bool, str]]:
    return [(r.levelname, r.exc_info is not None, r.getMessage()) for r in caplog.records]


def test_one_traceback_then_a_line_a_minute_then_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    failures = RepeatedFailures(logging.getLogger("t"), every_s=60.0, monotonic=ticks)
    with caplog.at_level(logging.INFO, logger="t"):
        for second in range(125):  # a failure every second for two minutes
            ticks.now = float(second)
            failures.failed("escalation tick", ConnectionRefusedError("connection refused"))
        failures.succeeded("escalation tick")
        failures.succeeded("escalation tick")  # nothing more to say
    assert _records(caplog) == [
        ("ERROR", True, "escalation tick failed"),
        ("WARNING", False, "escalation tick still failing (61 times, 59 not logged): "
                           "ConnectionRefusedError: connection refused"),
        ("WARNING", False, "escalation tick still failing (121 times, 59 not logged): "
                           "ConnectionRefusedError: connection refused"),
        ("WARNING", False, "escalation tick works again after 125 failures"),
    ]  # fmt: skip


def test_kinds_are_counted_apart_and_a_single_failure_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = RepeatedFailures(logging.getLogger("t"), monotonic=Ticks())
    with caplog.at_level(logging.INFO, logger="t"):
        failures.failed("a", ValueError("x"))
        failures.failed("b", ValueError("y"))
        failures.succeeded("a")
    assert _records(caplog) == [("ERROR", True, "a failed"), ("ERROR", True, "b failed")]


def test_a_database_outage_starts_with_one_line_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every loop of the process fails at once when the database goes away (delivery
    workers, each scheduler job): a traceback each would be a thousand lines of the same."""
    failures = RepeatedFailures(logging.getLogger("t"), monotonic=Ticks())
    lost = OperationalError(
        "SELECT 1", {}, ConnectionResetError("reset by peer"), connection_invalidated=True
    )
    with caplog.at_level(logging.INFO, logger="t"):
        failures.failed("delivery worker 1", lost)
        failures.failed("feed", PoolTimeout("QueuePool limit reached"))
    assert _records(caplog) == [
        ("ERROR", False, "delivery worker 1 failed: the database connection was lost "
                         "(reset by peer)"),
        ("ERROR", False, "feed failed: no database connection came free in time "
                         "(the pool is exhausted)"),
    ]  # fmt: skip


async def test_a_failing_job_logs_one_traceback_not_one_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = MagicMock(spec=AsyncEngine)
    engine.dialect.name = "sqlite"

    async def broken() -> None:
        raise OSError("database is away")

    job = Job("escalation-tick", 1.0, broken)
    scheduler = Scheduler([job], engine, RecordingMetrics())
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        for _ in range(30):
            await scheduler._guarded(job)
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert caplog.records[0].getMessage() == "scheduled job escalation-tick failed"


async def test_a_delivery_worker_without_its_database_logs_one_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    calls = 0

    def sessions() -> Any:
        nonlocal calls
        calls += 1
        if calls >= 30:
            stop.set()
        raise OSError("connection refused")

    clock = FakeClock()
    worker = DeliveryService(
        cast(Any, sessions), {}, clock, random.Random(1), RetryPolicies.from_settings(
            2.0, 2.0, 60.0, [3, 3, 3, 3, 3]), RateLimiter(clock), RecordingMetrics(), "w1", 30.0,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="core.delivery"):
        await asyncio.wait_for(worker.run(stop), timeout=10)
    assert calls >= 30
    assert [r.exc_info is not None for r in caplog.records].count(True) == 1
    assert caplog.records[0].getMessage() == "delivery loop worker=w1 failed"
