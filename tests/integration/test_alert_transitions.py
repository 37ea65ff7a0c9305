"""core.alerts on both backends: ack, snooze, snooze until cheaper, mute, bought, resolve."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Container
from bot.jobs import started_job
from core.alerts import apply_action, resolve, resolve_started
from core.clock import FakeClock
from core.db.models import Alert, Notification, Watch
from core.domain import EVENT_STARTED, ActionKind
from core.errors import NotFoundError, ValidationError
from core.pipeline import AlertEngine
from tests.integration.engine_helpers import (
    STARTS,
    T0,
    Seed,
    add_event,
    add_seed,
    add_user,
    add_webhook,
    alerts_of,
    audit_kinds,
    fresh_engine,
    minutes,
    notifications_of,
    process_snapshot,
    snapshot,
)

Sessions = async_sessionmaker[AsyncSession]
RECEIPT = {"channel": "telegram", "address": "tg-100", "message_id": "m-1", "detail": None}
ALL_EVENTS = ["alert.triggered", "alert.acknowledged", "alert.updated", "alert.resolved"]


async def _opened(sessions: Sessions, **watch_fields: object) -> tuple[Seed, Alert, AlertEngine]:
    """An open alert (price $28 under a $40 max) with a pending chat message and webhook."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session, **watch_fields)
        await add_webhook(session, seed.user, ALL_EVENTS)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    async with sessions() as session:
        (alert,) = await alerts_of(session)
    return seed, alert, engine


async def _act(
    sessions: Sessions, alert_id: int, action: ActionKind, user_id: int, **kwargs: object
) -> Alert:
    async with sessions() as session, session.begin():
        return await apply_action(
            session,
            alert_id,
            action,
            user_id=user_id,
            via=str(kwargs.pop("via", "telegram")),
            now=T0 + minutes(1),
            **kwargs,  # type: ignore[arg-type]
        )


async def _mark_sent(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.channel == "telegram")
            .values(status="sent", receipt=RECEIPT)
        )


async def test_ack_cancels_pending_audits_and_tells_webhooks(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    acked = await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    assert acked.status == "acknowledged" and acked.acked_via == "telegram"
    async with sessions() as session:
        (stored,) = await alerts_of(session)
        notes = await notifications_of(session, alert.id)
        kinds = await audit_kinds(session, alert.id)
    assert stored.acknowledged_at == T0 + minutes(1)
    assert stored.fence == alert.fence + 1 and stored.next_step_at is None
    chat = [n for n in notes if n.channel == "telegram"]
    assert [n.status for n in chat] == ["cancelled"]  # never sent: nothing to edit
    hooks = [n.payload["event_type"] for n in notes if n.channel == "webhook"]
    assert hooks == ["alert.triggered", "alert.acknowledged"]
    assert kinds[-1] == "acknowledged"


async def test_ack_edits_every_sent_message_in_place(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    await _mark_sent(sessions)
    await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    async with sessions() as session:
        notes = await notifications_of(session, alert.id)
    (edit,) = [n for n in notes if n.kind == "update" and n.channel == "telegram"]
    assert (edit.address, edit.status) == ("tg-100", "pending")
    assert edit.payload["edit_of"] == RECEIPT
    assert edit.payload["event_type"] == "alert.acknowledged"
    assert edit.payload["title"].startswith("✅ Acknowledged: Rockies at Diamondbacks")
    assert edit.payload["data"]["alert"]["status"] == "acknowledged"
    assert len({n.idempotency_key for n in notes}) == len(notes)


async def test_double_ack_is_refused_politely(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    with pytest.raises(ValidationError, match=rf"^alert {alert.id} is already acknowledged$"):
        await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    async with sessions() as session:
        assert (await audit_kinds(session, alert.id)).count("acknowledged") == 1


async def test_a_stale_snooze_after_ack_is_refused_but_snooze_under_a_price_is_kept(
    sessions: Sessions,
) -> None:
    seed, alert, _ = await _opened(sessions)
    await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    with pytest.raises(ValidationError, match="already acknowledged and sends no reminders"):
        await _act(
            sessions, alert.id, ActionKind.SNOOZE, seed.user.id, snooze_until=T0 + minutes(61)
        )
    async with sessions() as session:
        (stored,) = await alerts_of(session)
    assert stored.status == "acknowledged"
    cheaper = await _act(
        sessions, alert.id, ActionKind.SNOOZE_CHEAPER, seed.user.id, snooze_below=20.0
    )
    assert (cheaper.status, cheaper.snooze_below) == ("snoozed", 20.0)


async def test_someone_elses_alert_is_not_found(sessions: Sessions) -> None:
    _, alert, _ = await _opened(sessions)
    async with sessions() as session, session.begin():
        stranger = await add_user(session, name="Bob", chats=(("telegram", "tg-2"),))
    with pytest.raises(NotFoundError):
        await _act(sessions, alert.id, ActionKind.ACK, stranger.id)
    with pytest.raises(NotFoundError):
        await _act(sessions, alert.id + 100, ActionKind.ACK, stranger.id)
    async with sessions() as session:
        (stored,) = await alerts_of(session)
    assert stored.status == "open" and stored.fence == alert.fence


async def test_snooze_for_an_hour_and_refuse_the_same_snooze(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    await _mark_sent(sessions)
    snoozed = await _act(sessions, alert.id, ActionKind.SNOOZE, seed.user.id)
    assert snoozed.status == "snoozed"
    assert snoozed.snoozed_until == T0 + minutes(61)
    with pytest.raises(ValidationError, match="already snoozed until"):
        await _act(
            sessions, alert.id, ActionKind.SNOOZE, seed.user.id, snooze_until=T0 + minutes(61)
        )
    with pytest.raises(ValidationError, match="must end in the future"):
        await _act(sessions, alert.id, ActionKind.SNOOZE, seed.user.id, snooze_until=T0)
    async with sessions() as session:
        notes = await notifications_of(session, alert.id)
    edits = [n for n in notes if n.kind == "update" and n.channel == "telegram"]
    assert [e.payload["event_type"] for e in edits] == ["alert.updated"]
    assert edits[0].payload["title"].startswith("💤 Snoozed:")


async def test_snooze_until_cheaper_then_the_engine_wakes_it(sessions: Sessions) -> None:
    seed, alert, engine = await _opened(sessions)
    with pytest.raises(ValidationError, match="not under the current price"):
        await _act(sessions, alert.id, ActionKind.SNOOZE_CHEAPER, seed.user.id, snooze_below=30.0)
    snoozed = await _act(sessions, alert.id, ActionKind.SNOOZE_CHEAPER, seed.user.id)
    assert snoozed.status == "snoozed" and snoozed.snooze_below == pytest.approx(26.6)
    t1 = T0 + minutes(5)
    result = await process_snapshot(sessions, engine, seed, t1, 27.0)
    assert result.notifications == 0
    t2 = T0 + minutes(6)
    result = await process_snapshot(sessions, engine, seed, t2, 26.0)
    assert result.notifications >= 1
    async with sessions() as session:
        (stored,) = await alerts_of(session)
    assert stored.status == "open" and stored.snooze_below is None and stored.price == 26.0


async def test_mute_an_event_watch_pauses_it(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    muted = await _act(sessions, alert.id, ActionKind.MUTE, seed.user.id)
    assert muted.status == "resolved" and muted.reason == "muted via telegram"
    async with sessions() as session:
        watch = await session.get(Watch, seed.watch.id)
        notes = await notifications_of(session, alert.id)
    assert watch is not None and watch.active is False
    assert [n.payload["event_type"] for n in notes if n.channel == "webhook"][-1] == (
        "alert.resolved"
    )
    with pytest.raises(ValidationError, match="already resolved"):
        await _act(sessions, alert.id, ActionKind.MUTE, seed.user.id)


async def test_mute_on_a_many_event_watch_mutes_only_that_event(sessions: Sessions) -> None:
    seed, alert, engine = await _opened(sessions, event_id=None, terms=["Rockies"])
    await _act(sessions, alert.id, ActionKind.MUTE, seed.user.id)
    async with sessions() as session:
        watch = await session.get(Watch, seed.watch.id)
    assert watch is not None and watch.active is True
    assert watch.muted_event_ids == [seed.event.id]
    t1 = T0 + minutes(2)
    async with sessions() as session, session.begin():
        other = await add_event(session, external_id="2", name="Rockies at Giants")
        batch = [
            await snapshot(session, seed, t1, 20.0),
            await snapshot(session, seed, t1, 20.0, event=other),
        ]
        result = await engine.process(session, batch, t1)
    assert result.alerts_opened == 1
    async with sessions() as session:
        alerts = await alerts_of(session)
    assert [(a.event_id, a.status) for a in alerts] == [
        (seed.event.id, "resolved"),
        (other.id, "open"),
    ]


async def test_bought_closes_and_pauses_the_watch(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    await _mark_sent(sessions)
    bought = await _act(sessions, alert.id, ActionKind.BOUGHT, seed.user.id, via="api")
    assert bought.status == "resolved" and bought.reason == "bought via api"
    async with sessions() as session:
        watch = await session.get(Watch, seed.watch.id)
        notes = await notifications_of(session, alert.id)
        kinds = await audit_kinds(session, alert.id)
    assert watch is not None and watch.active is False
    (edit,) = [n for n in notes if n.kind == "update" and n.channel == "telegram"]
    assert edit.payload["event_type"] == "alert.resolved" and edit.payload["edit_of"] == RECEIPT
    assert kinds[-1] == "bought"


async def test_ack_after_resolve_and_non_alert_actions_are_refused(sessions: Sessions) -> None:
    seed, alert, _ = await _opened(sessions)
    with pytest.raises(ValidationError, match="does not apply"):
        await _act(sessions, alert.id, ActionKind.PAUSE_WATCH, seed.user.id)
    await _act(sessions, alert.id, ActionKind.BOUGHT, seed.user.id)
    with pytest.raises(ValidationError, match=rf"^alert {alert.id} is already resolved \(.*\)$"):
        await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    with pytest.raises(ValidationError, match="already resolved"):
        await _act(sessions, alert.id, ActionKind.SNOOZE, seed.user.id)


async def test_resolve_cancels_pending_and_refuses_twice(sessions: Sessions) -> None:
    _, alert, _ = await _opened(sessions)
    async with sessions() as session, session.begin():
        row = await session.get(Alert, alert.id)
        assert row is not None
        await resolve(session, row, "resolved by an admin", T0 + timedelta(minutes=3))
    async with sessions() as session:
        (stored,) = await alerts_of(session)
        chat = [n for n in await notifications_of(session, alert.id) if n.channel == "telegram"]
        with pytest.raises(ValidationError, match="already resolved"):
            await resolve(session, stored, "again", T0 + timedelta(minutes=4))
    assert stored.status == "resolved" and stored.reason == "resolved by an admin"
    assert stored.resolved_at == T0 + minutes(3)
    assert [n.status for n in chat] == ["cancelled"]


async def test_a_resolved_key_can_open_again_later(sessions: Sessions) -> None:
    seed, alert, engine = await _opened(sessions, cooldown_s=60)
    await _act(sessions, alert.id, ActionKind.ACK, seed.user.id)
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).values(status="resolved", resolved_at=T0))
    t1 = T0 + minutes(5)
    result = await process_snapshot(sessions, engine, seed, t1, 27.0)
    assert result.alerts_opened == 1
    async with sessions() as session:
        keys = (await session.execute(select(Alert.dedup_key, Alert.status))).all()
    assert sorted(status for _, status in keys) == ["open", "resolved"]
    assert len({key for key, _ in keys}) == 1


async def test_alerts_resolve_when_their_event_starts(sessions: Sessions) -> None:
    """A feed stops reporting an event once it begins: the alert must not stay open."""
    seed, alert, _ = await _opened(sessions)
    await _mark_sent(sessions)
    async with sessions() as session, session.begin():
        other = await add_event(session, external_id="later", starts_at=STARTS + timedelta(days=1))
        later = Alert(
            dedup_key=f"{seed.watch.id}:{other.id}:price_below", watch_id=seed.watch.id,
            user_id=seed.user.id, event_id=other.id, kind="price_below", score=0.5, level=3,
            status="snoozed", opened_at=T0, updated_at=T0,
        )  # fmt: skip
        session.add(later)
    async with sessions() as session, session.begin():
        assert await resolve_started(session, STARTS - timedelta(seconds=1)) == 0
    async with sessions() as session, session.begin():
        assert await resolve_started(session, STARTS) == 1
    async with sessions() as session, session.begin():
        assert await resolve_started(session, STARTS + minutes(1)) == 0  # once

    async with sessions() as session:
        rows = {a.id: a for a in await alerts_of(session)}
        notes = await notifications_of(session, alert.id)
        kinds = await audit_kinds(session, alert.id)
    ended = rows[alert.id]
    assert (ended.status, ended.reason) == ("resolved", EVENT_STARTED)
    assert ended.next_step_at is None and ended.fence == alert.fence + 1
    assert rows[later.id].status == "snoozed"  # its event has not started
    (edit,) = [n for n in notes if n.kind == "update" and n.channel == "telegram"]
    assert edit.payload["title"].startswith("☑️ Resolved: Rockies at Diamondbacks")
    assert edit.payload["data"]["alert"]["reason"] == "event started"
    hooks = [n.payload["event_type"] for n in notes if n.channel == "webhook"]
    assert hooks == ["alert.triggered", "alert.resolved"]
    assert kinds[-1] == "resolved"


async def test_the_event_start_job_resolves_and_wakes_delivery(sessions: Sessions) -> None:
    await _opened(sessions)
    woken: list[bool] = []
    container = SimpleNamespace(
        sessions=sessions,
        clock=FakeClock(STARTS + minutes(1)),
        signal=SimpleNamespace(notify=lambda: woken.append(True)),
    )
    job = started_job(cast(Container, container))
    assert (job.name, job.exclusive) == ("event-start", True)

    await job.run()

    async with sessions() as session:
        (stored,) = await alerts_of(session)
    assert stored.status == "resolved" and woken == [True]
