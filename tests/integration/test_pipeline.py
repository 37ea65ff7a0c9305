"""AlertEngine.process on both backends: stored snapshots in, alerts and outbox rows out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import pipeline
from core.actions import ActionSigner
from core.db.models import Alert, MarketSnapshot, Notification, Watch
from core.domain import ActionKind, Listing
from core.pipeline import EngineConfig, PipelineResult
from tests.fakes.predictor import StubPredictor, make_forecast
from tests.integration.engine_helpers import (
    SECRET,
    T0,
    Seed,
    add_event,
    add_seed,
    add_user,
    add_watch,
    add_webhook,
    alerts_of,
    audit_kinds,
    fresh_engine,
    make_engine,
    minutes,
    notifications_of,
    process_snapshot,
    snapshot,
)

Sessions = async_sessionmaker[AsyncSession]
DEMAND_ONLY = (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


async def test_batch_opens_one_alert_with_its_notifications_in_the_same_transaction(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        await add_webhook(session, None, ["alert.triggered"])
        await add_webhook(session, None, ["alert.resolved"], url="https://hooks.example/other")
    async with sessions() as session:
        engine = await make_engine(session)
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, T0, 28.0)
        result = await engine.process(session, [stored], T0)
        assert result.alerts_opened == 1 and result.matches == 1
        assert result.notifications == 2
        await session.rollback()
    async with sessions() as session:
        assert await alerts_of(session) == []
        assert await notifications_of(session) == []
        assert (await session.scalar(select(func.count()).select_from(MarketSnapshot))) == 0

    engine = await fresh_engine(sessions)
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, T0, 28.0)
        result = await engine.process(session, [stored], T0)
    assert result.alerts_opened == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session, alert.id)
        kinds = await audit_kinds(session, alert.id)
    assert alert.status == "open" and alert.price == 28.0
    assert alert.dedup_key == f"{seed.watch.id}:{seed.event.id}:price_below"
    assert alert.escalation is not None and alert.escalation["level"] == alert.level
    assert len(alert.factors) == 6
    assert {(n.channel, n.address) for n in notes} == {
        ("telegram", "tg-100"),
        ("webhook", "https://hooks.example/x"),
    }
    assert len({n.idempotency_key for n in notes}) == 2
    assert all(n.status == "pending" and n.due_at == T0 for n in notes)
    assert kinds[0] == "opened"
    chat = next(n for n in notes if n.channel == "telegram")
    body = chat.payload
    assert body["event_type"] == "alert.triggered"
    assert "Rockies at Diamondbacks — $28 (your max $40)" in body["title"]
    assert body["edit_of"] is None
    assert set(body["data"]) == {
        "alert",
        "event",
        "market",
        "prediction",
        "recommendation",
        "watch",
        "links",
    }
    assert [f["name"] for f in body["factors"]] == [
        "price",
        "availability",
        "urgency",
        "preference",
        "demand",
        "reliability",
    ]
    signer = ActionSigner(SECRET)
    actions = []
    for button in body["buttons"]:
        token = signer.verify(button["token"], now=T0)
        assert token.target_id == alert.id
        assert token.action.value == button["action"]
        actions.append(token.action)
    assert actions == [
        ActionKind.ACK,
        ActionKind.SNOOZE,
        ActionKind.SNOOZE_CHEAPER,
        ActionKind.MUTE,
        ActionKind.BOUGHT,
    ]
    assert "Chase Field" in body["body"] and "72% chance" in body["body"]


async def test_a_message_not_yet_written_shows_the_batchs_newest_snapshot(
    sessions: Sessions,
) -> None:
    """Two snapshots of one event in a batch: the alert opens on the first, the second
    (cheaper, inside the cooldown) re-scores it; the one message shows the second."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    async with sessions() as session, session.begin():
        first = await snapshot(session, seed, T0 - minutes(10), 30.0)
        second = await snapshot(session, seed, T0, 25.0, ticket_count=1300)
        result = await engine.process(session, [first, second], T0)
    assert result.alerts_opened == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (chat,) = await notifications_of(session, alert.id)
    assert alert.price == 25.0 and alert.last_notified_price == 25.0
    assert alert.reason is not None and "$25" in alert.reason and "$30" not in alert.reason
    body = chat.payload
    assert "Rockies at Diamondbacks — $25 (your max $40)" in body["title"]
    assert "cheapest $25 is at or under your max $40" in body["body"]
    assert body["data"]["market"]["min_price"] == 25.0
    price = next(f for f in body["factors"] if f["name"] == "price")
    assert price["reason"] == "$25 is 38% under your max $40; down 17% vs the 24 h high $30"
    assert alert.escalation is not None and alert.escalation["level"] == chat.level == alert.level


async def test_a_message_not_yet_written_shows_the_newest_data_when_the_market_is_unchanged(
    sessions: Sessions,
) -> None:
    """The same market five hours later: the message says the data is minutes old.

    The first snapshot is too old to alert on (history only); the alert opens on the
    second; the third shows the same market (price, tickets, 24 h high) as the second.
    """
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    async with sessions() as session, session.begin():
        stored = [await snapshot(session, seed, T0 - minutes(age), 30.0) for age in (400, 300, 5)]
        await engine.process(session, stored, T0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (chat,) = await notifications_of(session, alert.id)
    reliability = next(f for f in chat.payload["factors"] if f["name"] == "reliability")
    assert reliability["reason"].startswith("data 5 min old")
    assert chat.payload["data"]["market"]["observed_at"] == (T0 - minutes(5)).isoformat()


async def test_a_later_price_change_rewrites_the_stored_reason(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 30.0)
    await process_snapshot(sessions, engine, seed, T0 + minutes(5), 29.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session, alert.id)
    assert len(notes) == 1  # inside the cooldown: no second message
    assert alert.price == 29.0 and alert.reason is not None and "$29" in alert.reason


async def test_reingest_rescores_instead_of_duplicating(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    later = T0 + minutes(5)
    result = await process_snapshot(sessions, engine, seed, later, 27.5)
    assert result.alerts_opened == 0 and result.alerts_updated == 1
    assert result.notifications == 0  # within the cooldown: a silent update
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        assert alert.price == 27.5 and alert.updated_at == later
        assert len(await notifications_of(session)) == 1


async def test_price_drop_beyond_band_after_cooldown_notifies_again(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, cooldown_s=600)
    engine = await fresh_engine(sessions, config=EngineConfig(cooldown_s=0))
    await process_snapshot(sessions, engine, seed, T0, 30.0)
    later = T0 + minutes(11)
    result = await process_snapshot(sessions, engine, seed, later, 25.0)
    assert result.notifications == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session)
    assert [n.status for n in notes] == ["cancelled", "pending"]  # the stale one is superseded
    assert notes[1].payload["event_type"] == "alert.updated"
    assert alert.last_notified_price == 25.0 and alert.fence == 1


async def test_an_unchanged_market_skips_the_rescore_but_not_the_hold(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=600))
    steps = [
        (0, 28.0, 1344),
        (1, 28.0, 1344),  # the 24 h high is new (none before): re-scored
        (2, 28.0, 1344),  # all the same: skipped
        (3, 28.0, 1200),  # fewer tickets: re-scored
        (4, 45.0, 1200),  # above the max: the hold starts
        (15, 45.0, 1200),  # same market, but the hold is over
    ]
    results = []
    for minute, price, tickets in steps:
        when = T0 + minutes(minute)
        async with sessions() as session, session.begin():
            stored = await snapshot(session, seed, when, price, ticket_count=tickets)
            results.append(await engine.process(session, [stored], when))
    assert [r.alerts_updated for r in results[:4]] == [0, 1, 0, 1]
    assert results[4].alerts_resolved == 0 and results[5].alerts_resolved == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert alert.status == "resolved"
    assert alert.reason == "price back above your max $40 (now $45)"


async def test_price_back_above_max_resolves_after_hold_and_cancels_pending(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        await add_webhook(session, seed.user, ["alert.triggered", "alert.resolved"])
    config = EngineConfig(resolve_hold_s=600)
    engine = await fresh_engine(sessions, config=config)
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    t1 = T0 + minutes(2)
    result = await process_snapshot(sessions, engine, seed, t1, 45.0)
    assert result.alerts_resolved == 0
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        assert alert.status == "open" and alert.clear_since == t1
    t2 = t1 + minutes(10)
    result = await process_snapshot(sessions, engine, seed, t2, 46.0)
    assert result.alerts_resolved == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session)
        kinds = await audit_kinds(session, alert.id)
    assert alert.status == "resolved"
    assert alert.reason == "price back above your max $40 (now $46)"
    assert alert.next_step_at is None
    chat = [n for n in notes if n.channel == "telegram"]
    assert [n.status for n in chat] == ["cancelled"]
    hooks = [(n.payload["event_type"], n.status) for n in notes if n.channel == "webhook"]
    assert hooks == [("alert.triggered", "pending"), ("alert.resolved", "pending")]
    assert kinds[-1] == "resolved"


async def test_condition_back_within_hold_keeps_the_alert(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=600))
    times = [T0 + minutes(n) for n in (0, 2, 4, 14)]
    prices = [28.0, 45.0, 30.0, 45.0]
    for when, price in zip(times, prices, strict=True):
        async with sessions() as session, session.begin():
            result = await engine.process(
                session, [await snapshot(session, seed, when, price)], when
            )
            assert result.alerts_resolved == 0
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert alert.status == "open" and alert.clear_since == times[3]


async def test_resolve_edits_sent_messages_in_place(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=0))
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    receipt = {"channel": "telegram", "address": "tg-100", "message_id": "m-7", "detail": None}
    async with sessions() as session, session.begin():
        await session.execute(update(Notification).values(status="sent", receipt=receipt))
    t1 = T0 + minutes(1)
    result = await process_snapshot(sessions, engine, seed, t1, 50.0)
    assert result.alerts_resolved == 1 and result.notifications == 1
    async with sessions() as session:
        notes = await notifications_of(session)
    edit = notes[-1]
    assert edit.kind == "update" and edit.status == "pending"
    assert edit.payload["event_type"] == "alert.resolved"
    assert edit.payload["edit_of"] == receipt
    assert edit.payload["title"].startswith("☑️ Resolved: Rockies at Diamondbacks")
    # The ended offer's price is named as now, and its buy advice is gone.
    assert "price back above your max $40 (now $50)" in edit.payload["body"]
    assert "within 3 days" in notes[0].payload["body"]
    assert "within 3 days" not in edit.payload["body"]


async def test_event_started_or_sold_out_resolves_at_once(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, triggers=["price_below", "low_inventory"], low_inventory=100)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=3600))
    async with sessions() as session, session.begin():
        result = await engine.process(
            session, [await snapshot(session, seed, T0, 28.0, ticket_count=40)], T0
        )
    assert result.alerts_opened == 2
    t1 = T0 + minutes(1)
    async with sessions() as session, session.begin():
        result = await engine.process(
            session, [await snapshot(session, seed, t1, 28.0, ticket_count=0)], t1
        )
    assert result.alerts_resolved == 2
    async with sessions() as session:
        assert {a.reason for a in await alerts_of(session)} == {"tickets gone"}


async def test_hysteresis_blocks_reopen_near_the_max_within_cooldown(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, cooldown_s=3600)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=0, hysteresis_pct=2.0))
    series = [39.0, 41.0, 39.5, 41.0, 39.9, 38.0]
    opened = []
    for n, price in enumerate(series):
        when = T0 + minutes(n)
        async with sessions() as session, session.begin():
            result = await engine.process(
                session, [await snapshot(session, seed, when, price)], when
            )
            opened.append(result.alerts_opened)
    assert opened == [1, 0, 0, 0, 0, 1]  # 39.5 and 39.9 are not under 40 * 0.98
    async with sessions() as session:
        chats = [n for n in await notifications_of(session) if n.kind == "alert"]
    assert len(chats) == 2


async def test_predictor_is_called_once_per_batch(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        other = await add_event(
            session,
            external_id="2",
            name="Giants at Dodgers",
            performers=("San Francisco Giants", "Los Angeles Dodgers"),
        )
        await add_watch(session, seed.user, other)
    predictor = StubPredictor()
    engine = await fresh_engine(sessions, predictor=predictor)
    async with sessions() as session, session.begin():
        batch = [
            await snapshot(session, seed, T0, 28.0),
            await snapshot(session, seed, T0, 30.0, event=other),
            await snapshot(session, seed, T0 + minutes(1), 27.0),
        ]
        result = await engine.process(session, batch, T0 + minutes(1))
    assert result.alerts_opened == 2 and result.alerts_updated == 1
    assert len(predictor.calls) == 1
    assert sorted(r.event.id for r in predictor.calls[0]) == sorted([seed.event.id, other.id])


async def test_a_failing_predictor_does_not_stop_alerts(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, predictor=StubPredictor(fail=True))
    result = await process_snapshot(sessions, engine, seed, T0, 28.0)
    assert result.alerts_opened == 1


async def test_quiet_hours_defer_and_are_audited(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        user = await add_user(session, timezone="America/New_York", quiet=("22:00", "07:00"))
        event = await add_event(session)
        watch = await add_watch(session, user, event)
        seed = Seed(user, event, watch)
    night = datetime(2024, 3, 20, 3, 0, tzinfo=ZoneInfo("America/New_York"))
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, night, 28.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (note,) = await notifications_of(session)
        kinds = await audit_kinds(session, alert.id)
    assert note.due_at == datetime(2024, 3, 20, 7, 0, tzinfo=ZoneInfo("America/New_York"))
    assert "deferred" in kinds


async def test_level_one_goes_to_the_digest(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(
        sessions,
        predictor=StubPredictor(make_forecast(demand=0.1)),
        config=EngineConfig(weights=DEMAND_ONLY),
    )
    when = T0 + minutes(17)
    await process_snapshot(sessions, engine, seed, when, 28.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (note,) = await notifications_of(session)
    assert alert.level == 1
    assert note.kind == "digest" and note.payload["event_type"] == "digest"
    assert note.due_at == T0 + minutes(60)


async def test_critical_goes_to_every_linked_chat(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        user = await add_user(
            session, chats=(("telegram", "tg-1"), ("slack", "D42")), channel_order=("slack",)
        )
        event = await add_event(session)
        seed = Seed(user, event, await add_watch(session, user, event))
    engine = await fresh_engine(
        sessions,
        predictor=StubPredictor(make_forecast(demand=0.95)),
        config=EngineConfig(weights=DEMAND_ONLY),
    )
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session)
    assert alert.level == 5 and alert.next_step_at == T0 + minutes(2)
    assert {(n.channel, n.address) for n in notes} == {("slack", "D42"), ("telegram", "tg-1")}


async def test_medium_goes_to_the_preferred_chat_or_the_group(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        user = await add_user(
            session, chats=(("telegram", "tg-1"), ("slack", "D42")), channel_order=("slack",)
        )
        event = await add_event(session)
        solo = Seed(user, event, await add_watch(session, user, event))
        await add_watch(
            session, user, event, destination_channel="telegram", destination_address="-100777"
        )
    engine = await fresh_engine(
        sessions,
        predictor=StubPredictor(make_forecast(demand=0.5)),
        config=EngineConfig(weights=DEMAND_ONLY),
    )
    async with sessions() as session, session.begin():
        await engine.process(session, [await snapshot(session, solo, T0, 28.0)], T0)
    async with sessions() as session:
        alerts = await alerts_of(session)
        notes = await notifications_of(session)
    assert [a.level for a in alerts] == [3, 3]
    assert sorted((n.channel, n.address) for n in notes) == [
        ("slack", "D42"),
        ("telegram", "-100777"),
    ]


async def test_watch_min_level_filters(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, min_level=5)
    engine = await fresh_engine(sessions)
    result = await process_snapshot(sessions, engine, seed, T0, 28.0)
    assert result.matches == 1 and result.alerts_opened == 0


async def test_stale_index_heals_from_the_row(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session, event_id=None, terms=["Rockies"])
    engine = await fresh_engine(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Watch).values(muted_event_ids=[seed.event.id]).where(Watch.id == seed.watch.id)
        )
    result = await process_snapshot(sessions, engine, seed, T0, 28.0)
    assert result.alerts_opened == 0
    spec = engine.index.get(seed.watch.id)
    assert spec is not None and seed.event.id in spec.muted_events


async def test_old_snapshots_feed_history_only(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    old = T0 - minutes(60 * 7)
    async with sessions() as session, session.begin():
        result = await engine.process(session, [await snapshot(session, seed, old, 28.0)], T0)
    assert result.matches == 0 and result.alerts_opened == 0
    assert engine.history.latest(seed.event.id) is not None


async def test_new_listing_and_drop_triggers(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(
            session, triggers=["new_listing", "drop_pct"], drop_pct=20.0, max_price=None, quantity=2
        )
    engine = await fresh_engine(sessions)
    async with sessions() as session, session.begin():
        first = await snapshot(session, seed, T0, 50.0)
        result = await engine.process(session, [first], T0)
    assert result.alerts_opened == 0
    t1 = T0 + minutes(30)
    listing = Listing("L9", 38.0, section="112", quantity=2, url="https://tix.example/L9")
    single = Listing("L8", 37.0, section="101", quantity=1, url="https://tix.example/L8")
    async with sessions() as session, session.begin():
        stored = await snapshot(
            session, seed, t1, 38.0, listings=[listing, single], new_listing_ids=["L9"]
        )
        result = await engine.process(session, [stored], t1)
    assert result.alerts_opened == 1
    async with sessions() as session:
        kinds = sorted(a.kind for a in await alerts_of(session))
        notes = await notifications_of(session)
    # No drop_pct: the pair's $38 comes from the listings, and the $50 high is the event
    # minimum's, not the price of two seats together (no such 24 h high is kept).
    assert kinds == ["new_listing"]
    price = next(f for f in notes[0].payload["factors"] if f["name"] == "price")
    assert price["reason"] == "cheapest $38"
    # "Open" leads to the cheapest listing that fits the watch's 2 tickets, not a single.
    assert {n.payload["data"]["links"].get("listing") for n in notes} == {"https://tix.example/L9"}


async def test_snoozed_alert_wakes_when_the_snooze_is_over(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Alert).values(status="snoozed", snoozed_until=T0 + minutes(30))
        )
    t1 = T0 + minutes(10)
    result = await process_snapshot(sessions, engine, seed, t1, 28.0)
    assert result.notifications == 0
    t2 = T0 + minutes(31)
    result = await process_snapshot(sessions, engine, seed, t2, 28.0)
    assert result.notifications == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        kinds = await audit_kinds(session, alert.id)
    assert alert.status == "open" and alert.snoozed_until is None
    assert "woke" in kinds and kinds[-1] == "notified"


async def test_pausing_the_watch_resolves_its_open_alert(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(public_url="https://hdt.example/"))
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    async with sessions() as session:
        (note,) = await notifications_of(session)
    alert_id = note.alert_id
    assert note.payload["data"]["links"] == {
        "alert": f"https://hdt.example/api/v1/alerts/{alert_id}",
        "timeline": f"https://hdt.example/api/v1/alerts/{alert_id}/timeline",
    }
    async with sessions() as session, session.begin():
        await session.execute(update(Watch).values(active=False))
    engine.watch_changed(seed.watch.id, "removed")  # the hook a committed pause calls
    t1 = T0 + minutes(1)
    result = await process_snapshot(sessions, engine, seed, t1, 28.0)
    assert result.alerts_resolved == 1 and result.matches == 0
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    assert alert.status == "resolved" and alert.reason == "watch paused or removed"


async def test_verification_reads_only_watches_whose_row_changed(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    reads: list[set[int]] = []
    real = pipeline.load_watches

    async def counted(session: AsyncSession, ids: Iterable[int]) -> list[Any]:
        reads.append(set(ids))
        return await real(session, ids)

    monkeypatch.setattr(pipeline, "load_watches", counted)
    result = await process_snapshot(sessions, engine, seed, T0, 28.0)
    assert result.alerts_opened == 1
    assert reads[0] == {seed.watch.id}  # never read by this index: read once, then stamped
    assert engine.index.stamp(seed.watch.id) is not None

    async def again(at: datetime, price: float) -> PipelineResult:
        reads.clear()
        async with sessions() as session, session.begin():
            await session.execute(update(Alert).values(status="resolved", resolved_at=at))
        return await process_snapshot(sessions, engine, seed, at, price)

    await again(T0 + minutes(120), 28.0)
    assert reads[0] == set()  # the row still has the stamp the index read: trusted as is
    async with sessions() as session, session.begin():
        await session.execute(
            update(Watch).values(max_price=20.0).where(Watch.id == seed.watch.id)
        )  # another process lowers the max: the row's updated_at moves on
    result = await again(T0 + minutes(240), 25.0)
    assert reads[0] == {seed.watch.id}  # read again, and the new max applies
    spec = engine.index.get(seed.watch.id)
    assert spec is not None and spec.max_price == 20.0
    assert result.alerts_opened == 0  # 25 is over the new max of 20


async def test_a_drop_held_back_by_the_cooldown_is_told_though_the_market_then_holds(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 38.0)
    await process_snapshot(sessions, engine, seed, T0 + minutes(5), 30.0)  # in the cooldown
    for m in range(10, 180, 5):  # then the very same market, snapshot after snapshot
        await process_snapshot(sessions, engine, seed, T0 + minutes(m), 30.0)
    async with sessions() as session:
        notes = await notifications_of(session)
    updates = [n for n in notes if n.payload["event_type"] == "alert.updated"]
    assert len(updates) == 1 and "$30" in updates[0].payload["title"]


async def test_a_feed_polled_every_30_s_still_shows_the_ticket_drain(sessions: Sessions) -> None:
    """The snapshot before is 30 s old (no rate); the drain is measured against the one
    newest at least five minutes back that the engine remembers."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions)
    for step in range(12):  # above the max: the market is watched, nothing opens
        when = T0 + minutes(step / 2)
        async with sessions() as session, session.begin():
            stored = await snapshot(session, seed, when, 45.0, ticket_count=1344 - 4 * step)
            await engine.process(session, [stored], when)
    when = T0 + minutes(6)
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, when, 28.0, ticket_count=1290)
        result = await engine.process(session, [stored], when)
    assert result.alerts_opened == 1
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    availability = next(f for f in alert.factors if f["name"] == "availability")
    assert "46 listed tickets gone in 5 min (41.3% an hour)" in availability["reason"]


async def test_a_pair_watchs_forecast_sentence_says_whose_price_it_forecasts(
    sessions: Sessions,
) -> None:
    """The forecast knows the event's cheapest ticket ($28), not the pair's $80: the
    sentence says so instead of passing for the pair's own outlook."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session, max_price=100.0, quantity=2)
    engine = await fresh_engine(sessions)
    single = Listing("L1", 28.0, section="101", quantity=1, url="https://tix.example/L1")
    pair = Listing("L2", 80.0, section="112", quantity=12, url="https://tix.example/L2")
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, T0, 28.0, listings=[single, pair])
        assert (await engine.process(session, [stored], T0)).alerts_opened == 1
    async with sessions() as session:
        (note,) = [n for n in await notifications_of(session) if n.channel != "webhook"]
    assert "$80" in note.payload["title"]
    assert (
        "For the event's cheapest ticket ($28): 72% chance the cheapest price drops 5% within"
        in note.payload["body"]
    )


async def test_a_pair_watch_that_few_tickets_fit_is_told_to_buy_now(sessions: Sessions) -> None:
    """The event has 1,344 tickets, so its forecast says wait or watch; but only 8 fit a
    pair: the message beside "8 tickets left" says buy now, not wait."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session, max_price=100.0, quantity=2)
    engine = await fresh_engine(sessions)
    single = Listing("L1", 28.0, section="101", quantity=1, url="https://tix.example/L1")
    pair = Listing("L2", 80.0, section="112", quantity=8, url="https://tix.example/L2")
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, T0, 28.0, listings=[single, pair])
        assert (await engine.process(session, [stored], T0)).alerts_opened == 1
    async with sessions() as session:
        (note,) = [n for n in await notifications_of(session) if n.channel != "webhook"]
        (alert,) = await alerts_of(session)
    assert alert.recommendation["advice"] != "BUY NOW"  # the event-wide forecast
    assert "8 tickets left" in note.payload["body"]
    assert "Only 8 tickets fit your search — buy now rather than wait" in note.payload["body"]
    assert "chance the cheapest price drops" not in note.payload["body"]
