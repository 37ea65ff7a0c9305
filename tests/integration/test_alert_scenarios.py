"""Market scenarios as a fan lives them: flapping prices, holds, out-of-order and retried
snapshots, snoozes, starts, pauses, level rises."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import Event
from core.pipeline import AlertEngine, EngineConfig, PipelineResult
from tests.fakes.predictor import StubPredictor, make_forecast
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_seed,
    alerts_of,
    fresh_engine,
    minutes,
    notifications_of,
    process_snapshot,
    snapshot,
)

Sessions = async_sessionmaker[AsyncSession]


async def _chats(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        notes = await notifications_of(session)
    return [
        n.payload["event_type"] for n in notes if n.channel == "telegram" and n.kind != "update"
    ]


async def test_flapping_around_the_max_is_one_alert_and_a_real_drop_is_told(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    prices = [39.9, 40.1, 39.8] * 6
    for n, price in enumerate(prices):
        await process_snapshot(sessions, engine, seed, T0 + minutes(10 * n), price)
    assert await _chats(sessions) == ["alert.triggered"]
    await process_snapshot(sessions, engine, seed, T0 + minutes(185), 31.8)
    assert await _chats(sessions) == ["alert.triggered", "alert.updated"]


async def test_an_older_snapshot_after_a_newer_one_changes_nothing(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=0))
    await process_snapshot(sessions, engine, seed, T0 + minutes(10), 30.0)
    for age, price in ((5, 45.0), (2, 20.0)):  # late arrivals, older than the $30
        async with sessions() as session, session.begin():
            stored = await snapshot(session, seed, T0 + minutes(age), price)
            await engine.process(session, [stored], T0 + minutes(11))
    fresh = await fresh_engine(sessions)  # a restarted process too
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, T0 + minutes(1), 46.0)
        await fresh.process(session, [stored], T0 + minutes(12))
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert (alert.status, alert.price) == ("open", 30.0)
    assert await _chats(sessions) == ["alert.triggered"]


async def test_a_critical_rise_is_not_held_by_the_cooldown_of_a_resolve(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    predictor = StubPredictor(make_forecast(demand=0.5))
    engine = await fresh_engine(
        sessions,
        predictor=predictor,
        config=EngineConfig(weights=(0.0, 0.0, 0.0, 0.0, 1.0, 0.0), resolve_hold_s=0),
    )
    await process_snapshot(sessions, engine, seed, T0, 39.5)
    await process_snapshot(sessions, engine, seed, T0 + minutes(5), 41.0)  # resolved
    predictor.forecast_value = make_forecast(demand=0.95)  # a sell-out rush
    await process_snapshot(sessions, engine, seed, T0 + minutes(10), 39.5)
    async with sessions() as session:
        alerts = await alerts_of(session)
    assert [(a.status, a.level) for a in alerts] == [("resolved", 3), ("open", 5)]
    assert await _chats(sessions) == ["alert.triggered", "alert.triggered"]
    # The same critical level again within the cooldown is no news: no third alert.
    await process_snapshot(sessions, engine, seed, T0 + minutes(15), 41.0)
    await process_snapshot(sessions, engine, seed, T0 + minutes(20), 39.5)
    assert await _chats(sessions) == ["alert.triggered", "alert.triggered"]


async def test_an_event_moved_later_keeps_its_alerts_past_the_old_start(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    old_start = seed.event.starts_at
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, old_start - minutes(30), 30.0)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Event)
            .values(starts_at=old_start + minutes(24 * 60))
            .where(Event.id == seed.event.id)
        )
        seed.event = await session.get(Event, seed.event.id)  # type: ignore[assignment]
    from core.alerts import resolve_started

    async with sessions() as session, session.begin():
        assert await resolve_started(session, old_start + minutes(1)) == 0
    await process_snapshot(sessions, engine, seed, old_start + minutes(5), 29.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert alert.status == "open" and alert.price == 29.0


async def test_after_the_start_everything_resolves_and_nothing_is_sent(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(
            session, triggers=["price_below", "low_inventory"], low_inventory=2000
        )
    engine = await fresh_engine(sessions)
    start = seed.event.starts_at
    await process_snapshot(sessions, engine, seed, start - minutes(20), 30.0)
    r = await process_snapshot(sessions, engine, seed, start + minutes(1), 20.0)
    assert r.alerts_resolved == 2 and r.alerts_opened == 0
    async with sessions() as session:
        notes = await notifications_of(session)
        alerts = await alerts_of(session)
    assert {a.status for a in alerts} == {"resolved"}
    assert all(
        n.status == "cancelled" for n in notes if n.channel == "telegram" and n.kind != "update"
    )


async def _priced(
    sessions: Sessions, engine: AlertEngine, seed: Seed, when: datetime, price: float, currency: str
) -> PipelineResult:
    from dataclasses import replace

    from core.db.models import MarketSnapshot

    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, when, price)
        await session.execute(
            update(MarketSnapshot)
            .where(MarketSnapshot.id == stored.snapshot_id)
            .values(currency=currency)
        )
        stored = replace(stored, point=replace(stored.point, currency=currency))
        seed.extra[f"last:{seed.event.id}"] = stored.point
        return await engine.process(session, [stored], when)


async def test_a_feed_switching_currency_does_not_say_the_price_rose_above_the_max(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, currency="USD")
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=600))
    await _priced(sessions, engine, seed, T0, 30.0, "USD")
    await _priced(sessions, engine, seed, T0 + minutes(5), 28.0, "EUR")
    await _priced(sessions, engine, seed, T0 + minutes(20), 28.0, "EUR")
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert alert.status == "resolved"  # the dollar max cannot hold on euro prices
    assert alert.reason == (
        "the event is now priced in EUR, not in the currency of your max $40 (now €28)"
    )


async def test_low_inventory_crossing_back_and_forth_is_one_alert(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, triggers=["low_inventory"], low_inventory=50, max_price=None)
    engine = await fresh_engine(sessions)
    for n, left in enumerate([45, 55, 48, 60, 44, 52, 47] * 3):
        when = T0 + minutes(10 * n)
        async with sessions() as session, session.begin():
            stored = await snapshot(session, seed, when, 30.0, ticket_count=left)
            await engine.process(session, [stored], when)
    assert await _chats(sessions) == ["alert.triggered"]


async def test_churning_new_listings_are_one_alert(sessions: Sessions) -> None:
    from core.domain import Listing

    async with sessions() as session, session.begin():
        seed = await add_seed(session, triggers=["new_listing"])
    engine = await fresh_engine(sessions)
    for n in range(12):
        when = T0 + minutes(10 * n)
        fresh = Listing(f"L{n}", 38.0 if n % 2 else 36.0, section="101", quantity=2)
        old = Listing("base", 30.0, section="102", quantity=2)
        async with sessions() as session, session.begin():
            stored = await snapshot(
                session, seed, when, 30.0, listings=[old, fresh], new_listing_ids=[f"L{n}"]
            )
            await engine.process(session, [stored], when)
        when2 = when + minutes(5)
        async with sessions() as session, session.begin():
            stored = await snapshot(session, seed, when2, 30.0, listings=[old])
            await engine.process(session, [stored], when2)
    assert len(await _chats(sessions)) <= 3
