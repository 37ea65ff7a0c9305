"""A person hears about one event once per destination in a batch, however many of their
alerts it opens or re-notifies (`core.engine_decide.merge_rounds`), on both backends.

Ada watches "mlb" (a 10% drop) and "yankees under 80". One snapshot of the game at $50,
down from $56, opens an alert on each watch; she gets one message (the higher level's,
naming the other watch), and only that alert escalates.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.clock import FakeClock
from core.db.models import Alert, AuditEntry, Notification, Watch
from core.domain import ActionKind
from core.escalation_audit import audit_escalations
from core.metrics import RecordingMetrics
from core.pipeline import AlertEngine, EngineConfig, PipelineResult
from core.policy import is_stopped
from tests.fakes.predictor import StubPredictor, make_forecast
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_event,
    add_user,
    add_watch,
    add_webhook,
    alerts_of,
    fresh_engine,
    minutes,
    notifications_of,
    snapshot,
)
from tests.integration.escalation_helpers import add_phone, run_until, sends, service, timeline

Sessions = async_sessionmaker[AsyncSession]
PRICE_ONLY = EngineConfig(weights=(1.0, 0, 0, 0, 0, 0))
DEMAND_ONLY = EngineConfig(weights=(0.0, 0.0, 0.0, 0.0, 1.0, 0.0))


async def _two_watches(
    sessions: Sessions, *, group: bool = False, webhook: bool = False
) -> tuple[Seed, Watch, Watch]:
    """Ada, the game, her "mlb" drop watch (made first) and her "yankees under 80" watch
    (in a Telegram group when `group`); a global webhook endpoint when `webhook`."""
    async with sessions() as session, session.begin():
        user = await add_user(session)
        event = await add_event(session, name="Yankees at Red Sox", performers=("Yankees",))
        mlb = await add_watch(
            session, user, event, label="mlb", triggers=["drop_pct"], drop_pct=10.0, max_price=None
        )
        where = {"destination_channel": "telegram", "destination_address": "-100777"}
        mine = where if group else {}
        yankees = await add_watch(
            session, user, event, label="yankees under 80", max_price=80.0, **mine
        )
        await add_phone(session, user.id, at=T0)
        await add_phone(session, user.id, emergency=True, at=T0, name="Sam")
        if webhook:
            await add_webhook(session, None, ["alert.triggered"])
    return Seed(user, event, mlb), mlb, yankees


async def _game(
    sessions: Sessions, engine: AlertEngine, seed: Seed, high: float, price: float
) -> PipelineResult:
    """The market at `high` (history only: opens nothing), then at `price` ten minutes on."""
    async with sessions() as session, session.begin():
        await engine.process(session, [await snapshot(session, seed, T0, high)], T0, alert=False)
    return await _at(sessions, engine, seed, 10, price)


async def _at(
    sessions: Sessions, engine: AlertEngine, seed: Seed, minute: float, price: float
) -> PipelineResult:
    when = T0 + minutes(minute)
    async with sessions() as session, session.begin():
        return await engine.process(session, [await snapshot(session, seed, when, price)], when)


def _chats(notes: list[Notification]) -> list[Notification]:
    return [n for n in notes if n.channel != "webhook"]


async def _audit(sessions: Sessions, alert_id: int, kind: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.alert_id == alert_id, AuditEntry.kind == kind
            )
        )
        return [str(detail) for detail in rows]


async def test_two_watches_of_one_person_send_one_message_about_the_event(
    sessions: Sessions,
) -> None:
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    result = await _game(sessions, engine, seed, 56.0, 50.0)
    assert result.alerts_opened == 2 and result.notifications == 1
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
        notes = await notifications_of(session)
    kept, covered = by_watch[yankees.id], by_watch[mlb.id]
    # The higher level tells it, although the other watch has the lower id.
    assert (kept.level, covered.level) == (5, 3) and mlb.id < yankees.id
    (note,) = _chats(notes)
    assert (note.alert_id, note.channel, note.address) == (kept.id, "telegram", "tg-100")
    also = f"Also matches your watch #{mlb.id} (mlb): down 11% to $50 from $56 in 24 h"
    assert note.payload["body"].endswith("\n" + also)
    assert note.payload["title"].startswith("🚨 Yankees at Red Sox — $50")
    # The covered alert sent nothing and does not escalate; its timeline says why.
    assert covered.status == "open" and covered.next_step_at is None
    assert is_stopped(covered.escalation)
    assert await _audit(sessions, covered.id, "covered") == [
        f"told in the message of alert #{kept.id} (watch #{yankees.id}); no escalation of its own"
    ]
    assert await _audit(sessions, kept.id, "covers") == [
        f"its message also tells of alert #{covered.id} (watch #{mlb.id})"
    ]
    assert kept.next_step_at == T0 + minutes(12)  # critical: SMS 2 minutes after step 0
    assert not is_stopped(kept.escalation)


async def test_a_group_watch_and_a_personal_watch_are_not_merged(sessions: Sessions) -> None:
    seed, mlb, yankees = await _two_watches(sessions, group=True)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
        chats = _chats(await notifications_of(session))
    sent = {(n.alert_id, n.address) for n in chats}
    # A critical group alert also reaches the person's chats; neither is covered.
    group_alert = by_watch[yankees.id].id
    assert sent == {
        (by_watch[mlb.id].id, "tg-100"),
        (group_alert, "-100777"),
        (group_alert, "tg-100"),
    }
    assert len(chats) == 3
    assert not any("Also matches" in n.payload["body"] for n in chats)
    for alert in by_watch.values():
        assert await _audit(sessions, alert.id, "covered") == []
        assert not is_stopped(alert.escalation)


async def test_two_people_each_get_their_message(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        bob = await add_user(session, name="Bob", chats=(("telegram", "tg-200"),))
        event = await add_event(session)
        seed = Seed(ada, event, await add_watch(session, ada, event))
        await add_watch(session, bob, event)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    result = await _at(sessions, engine, seed, 0, 28.0)
    assert result.alerts_opened == 2
    async with sessions() as session:
        chats = _chats(await notifications_of(session))
    assert sorted(n.address for n in chats) == ["tg-100", "tg-200"]


async def test_webhooks_still_hear_of_every_alert(sessions: Sessions) -> None:
    seed, _, _ = await _two_watches(sessions, webhook=True)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    result = await _game(sessions, engine, seed, 56.0, 50.0)
    assert result.notifications == 3
    async with sessions() as session:
        alerts = await alerts_of(session)
        notes = await notifications_of(session)
    hooks = [n for n in notes if n.channel == "webhook"]
    assert sorted(n.alert_id or 0 for n in hooks) == sorted(a.id for a in alerts)
    assert {n.payload["event_type"] for n in hooks} == {"alert.triggered"}
    assert not any("Also matches" in n.payload["body"] for n in hooks)  # chat text only
    assert len(_chats(notes)) == 1


async def test_a_covered_alert_is_told_on_its_own_when_only_it_notifies(
    sessions: Sessions,
) -> None:
    """Later, the "mlb" alert alone rises (to critical, at $30: a 46% drop) while the
    other stays silent (its cooldown): it gets its own message and escalation."""
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    result = await _at(sessions, engine, seed, 11, 30.0)
    assert result.notifications == 1
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
        notes = _chats(await notifications_of(session))
    mlb_alert = by_watch[mlb.id]
    assert [n.alert_id for n in notes] == [by_watch[yankees.id].id, mlb_alert.id]
    assert "Also" not in notes[-1].payload["body"]
    assert mlb_alert.level == 5 and mlb_alert.next_step_at == T0 + minutes(13)
    assert not is_stopped(mlb_alert.escalation)


async def test_two_alerts_notified_again_together_send_one_message(sessions: Sessions) -> None:
    """An hour on, $40 re-notifies both open alerts (a lower price; "mlb" rises to
    critical): again one message, and the other alert's new round does not escalate."""
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    result = await _at(sessions, engine, seed, 80, 40.0)
    assert (result.alerts_opened, result.notifications) == (0, 1)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
        notes = _chats(await notifications_of(session))
    kept, covered = by_watch[mlb.id], by_watch[yankees.id]  # equal: the lowest watch id
    assert (kept.level, covered.level) == (5, 5)
    assert [n.alert_id for n in notes] == [covered.id, kept.id]  # the first message, then
    assert (
        notes[-1]
        .payload["body"]
        .endswith(
            f"Also matches your watch #{yankees.id} (yankees under 80): "
            "cheapest $40 is at or under your max $80"
        )
    )
    assert kept.next_step_at == T0 + minutes(82)
    assert covered.next_step_at is None and is_stopped(covered.escalation)
    assert len(await _audit(sessions, covered.id, "notified")) == 1
    assert len(await _audit(sessions, covered.id, "covered")) == 1


async def test_covered_alerts_add_no_digest_lines(sessions: Sessions) -> None:
    """Two low-priority alerts of one event: one digest item, not two."""
    async with sessions() as session, session.begin():
        user = await add_user(session)
        event = await add_event(session)
        seed = Seed(user, event, await add_watch(session, user, event))
        await add_watch(session, user, event, label="rockies under 50", max_price=50.0)
    engine = await fresh_engine(
        sessions, predictor=StubPredictor(make_forecast(demand=0.1)), config=DEMAND_ONLY
    )
    result = await _at(sessions, engine, seed, 0, 28.0)
    assert result.alerts_opened == 2 and result.notifications == 1
    async with sessions() as session:
        alerts = await alerts_of(session)
        (item,) = await notifications_of(session)
    assert [a.level for a in alerts] == [1, 1]
    assert item.kind == "digest" and item.alert_id == alerts[0].id  # equal: lowest watch id
    assert await _audit(sessions, alerts[1].id, "digest") == []  # no digest note of its own
    assert len(await _audit(sessions, alerts[1].id, "covered")) == 1


async def test_only_one_escalation_runs_for_the_event(sessions: Sessions) -> None:
    """Both alerts are critical: one SMS, one call chain, one text to the emergency
    contact, all on the alert that told the person; the auditor leaves the other alone."""
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 90.0, 50.0)  # a 44% drop: "mlb" is critical too
    async with sessions() as session:
        alerts = await alerts_of(session)
    assert [a.level for a in alerts] == [5, 5]
    by_watch = {a.watch_id: a for a in alerts}
    kept, covered = by_watch[mlb.id], by_watch[yankees.id]  # equal: the lowest watch id
    clock = FakeClock(T0 + minutes(10))
    svc = service(sessions, clock)
    metrics = RecordingMetrics()
    for _ in range(25):
        await run_until(svc, clock, 60, step=15)
        async with sessions() as session, session.begin():
            report = await audit_escalations(session, clock.now(), metrics)
        assert (report.stuck, report.retried) == (0, 0)
    assert await sends(sessions, covered.id) == []
    steps = await sends(sessions, kept.id)
    own_sms = [s for s in steps if s.startswith("sms:")]
    assert len(own_sms) == 2  # the person's phone once, the emergency contact once
    assert len(set(own_sms)) == 2
    assert sum(s.startswith("voice:") for s in steps) == 2  # the call and its one repeat
    lines = await timeline(sessions, covered.id)
    assert any(line.startswith("covered: told in the message of") for line in lines)
    async with sessions() as session:
        stored = await session.get(Alert, covered.id)
    assert stored is not None and stored.next_step_at is None and stored.step == 0


async def _answer(sessions: Sessions, alert_id: int, action: ActionKind) -> list[Alert]:
    """Ada answers the message of `alert_id`; returns the other alerts the answer reached."""
    others: list[Alert] = []
    async with sessions() as session, session.begin():
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        await apply_action(
            session, alert_id, action, user_id=alert.user_id, via="telegram",
            now=T0 + minutes(11), siblings=others,
        )  # fmt: skip
    return others


async def _statuses(sessions: Sessions) -> dict[int, str]:
    async with sessions() as session:
        return {a.watch_id: a.status for a in await alerts_of(session)}


async def test_acknowledging_the_message_acknowledges_the_alerts_it_names(
    sessions: Sessions,
) -> None:
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
    kept, covered = by_watch[yankees.id], by_watch[mlb.id]
    others = await _answer(sessions, kept.id, ActionKind.ACK)
    assert [o.id for o in others] == [covered.id]
    assert await _statuses(sessions) == {mlb.id: "acknowledged", yankees.id: "acknowledged"}
    assert await _audit(sessions, covered.id, "acknowledged") == [
        f"acknowledged via telegram, with alert #{kept.id} (same event)"
    ]


async def test_muting_the_message_mutes_the_event_on_every_watch_it_names(
    sessions: Sessions,
) -> None:
    """The reply promised 'no more alerts about this event': the other watch stops too,
    and a later, cheaper snapshot opens nothing."""
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
    await _answer(sessions, by_watch[yankees.id].id, ActionKind.MUTE)
    assert await _statuses(sessions) == {mlb.id: "resolved", yankees.id: "resolved"}
    async with sessions() as session:
        watches = [await session.get(Watch, w.id) for w in (mlb, yankees)]
    assert all(w is not None and not w.active for w in watches)  # one-event watches pause
    result = await _at(sessions, engine, seed, 30, 35.0)
    assert result.alerts_opened == 0 and result.notifications == 0


async def test_a_snooze_until_cheaper_stays_with_its_alert(sessions: Sessions) -> None:
    seed, mlb, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
    assert await _answer(sessions, by_watch[yankees.id].id, ActionKind.SNOOZE_CHEAPER) == []
    assert await _statuses(sessions) == {mlb.id: "open", yankees.id: "snoozed"}
    assert await _answer(sessions, by_watch[yankees.id].id, ActionKind.SNOOZE) != []
    assert await _statuses(sessions) == {mlb.id: "snoozed", yankees.id: "snoozed"}


async def test_when_the_alert_that_told_ends_its_edit_names_the_alerts_still_open(
    sessions: Sessions,
) -> None:
    """Her "yankees under 80" watch expires while the game is still down 11%: the edited
    message says resolved and that the "mlb" alert it told of is still open."""
    seed, mlb, yankees = await _two_watches(sessions)
    async with sessions() as session, session.begin():
        watch = await session.get(Watch, yankees.id)
        assert watch is not None
        watch.expires_at = T0 + minutes(15)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    async with sessions() as session, session.begin():
        (note,) = _chats(await notifications_of(session))
        note.status, note.receipt = "sent", {"message_id": 77, "chat_id": "tg-100"}
    await _at(sessions, engine, seed, 20, 50.0)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
        edits = [n for n in _chats(await notifications_of(session)) if n.id != note.id]
    assert by_watch[yankees.id].status == "resolved" and by_watch[mlb.id].status == "open"
    (edit,) = edits
    assert edit.payload["edit_of"]["message_id"] == 77
    lines = edit.payload["body"].splitlines()
    assert lines[0] == "Resolved: watch expired"
    still = f"Still open on your watch #{mlb.id} (mlb): down 11% to $50 from $56 in 24 h"
    assert lines[1] == still


async def test_an_edit_names_no_alert_that_ended_with_it(sessions: Sessions) -> None:
    seed, _, yankees = await _two_watches(sessions)
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await _game(sessions, engine, seed, 56.0, 50.0)
    async with sessions() as session, session.begin():
        (note,) = _chats(await notifications_of(session))
        note.status, note.receipt = "sent", {"message_id": 77, "chat_id": "tg-100"}
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
    await _answer(sessions, by_watch[yankees.id].id, ActionKind.BOUGHT)  # closes both
    async with sessions() as session:
        edits = [n for n in _chats(await notifications_of(session)) if n.id != note.id]
    (edit,) = edits
    assert "Still open" not in edit.payload["body"]
