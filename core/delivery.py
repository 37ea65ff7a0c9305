"""Delivery workers: claim due outbox rows, send them through their Channel, record outcomes.

One `DeliveryService` is one worker. A batch is claimed under a lease (core.outbox), each
row is rate-limited per destination (core.ratelimit) and sent concurrently; outcomes are
written in small bulk transactions as sends complete (core.delivery_outcomes). The worker
owns retries (core.backoff): a platform's Retry-After is honoured exactly, permanent
errors are never retried, and exhausted or permanent failures fail over to the person's
next chat channel. A claimed message that announces an alert no longer open (acknowledged,
snoozed or resolved while the message was away from the queue), or a webhook row whose
endpoint is disabled or removed, is cancelled unsent.

Shutdown: when `stop` is set or the worker is cancelled, sends already in progress get a
short grace period; whatever has not finished goes back to pending in a `finally`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.backoff import RetryPolicies, clamp_retry_after, next_delay
from core.db.engine import database_unavailable
from core.db.models import Notification
from core.delivery_lifecycle import Outcome, OutcomeKind, endpoint_withdrawals
from core.delivery_outcomes import withdrawals, write_outcomes
from core.errors import PermanentDeliveryError, RecipientGone, RetryableDeliveryError
from core.metrics import Metrics
from core.outbox import (
    OutboxSignal,
    claim,
    extend_leases,
    next_due_at,
    queue_depth,
    recover_expired_leases,
    to_outbound,
)
from core.ports import Channel, Clock
from core.ratelimit import RateLimiter, Scope, SharedLimits, destination_scopes
from core.repeats import RepeatedFailures

logger = logging.getLogger(__name__)


class _Batch:
    """Outcomes of one claimed batch, written by one background flush at a time.

    Row tasks only append; they never await the database, so cancelling a row task at
    shutdown can never interrupt a write that also carries other rows' outcomes.
    """

    def __init__(self, service: DeliveryService, prices: dict[int, float | None]) -> None:
        self._service = service
        self.prices = prices  # each open alert's price now, by id (`core.outbox.late_note`)
        self._pending: list[Outcome] = []
        self._flush: asyncio.Task[None] | None = None
        self.recorded: set[int] = set()

    def record(self, outcome: Outcome) -> None:
        self.recorded.add(outcome.row.id)
        self._pending.append(outcome)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._drain(), name="outbox-flush")

    async def _drain(self) -> None:
        while self._pending:
            outcomes, self._pending = self._pending, []
            await self._service.write(outcomes)

    async def close(self) -> None:
        """Wait until every recorded outcome is written (survives our own cancellation)."""
        while self._flush is not None and not self._flush.done():
            await asyncio.shield(self._flush)
        if self._pending:
            await self._drain()


class DeliveryService:
    """One delivery worker; see the module docstring.

    Args:
        sessions: session factory of the database holding the outbox.
        channels: the configured channels by ChannelKind value.
        clock: time for leases, due times and waits.
        rng: random source for backoff jitter.
        policies: retry policy per level.
        limiter: per-destination token buckets, shared by the workers of a process.
        metrics: where notifications, delivery_latency_seconds and queue_depth go.
        worker_id: unique per worker, written to claimed_by.
        lease_s: how long a claim holds before another worker may take the row.
        signal: wakes the worker when new rows are committed.
        batch_size: rows claimed per batch.
        concurrency: sends in progress at once.
        grace_s: how long in-progress sends may finish at shutdown.
        idle_s: the longest wait when nothing is due (also bounds missed signals).
        max_inline_wait_s: a row whose rate-limit slot is further away than this goes
            back to pending until then instead of holding its claim.
        shared: rate-limit state shared with other delivering processes (PostgreSQL or
            Redis); every claimed batch books its sends there too. If the store fails,
            delivery goes on within this process's own limits (logged).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[str, Channel],
        clock: Clock,
        rng: random.Random,
        policies: RetryPolicies,
        limiter: RateLimiter,
        metrics: Metrics,
        worker_id: str,
        lease_s: float = 60.0,
        *,
        signal: OutboxSignal | None = None,
        batch_size: int = 200,
        concurrency: int = 64,
        grace_s: float = 5.0,
        idle_s: float = 5.0,
        max_inline_wait_s: float = 2.0,
        shared: SharedLimits | None = None,
    ) -> None:
        self.sessions = sessions
        self.channels = dict(channels)
        self.clock = clock
        self.rng = rng
        self.policies = policies
        self.limiter = limiter
        self.metrics = metrics
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.signal = signal if signal is not None else OutboxSignal()
        self.batch_size = batch_size
        self.grace_s = grace_s
        self.idle_s = idle_s
        # The claim must outlive the wait for a rate-limit slot plus the send itself.
        self.max_inline_wait_s = max(0.0, min(max_inline_wait_s, lease_s / 4))
        self.shared = shared
        self._semaphore = asyncio.Semaphore(concurrency)
        self._stop: asyncio.Event | None = None
        self._stopping = False
        self._in_send: set[int] = set()
        self._next_recovery: datetime | None = None
        self._next_depth: datetime | None = None
        self._failures = RepeatedFailures(logger)  # one traceback per outage
        self._shared_away = False  # the shared rate-limit store failed, not answered since

    # --- one batch ----------------------------------------------------------------------

    async def deliver_batch(self, limit: int | None = None) -> int:
        """Claim up to `limit` due rows and deliver them; return how many were claimed.

        Rows whose rate-limit slot is far away go back to pending (no attempt counted)
        without holding up the others. Never raises for one bad row.
        """
        self._stopping = self._stop is not None and self._stop.is_set()
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            rows = await claim(session, self.worker_id, now, limit or self.batch_size, self.lease_s)
            withdrawn, prices = await withdrawals(session, rows, now) if rows else ([], {})
            taken = {o.row.id for o in withdrawn}
            others = [row for row in rows if row.id not in taken]
            withdrawn += await endpoint_withdrawals(session, others, now)
        if not rows:
            return 0
        batch = _Batch(self, prices)
        tasks: dict[asyncio.Task[None], Notification] = {}
        keeper = asyncio.create_task(self._keep_leases(rows, batch), name="delivery-leases")
        try:
            for outcome in withdrawn:
                batch.record(outcome)
            admitted: list[tuple[Notification, tuple[Scope, ...], float]] = []
            for row in rows:
                if row.id in batch.recorded:
                    continue
                scopes = destination_scopes(row.channel, row.address, row.webhook_endpoint_id)
                wait = self.limiter.reserve(scopes, self.max_inline_wait_s)
                if wait > self.max_inline_wait_s:
                    batch.record(_release(row, now, now + timedelta(seconds=wait)))
                    continue
                admitted.append((row, scopes, wait))
            for (row, scopes, wait), shared in zip(
                admitted, await self._shared_waits(admitted), strict=True
            ):
                if shared > self.max_inline_wait_s:  # another process has these slots
                    batch.record(_release(row, now, now + timedelta(seconds=shared)))
                    continue
                task = asyncio.create_task(
                    self._deliver_one(batch, row, scopes, max(wait, shared)),
                    name=f"deliver-{row.id}",
                )
                tasks[task] = row
            await self._until_done_or_stopped(set(tasks))
        finally:
            keeper.cancel()
            await self._finish(batch, tasks, rows)
        return len(rows)

    async def _keep_leases(self, rows: list[Notification], batch: _Batch) -> None:
        """Renew the batch's leases every third of a lease (wall time) while it runs, so a
        batch slower than one lease is not taken over by another worker and sent twice."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            ids = [row.id for row in rows if row.id not in batch.recorded]
            until = self.clock.now() + timedelta(seconds=self.lease_s)
            try:
                async with self.sessions() as session, session.begin():
                    await extend_leases(session, self.worker_id, ids, until)
            except Exception as exc:  # the database is away: recovery decides later
                logger.warning("renewing %d delivery leases failed: %s", len(ids), exc)

    async def _shared_waits(
        self, admitted: list[tuple[Notification, tuple[Scope, ...], float]]
    ) -> list[float]:
        """The shared store's wait for each admitted row (0s when there is no store)."""
        if self.shared is None or not admitted:
            return [0.0] * len(admitted)
        try:
            waits = await self.shared.reserve_many(
                [scopes for _, scopes, _ in admitted], self.max_inline_wait_s
            )
        except Exception as exc:  # an outage of the shared store must not stop delivery
            self._shared_failed(exc)
            return [0.0] * len(admitted)
        if self._shared_away:
            self._shared_away = False
            logger.warning("shared rate limits answer again worker=%s", self.worker_id)
        return waits

    def _shared_failed(self, exc: Exception) -> None:
        """One line when the shared store stops answering, not one traceback per batch:
        while it is away every batch fails over to this process's limits."""
        if self._shared_away:
            return
        self._shared_away = True
        logger.warning(
            "shared rate limits unavailable (%s: %s); using this process's until it answers"
            " worker=%s",
            type(exc).__name__,
            _text(exc).splitlines()[0],
            self.worker_id,
        )

    async def _deliver_one(
        self, batch: _Batch, row: Notification, scopes: tuple[Scope, ...], delay: float
    ) -> None:
        if delay > 0:
            await self.clock.sleep(delay)
        async with self._semaphore:
            while (spacing := self.limiter.pace(scopes)) > 0:
                await self.clock.sleep(spacing)
            now = self.clock.now()
            blocked = self.limiter.blocked_for(scopes)
            if self._stopping or blocked > 0:
                later = now + timedelta(seconds=blocked) if blocked > 0 else None
                batch.record(_release(row, now, later))
                return
            self._in_send.add(row.id)
            try:
                outcome = await self._send(row, scopes, batch.prices.get(row.alert_id or 0))
            finally:
                self._in_send.discard(row.id)
        batch.record(outcome)

    async def _send(
        self, row: Notification, scopes: tuple[Scope, ...], price_now: float | None = None
    ) -> Outcome:
        channel = self.channels.get(row.channel)
        attempt = row.attempts + 1
        try:
            if channel is None:
                raise PermanentDeliveryError(f"no {row.channel} channel is configured")
            receipt = await channel.send(to_outbound(row, self.clock.now(), price_now))
        except RecipientGone as exc:
            return Outcome(row, OutcomeKind.GONE, self.clock.now(), attempt, error=_text(exc))
        except PermanentDeliveryError as exc:
            return Outcome(row, OutcomeKind.FAILED, self.clock.now(), attempt, error=_text(exc))
        except RetryableDeliveryError as exc:
            return await self._retry_later(row, scopes, exc)
        except Exception as exc:  # one bad row must never stop the batch
            logger.exception(
                "delivery crashed notification_id=%s channel=%s attempt=%s",
                row.id,
                row.channel,
                attempt,
            )
            return self._retry(row, f"{type(exc).__name__}: {exc}", None)
        return Outcome(row, OutcomeKind.SENT, self.clock.now(), attempt, receipt=receipt)

    async def _retry_later(
        self, row: Notification, scopes: tuple[Scope, ...], exc: RetryableDeliveryError
    ) -> Outcome:
        """A retry outcome for `exc`, its destination blocked for its Retry-After.

        If honouring the Retry-After fails (a value no date can hold, a limiter fault),
        the row still gets its backoff: a task dying here would put it back due at once,
        uncounted, and the receiver would be sent it again and again.
        """
        error = _text(exc)
        retry_after = clamp_retry_after(exc.retry_after)
        try:
            if retry_after is not None and scopes:
                self.limiter.penalise(scopes[-1], retry_after)
                await self._penalise_shared(scopes[-1], retry_after)
            return self._retry(row, error, retry_after)
        except Exception:  # one bad row must never stop the batch
            logger.exception(
                "honouring Retry-After failed notification_id=%s channel=%s attempt=%s",
                row.id,
                row.channel,
                row.attempts + 1,
            )
            return self._retry(row, error, None)

    async def _penalise_shared(self, scope: Scope, retry_after: float) -> None:
        if self.shared is None:
            return
        try:
            await self.shared.penalise(scope, retry_after)
        except Exception as exc:  # the local block still holds this process back
            self._shared_failed(exc)

    def _retry(self, row: Notification, error: str, retry_after: float | None) -> Outcome:
        now = self.clock.now()
        attempts = row.attempts + 1
        policy = self.policies.for_level(row.level)
        if policy.exhausted(attempts):  # parked, if at all, at the cap (delivery_lifecycle)
            due = now + timedelta(seconds=max(policy.cap_s, retry_after or 0.0))
            return Outcome(row, OutcomeKind.DEAD, now, attempts, error=error, due_at=due)
        delay = next_delay(policy, attempts, self.rng, retry_after=retry_after)
        due = now + timedelta(seconds=delay)
        return Outcome(row, OutcomeKind.RETRY, now, attempts, error=error, due_at=due)

    async def _until_done_or_stopped(self, tasks: set[asyncio.Task[None]]) -> None:
        stop = self._stop
        stopper = asyncio.create_task(self._wait_event(stop)) if stop is not None else None
        try:
            remaining = set(tasks)
            while remaining:
                waiting = set(remaining)
                if stopper is not None:
                    waiting.add(stopper)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                remaining.difference_update(done)
                if stopper is not None and stopper in done:
                    return
        finally:
            if stopper is not None:
                stopper.cancel()

    @staticmethod
    async def _wait_event(event: asyncio.Event) -> None:
        await event.wait()

    async def _finish(
        self,
        batch: _Batch,
        tasks: dict[asyncio.Task[None], Notification],
        rows: list[Notification],
    ) -> None:
        """Grace for sends in progress, cancel the rest, release what has no outcome."""
        unfinished = {task for task in tasks if not task.done()}
        if unfinished:
            self._stopping = True
            sending = {task for task in unfinished if tasks[task].id in self._in_send}
            for task in unfinished - sending:
                task.cancel()  # not sending yet: nothing to wait for
            for task in await self._grace(sending):
                task.cancel()
            await asyncio.wait(unfinished)
        now = self.clock.now()
        for row in rows:
            if row.id not in batch.recorded:
                batch.record(_release(row, now, None))
        await batch.close()

    async def _grace(self, tasks: set[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
        remaining = set(tasks)
        if not remaining:
            return remaining
        timer: asyncio.Task[None] = asyncio.create_task(self.clock.sleep(self.grace_s))
        try:
            while remaining and not timer.done():
                waiting: set[asyncio.Future[None]] = {*remaining, timer}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                remaining.difference_update(done)
        finally:
            timer.cancel()
        return remaining

    async def write(self, outcomes: list[Outcome]) -> None:
        """Write outcomes in one transaction, then count them. Never raises.

        While no connection to the database can be made (an outage, a restart) the write
        is tried again every second for up to half a lease: given up, the sends it
        records would be sent again once their leases expire.
        """
        give_up = self.clock.now() + timedelta(seconds=self.lease_s / 2)
        while True:
            try:
                async with self.sessions() as session, session.begin():
                    written = await write_outcomes(
                        session, self.worker_id, outcomes, set(self.channels)
                    )
                break
            except Exception as exc:  # leases expire and the rows are sent again
                if _not_connected(exc) and self.clock.now() < give_up:
                    await self.clock.sleep(1.0)
                    continue
                logger.exception(
                    "writing delivery outcomes failed worker=%s notification_ids=%s",
                    self.worker_id,
                    [o.row.id for o in outcomes],
                )
                return
        for outcome in outcomes:
            if outcome.kind is OutcomeKind.RELEASE:
                continue
            status = outcome.kind.status_label
            if outcome.row.id in written.parked:
                status = "parked"
            elif outcome.row.id in written.cancelled:
                status = OutcomeKind.CANCELLED.status_label
            labels = {"channel": outcome.row.channel, "status": status}
            self.metrics.count("notifications", 1.0, labels)
            if outcome.kind is OutcomeKind.SENT:
                latency = (outcome.at - outcome.row.created_at).total_seconds()
                self.metrics.observe(
                    "delivery_latency_seconds", max(0.0, latency), {"channel": outcome.row.channel}
                )

    # --- the worker loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set or the task is cancelled.

        Recovers expired leases at start and every half lease; waits on the OutboxSignal
        or the next due time when nothing is due.
        """
        self._stop = stop
        self._stopping = False
        try:
            while not stop.is_set():
                try:
                    await self._recover_if_due()
                    claimed = await self.deliver_batch()
                    await self._report_depth_if_due()
                    self._failures.succeeded(f"delivery loop worker={self.worker_id}")
                    if not claimed and not stop.is_set():
                        await self._idle(stop)
                except Exception as exc:  # the database may be away: keep the worker alive
                    self._failures.failed(f"delivery loop worker={self.worker_id}", exc)
                    await self._first_of(stop.wait(), self.clock.sleep(self.idle_s))
        finally:
            self._stop = None

    async def _recover_if_due(self) -> None:
        now = self.clock.now()
        if self._next_recovery is not None and now < self._next_recovery:
            return
        async with self.sessions() as session, session.begin():
            recovered = await recover_expired_leases(session, now)
        if recovered:
            logger.warning(
                "recovered %s notifications from expired leases worker=%s",
                recovered,
                self.worker_id,
            )
        self._next_recovery = now + timedelta(seconds=self.lease_s / 2)

    async def _report_depth_if_due(self) -> None:
        now = self.clock.now()
        if self._next_depth is not None and now < self._next_depth:
            return
        async with self.sessions() as session:
            depth = await queue_depth(session)
        self.metrics.gauge("queue_depth", float(depth))
        self._next_depth = now + timedelta(seconds=self.idle_s)

    async def _idle(self, stop: asyncio.Event) -> None:
        async with self.sessions() as session:
            due = await next_due_at(session)
        timeout = self.idle_s
        if due is not None:
            until_due = (due - self.clock.now()).total_seconds()
            # Due rows we could not claim are locked by another worker: poll gently.
            timeout = min(self.idle_s, max(0.05, until_due))
        await self._first_of(self.signal.wait(), stop.wait(), self.clock.sleep(timeout))

    @staticmethod
    async def _first_of(*waits: Awaitable[object]) -> None:
        tasks = [asyncio.ensure_future(wait) for wait in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()


def _release(row: Notification, now: datetime, due_at: datetime | None) -> Outcome:
    return Outcome(row, OutcomeKind.RELEASE, now, row.attempts, due_at=due_at)


def _not_connected(exc: Exception) -> bool:
    """The database refused a connection, or none came free: nothing was written, so
    writing again cannot write anything twice (a connection lost mid-transaction might
    have committed)."""
    return isinstance(exc, OSError | PoolTimeout) and database_unavailable(exc) is not None


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
