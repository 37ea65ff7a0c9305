"""core.revisit and the snooze-wake job: a time snooze ends even when no snapshot comes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.jobs
import core.revisit
from bot.bootstrap import Container
from bot.jobs import wake_job
from core.clock import FakeClock
from core.db.models import Alert, AuditEntry, MarketSnapshot, Notification, SnapshotListing
from core.domain import Listing
from core.history import latest_snapshots
from core.ingest.service import IngestService
from core.metrics import RecordingMetrics
from core.pipeline import AlertEngine
from core.revisit import NO_MARKET, due_events, wake_snoozed
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_event,
    add_seed,
    add_watch,
    alerts_of,
    audit_kinds,
    fresh_engine,
    minutes,
    notifications_of,
    process_snapshot,
    snapshot,
)

Sessions = async_sessionmaker[AsyncSession]


async def _snoozed(sessions: Sessions, until_min: float = 30) -> tuple[Seed, Alert, AlertEngine]:
    """An alert opened at T0 on a $28 snapshot, then snoozed until T0 + `until_min`."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Alert).values(status="snoozed", snoozed_until=T0 + minutes(until_min))
        )
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    return seed, alert, engine


async def _wake(sessions: Sessions, engine: AlertEngine, when_min: float) -> tuple[int, int]:
    async with sessions() as session, session.begin():
        events, result = await wake_snoozed(session, engine, T0 + minutes(when_min))
    return events, result.notifications


async def test_a_snooze_that_ends_without_a_new_snapshot_wakes_and_tells_again(
    sessions: Sessions,
) -> None:
    _, alert, engine = await _snoozed(sessions)
    assert await _wake(sessions, engine, 29) == (0, 0)  # not over yet

    events, queued = await _wake(sessions, engine, 31)

    assert events == 1 and queued >= 1
    async with sessions() as session:
        (stored,) = await alerts_of(session)
        notes = await notifications_of(session, alert.id)
        kinds = await audit_kinds(session, alert.id)
    assert (stored.status, stored.snoozed_until) == ("open", None)
    assert kinds[-2:] == ["woke", "notified"]
    fresh = [n for n in notes if n.kind == "alert" and n.due_at >= T0 + minutes(31)]
    assert fresh, [(n.kind, n.channel, n.due_at) for n in notes]
    assert {n.payload["event_type"] for n in fresh} == {"alert.updated"}
    assert "28" in fresh[0].payload["title"] + str(fresh[0].payload["data"]["alert"]["price"])
    # Once: a second run finds nothing due, and queues nothing more.
    assert await _wake(sessions, engine, 32) == (0, 0)
    async with sessions() as session:
        assert len(await notifications_of(session, alert.id)) == len(notes)


async def test_the_newest_snapshot_is_the_one_revisited_with_its_listings(
    sessions: Sessions,
) -> None:
    seed = (await _snoozed(sessions))[0]
    listing = Listing("L7", 27.0, section="112", row="5", quantity=2, url="https://tix.example/L7")
    async with sessions() as session, session.begin():
        await snapshot(session, seed, T0 + minutes(5), 30.0)
        await snapshot(session, seed, T0 + minutes(10), 27.0, listings=(), event=None)
    async with sessions() as session, session.begin():
        newest = await snapshot(session, seed, T0 + minutes(20), 27.0, listings=[listing])
        session.add(
            SnapshotListing(
                snapshot_id=newest.snapshot_id, event_id=seed.event.id, listing_id="L7",
                section="112", row="5", quantity=2, price=27.0, url="https://tix.example/L7",
            )
        )  # fmt: skip
    async with sessions() as session:
        (found,) = await latest_snapshots(session, [seed.event.id, 999_999])
    assert found.snapshot_id == newest.snapshot_id
    assert found.point.observed_at == T0 + minutes(20) and found.point.min_price == 27.0
    assert found.previous is not None and found.previous.observed_at == T0 + minutes(10)
    assert found.listings == (listing,) and found.new_listing_ids == ()
    assert found.event.id == seed.event.id and found.event.name == seed.event.name


async def test_price_snoozes_and_other_alerts_are_not_revisited(sessions: Sessions) -> None:
    seed = (await _snoozed(sessions))[0]
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).values(snoozed_until=None, snooze_below=20.0))
        # a second watch that matches the event but has no alert: revisits open nothing
        await add_watch(session, seed.user, seed.event, max_price=40.0)
    engine = await fresh_engine(sessions)  # its index holds the new watch
    async with sessions() as session:
        assert await due_events(session, T0 + minutes(600)) == []
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).values(snoozed_until=T0, snooze_below=None))
    async with sessions() as session, session.begin():
        events, result = await wake_snoozed(session, engine, T0 + minutes(31))
    assert (events, result.alerts_opened) == (1, 0)
    async with sessions() as session:
        assert len(await alerts_of(session)) == 1


async def test_an_event_without_snapshots_left_wakes_its_alert_silently(
    sessions: Sessions,
) -> None:
    _, alert, engine = await _snoozed(sessions)
    async with sessions() as session, session.begin():
        await session.execute(delete(MarketSnapshot))  # retention removed the market
    async with sessions() as session:
        before = len(await notifications_of(session, alert.id))

    assert await _wake(sessions, engine, 31) == (1, 0)

    async with sessions() as session:
        (stored,) = await alerts_of(session)
        details = list(
            await session.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.alert_id == alert.id, AuditEntry.kind == "woke"
                )
            )
        )
        assert len(await notifications_of(session, alert.id)) == before
    assert (stored.status, stored.snoozed_until) == ("open", None)
    assert details == [NO_MARKET]
    assert await _wake(sessions, engine, 32) == (0, 0)


async def test_the_job_wakes_every_due_event_in_batches_and_wakes_delivery(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.jobs, "WAKE_BATCH", 1)
    monkeypatch.setattr(core.revisit, "WAKE_BATCH", 1)
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        other = await add_event(session, external_id="6100099")
        second = Seed(seed.user, other, await add_watch(session, seed.user, other))
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    await process_snapshot(sessions, engine, second, T0, 25.0)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Alert).values(status="snoozed", snoozed_until=T0 + minutes(30))
        )
    woken: list[bool] = []
    clock = FakeClock(T0 + minutes(40))
    metrics = RecordingMetrics()
    container = SimpleNamespace(
        sessions=sessions,
        clock=clock,
        alerts=engine,
        ingest=IngestService(sessions, engine, clock, metrics),
        signal=SimpleNamespace(notify=lambda: woken.append(True)),
    )
    job = wake_job(cast(Container, container))
    assert (job.name, job.exclusive) == ("snooze-wake", True)

    await job.run()

    async with sessions() as session:
        statuses = [a.status for a in await alerts_of(session)]
        sends = await session.scalar(
            select(Notification.id).where(Notification.due_at >= T0 + minutes(40)).limit(1)
        )
    assert statuses == ["open", "open"] and woken == [True] and sends is not None


async def test_a_reminder_on_old_prices_says_how_old_they_are(sessions: Sessions) -> None:
    _, alert, engine = await _snoozed(sessions, until_min=180)

    assert await _wake(sessions, engine, 181) == (1, 1)

    async with sessions() as session:
        first, reminder = [n for n in await notifications_of(session, alert.id)]
    assert "Prices as of" not in first.payload["body"]  # sent on a fresh snapshot
    assert (
        "Prices as of Wed 20 Mar 12:00 UTC (3 h 1 min ago): nothing newer came in"
        in (reminder.payload["body"])
    )
