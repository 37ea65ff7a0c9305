"""A changed watch's kept alerts are scored again under its new terms at once.

`watch #3 under 70` after `under 80` kept the alert of a $60 ticket (snooze or ack and
all) but its factors, score and level still came from the $80 max: `alerts show`, the
chat's details and the escalation texts said "$60 is 25% under your max $80".
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.actions import ActionSigner
from core.alerts import apply_action
from core.chat import CommandContext
from core.clock import FakeClock
from core.db.models import Alert, AuditEntry
from core.domain import ActionKind, Level
from core.factors import price_value
from core.handlers import CommandHandlers
from core.history import latest_snapshots
from core.pipeline import AlertEngine
from tests.integration.engine_helpers import (
    SECRET,
    T0,
    Seed,
    Sessions,
    add_seed,
    alerts_of,
    fresh_engine,
    minutes,
    notifications_of,
    process_snapshot,
)

FACTORS = [
    {"name": "price", "value": 0.8833, "weight": 0.25, "reason": "$60 is 25% under your max $80"},
    {"name": "availability", "value": 0.2, "weight": 0.2, "reason": "1,344 tickets left"},
    {"name": "urgency", "value": 0.286, "weight": 0.2, "reason": "starts in 11 days 8 h"},
    {"name": "preference", "value": 0.7, "weight": 0.15, "reason": "the event you picked"},
    {"name": "demand", "value": 0.5, "weight": 0.1, "reason": "moderate demand (0.50, stub)"},
    {"name": "reliability", "value": 0.925, "weight": 0.1, "reason": "fresh data"},
]


async def _story(
    sessions: Sessions, at: datetime = T0, **watch: Any
) -> tuple[Seed, AlertEngine, CommandHandlers]:
    """A watch on the Rockies game (`watch` fields) whose price alert opened on a $60
    snapshot at T0, and the chat handlers telling the engine's index of watch changes."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session, label="rockies", **watch)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, T0, 60.0)
    clock = FakeClock(at)
    handlers = CommandHandlers(
        sessions, clock, random.Random(1), ActionSigner(SECRET), index_hook=engine.watch_changed
    )
    return seed, engine, handlers


async def _say(handlers: CommandHandlers, seed: Seed, text: str) -> str:
    reply = await handlers.handle_text(CommandContext(seed.user.id, "telegram", "tg-100"), text)
    assert not reply.is_error, reply.text
    return reply.text


async def _the_alert(sessions: Sessions) -> Alert:
    async with sessions() as session:
        [alert] = await alerts_of(session)
        return alert


@pytest.mark.parametrize("action", [ActionKind.SNOOZE, ActionKind.ACK])
async def test_a_kept_alert_is_explained_and_scored_under_the_new_max(
    sessions: Sessions, action: ActionKind
) -> None:
    now = T0 + minutes(1)
    seed, engine, handlers = await _story(sessions, now, max_price=80.0)
    opened = await _the_alert(sessions)
    assert opened.factors[0]["reason"] == "$60 is 25% under your max $80"
    async with sessions() as session, session.begin():
        until = now + timedelta(hours=5)
        await apply_action(
            session, opened.id, action, user_id=seed.user.id, via="telegram", now=now,
            snooze_until=until,
        )  # fmt: skip
    answered = await _the_alert(sessions)
    async with sessions() as session:
        sent = len(await notifications_of(session))

    reply = await _say(handlers, seed, f"watch #{seed.event.id} under 70")

    assert "closed" not in reply, reply
    alert = await _the_alert(sessions)
    kept = ("status", "snoozed_until", "acknowledged_at", "acked_via", "fence", "escalation")
    assert {k: getattr(alert, k) for k in kept} == {k: getattr(answered, k) for k in kept}
    price = alert.factors[0]
    assert price == {
        "name": "price",
        "value": round(price_value(60.0, 70.0, None), 4),
        "weight": 0.25,
        "reason": "$60 is 14% under your max $70",
    }
    assert not [f for f in alert.factors if "$80" in f["reason"]]
    assert alert.reason == "cheapest $60 is at or under your max $70"
    assert alert.score < opened.score and alert.updated_at == now
    async with sessions() as session:
        assert len(await notifications_of(session)) == sent  # nothing new to tell
    # The engine, scoring the same snapshot at the same instant, finds the same score.
    async with sessions() as session, session.begin():
        stored = await latest_snapshots(session, [seed.event.id])
        await engine.revisit(session, stored, now)
    assert (await _the_alert(sessions)).score == alert.score


async def test_a_level_fall_is_noted_and_told_to_nobody(sessions: Sessions) -> None:
    seed, _, handlers = await _story(sessions, T0 + minutes(1), max_price=80.0, favourite=True)
    opened = await _the_alert(sessions)
    assert opened.level == Level.HIGH
    async with sessions() as session:
        sent = len(await notifications_of(session))

    await _say(handlers, seed, f"watch #{seed.event.id} under 70")

    alert = await _the_alert(sessions)
    assert alert.level == Level.MEDIUM and alert.status == "open"
    async with sessions() as session:
        assert len(await notifications_of(session)) == sent
        details = list(
            await session.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.alert_id == alert.id, AuditEntry.kind == "rescored"
                )
            )
        )
    assert details == [f"rescored: high -> medium ({alert.score:.2f}), watch changed"]


async def test_a_level_rise_is_told_once_by_the_engines_next_rescore(sessions: Sessions) -> None:
    """As a rise from a new snapshot: one update of the same alert, no second alert."""
    seed, engine, handlers = await _story(sessions, T0 + minutes(1), max_price=62.0, favourite=True)
    assert (await _the_alert(sessions)).level == Level.MEDIUM
    async with sessions() as session:
        sent = len(await notifications_of(session))

    await _say(handlers, seed, f"watch #{seed.event.id} under 300")

    assert (await _the_alert(sessions)).level == Level.HIGH
    async with sessions() as session:
        assert len(await notifications_of(session)) == sent  # the engine tells it
    for at in (T0 + minutes(20), T0 + minutes(40)):
        await process_snapshot(sessions, engine, seed, at, 60.0)
    async with sessions() as session:
        [alert] = await alerts_of(session)
        told = [n for n in await notifications_of(session) if n.kind != "digest"][sent:]
        rose = await session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.alert_id == alert.id, AuditEntry.kind == "notified"
            )
        )
        assert list(rose) == ["level rose to high"]
    assert told and {n.alert_id for n in told} == {alert.id}


async def test_an_alert_the_newest_snapshot_no_longer_fires_keeps_its_price(
    sessions: Sessions,
) -> None:
    """The newest snapshot is over the max (the engine's resolve hold runs): the alert,
    kept for its $60, is explained at $60 against the new max."""
    seed, engine, handlers = await _story(sessions, T0 + minutes(6), max_price=80.0)
    await process_snapshot(sessions, engine, seed, T0 + minutes(5), 85.0)
    assert (await _the_alert(sessions)).clear_since is not None

    await _say(handlers, seed, f"watch #{seed.event.id} under 70")

    alert = await _the_alert(sessions)
    assert (alert.status, alert.price) == ("open", 60.0)
    assert alert.factors[0]["reason"] == "$60 is 14% under your max $70"
    assert alert.reason == "cheapest $60 is at or under your max $70"


async def test_a_kept_alert_without_a_snapshot_keeps_its_score(sessions: Sessions) -> None:
    """Retention removed its event's snapshots: nothing to score it on, its reason quotes
    the new max."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session, label="rockies", max_price=80.0)
        session.add(
            Alert(
                dedup_key=f"{seed.watch.id}:{seed.event.id}:price_below", watch_id=seed.watch.id,
                user_id=seed.user.id, event_id=seed.event.id, kind="price_below", score=0.5655,
                level=3, factors=FACTORS, price=60.0, status="open",
                reason="cheapest $60 is at or under your max $80", opened_at=T0, updated_at=T0,
            )
        )  # fmt: skip
    handlers = CommandHandlers(sessions, FakeClock(T0), random.Random(1), ActionSigner(SECRET))

    reply = await _say(handlers, seed, f"watch #{seed.event.id} under 70")

    assert "closed" not in reply, reply
    alert = await _the_alert(sessions)
    assert (alert.status, alert.score, alert.level, alert.factors) == ("open", 0.5655, 3, FACTORS)
    assert alert.reason == "cheapest $60 is at or under your max $70"


@pytest.mark.parametrize("configured", [None, (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)])
async def test_a_kept_alert_stays_critical_where_the_configured_weights_make_it(
    sessions: Sessions, configured: tuple[float, ...] | None
) -> None:
    """Learning never takes an alert out of critical (`scoring.keep_critical`): the
    alert's stored weights (here the defaults, standing for a person's learned blend)
    score it high, the configured weights (price alone) critical."""
    seed, engine, _ = await _story(sessions, T0 + minutes(1), max_price=80.0, favourite=True)
    assert (await _the_alert(sessions)).level < Level.CRITICAL
    extra = {} if configured is None else {"weights": configured}
    handlers = CommandHandlers(
        sessions, FakeClock(T0 + minutes(1)), random.Random(1), ActionSigner(SECRET),
        index_hook=engine.watch_changed, **extra,
    )  # fmt: skip

    await _say(handlers, seed, f"watch #{seed.event.id} under 300")

    alert = await _the_alert(sessions)
    assert alert.factors[0]["value"] == 1.0  # $60 is far under $300
    expected = Level.HIGH if configured is None else Level.CRITICAL
    assert alert.level == expected
