"""Periodic jobs on APScheduler: feed polling, escalation tick, digests, clean-up.

On PostgreSQL each run takes an advisory lock named after its job, so when several
processes run the scheduler exactly one of them runs a given job per tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.locks import lock_id
from core.metrics import Metrics
from core.repeats import RepeatedFailures

logger = logging.getLogger(__name__)

JobFn = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job. `exclusive` jobs run in one process per tick (advisory lock);
    the others (e.g. refreshing this process's in-memory index) run in every process."""

    name: str
    every_s: float
    run: JobFn
    exclusive: bool = True


class Scheduler:
    """Owns an AsyncIOScheduler for the life of `run()`."""

    def __init__(self, jobs: list[Job], engine: AsyncEngine, metrics: Metrics) -> None:
        self._jobs = jobs
        self._engine = engine
        self._metrics = metrics
        self._postgres = engine.dialect.name == "postgresql"
        self._failures = RepeatedFailures(logger)

    async def _guarded(self, job: Job) -> None:
        try:
            if self._postgres and job.exclusive:
                async with self._engine.connect() as conn:
                    got = await conn.scalar(
                        text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id(job.name)}
                    )
                    if not got:
                        return
                    try:
                        await job.run()
                    finally:
                        await conn.execute(
                            text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id(job.name)}
                        )
                        await conn.commit()
            else:
                await job.run()
            self._metrics.count("scheduler_runs", labels={"job": job.name})
            self._failures.succeeded(f"scheduled job {job.name}")
        except Exception as exc:  # one traceback per outage, then a line a minute
            self._failures.failed(f"scheduled job {job.name}", exc)

    async def run(self) -> None:
        """Start the jobs and keep them running until cancelled."""
        scheduler = AsyncIOScheduler(timezone="UTC")
        for job in self._jobs:
            scheduler.add_job(
                self._guarded,
                "interval",
                args=[job],
                seconds=job.every_s,
                id=job.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(job.every_s)),
            )
        scheduler.start()
        logger.info("scheduler started: %s", ", ".join(job.name for job in self._jobs))
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)
