"""An escalation step names the alerts its first message told of (QA: the SMS and the call
named only the alert that told, so a person reading only the text never heard of the
other watch).

Ada watches "mlb" (a 10% drop) and "yankees under 80". One snapshot of the game at $50,
down from $56, opens an alert on each; one message tells of both and only the
"yankees" alert escalates (`merge_rounds`): its SMS names the "mlb" alert while it is
still open, its call says so in one sentence, and a chat nudge repeats the chat's line.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.twilio.render import MAX_SEGMENTS, call_twiml, sms_segments, sms_text
from core.alerts import resolve_for_watch
from core.clock import FakeClock
from core.db.models import Notification, Presence, Watch
from core.domain import EventInfo, SnapshotIn
from core.ingest import IngestService
from core.metrics import RecordingMetrics
from core.outbox import to_outbound
from core.pipeline import AlertEngine, EngineConfig
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_event,
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    minutes,
    snapshot,
)
from tests.integration.escalation_helpers import add_phone, run_until, service, step_rows

Sessions = async_sessionmaker[AsyncSession]
PRICE_ONLY = EngineConfig(weights=(1.0, 0, 0, 0, 0, 0))


async def _two_watches(sessions: Sessions, **where: str) -> tuple[Seed, Watch, Watch]:
    """Ada's two watches of the game; `where` (destination_channel, destination_address)
    makes both post to that group chat."""
    async with sessions() as session, session.begin():
        user = await add_user(session)
        event = await add_event(session, name="Yankees at Red Sox", performers=("Yankees",))
        mlb = await add_watch(
            session, user, event, label="mlb", triggers=["drop_pct"], drop_pct=10.0,
            max_price=None, **where,
        )  # fmt: skip
        yankees = await add_watch(
            session, user, event, label="yankees under 80", max_price=80.0, **where
        )
        await add_phone(session, user.id, at=T0)
        await add_phone(session, user.id, emergency=True, at=T0, name="Sam")
    return Seed(user, event, mlb), mlb, yankees


async def _game(sessions: Sessions, engine: AlertEngine, seed: Seed) -> None:
    """$56 (history only), then $50 ten minutes on: a critical alert and a covered one."""
    async with sessions() as session, session.begin():
        await engine.process(session, [await snapshot(session, seed, T0, 56.0)], T0, alert=False)
    when = T0 + minutes(10)
    async with sessions() as session, session.begin():
        await engine.process(session, [await snapshot(session, seed, when, 50.0)], when)


async def _escalating(sessions: Sessions, **where: str) -> tuple[Seed, Watch, Watch, int]:
    seed, mlb, yankees = await _two_watches(sessions, **where)
    await _game(sessions, await fresh_engine(sessions, config=PRICE_ONLY), seed)
    async with sessions() as session:
        by_watch = {a.watch_id: a for a in await alerts_of(session)}
    kept, covered = by_watch[yankees.id], by_watch[mlb.id]
    assert covered.status == "open" and covered.next_step_at is None  # told by `kept`
    return seed, mlb, yankees, kept.id


def _only(rows: list[Notification], channel: str) -> Notification:
    (row,) = [r for r in rows if r.channel == channel]
    return row


async def test_the_sms_and_the_call_name_the_covered_alert(sessions: Sessions) -> None:
    _, mlb, _, kept = await _escalating(sessions)
    clock = FakeClock(T0 + minutes(10))
    svc = service(sessions, clock)
    await run_until(svc, clock, 6 * 60, step=15)  # the SMS at +2 min, the call at +5

    rows = await step_rows(sessions, kept)
    sms = to_outbound(_only(rows, "sms"))
    text = sms_text(sms)
    assert text.splitlines()[0] == "Yankees at Red Sox - $50 (your max $80)"  # its own text
    assert f"\nAlso: watch #{mlb.id} down 11% to $50 from $56 in 24 h\n" in text
    assert text.endswith(
        f"\nReply 1 or ACK {kept} to acknowledge, SNOOZE 2h, MUTE to stop alerts for this event."
    )
    assert sms_segments(text) <= MAX_SEGMENTS
    also = sms.payload["data"]["also"]  # type: ignore[index]
    assert also["count"] == len(also["alerts"]) == 1 and kept not in also["alerts"]

    call = call_twiml(to_outbound(_only(rows, "voice")), "https://example.test/voice")
    assert "This also matches another of your watches." in call
    assert call.index("Yankees at Red Sox") < call.index("This also matches")


async def test_an_alert_no_longer_open_is_not_named(sessions: Sessions) -> None:
    """Ada pauses the "mlb" watch before the SMS: its alert resolves, the SMS is the
    alert's own text as before, and the call says nothing of other watches."""
    _, mlb, _, kept = await _escalating(sessions)
    async with sessions() as session, session.begin():
        await resolve_for_watch(session, mlb.id, "watch paused", T0 + minutes(11))
    clock = FakeClock(T0 + minutes(10))
    svc = service(sessions, clock)
    await run_until(svc, clock, 6 * 60, step=15)

    rows = await step_rows(sessions, kept)
    sms = to_outbound(_only(rows, "sms"))
    assert "also" not in sms.payload["data"]  # type: ignore[operator]
    assert "Also" not in sms_text(sms)
    call = call_twiml(to_outbound(_only(rows, "voice")), "https://example.test/voice")
    assert "also matches" not in call


@pytest.mark.parametrize("group", [False, True])
async def test_a_chat_nudge_names_the_covered_alert_as_the_first_message_did(
    sessions: Sessions, group: bool
) -> None:
    """Ada is active in Telegram when the SMS is due: a chat nudge goes there first, and
    names the other alert as the first message did: "your watch #N", or "watch #N" when
    both watches post to a group chat (QA: `chat_lines` always wrote group=False)."""
    fields = {"destination_channel": "telegram", "destination_address": "-100200"}
    seed, mlb, _, kept = await _escalating(sessions, **(fields if group else {}))
    whose = "watch" if group else "your watch"
    line = f"\nAlso matches {whose} #{mlb.id} (mlb): down 11% to $50 from $56 in 24 h"
    if group:
        async with sessions() as session:
            first = (
                await session.scalars(
                    select(Notification).where(
                        Notification.alert_id == kept, Notification.address == "-100200"
                    )
                )
            ).first()
        assert first is not None and first.payload["body"].endswith(line)  # the group's
    clock = FakeClock(T0 + minutes(10))
    async with sessions() as session, session.begin():
        session.add(
            Presence(user_id=seed.user.id, platform="telegram", last_seen_at=T0 + minutes(11))
        )
    await run_until(service(sessions, clock), clock, 150, step=15)

    chat = _only(await step_rows(sessions, kept), "telegram")
    assert chat.payload["body"].endswith(line)


DERBY = EventInfo(
    external_id="ars-tot",
    name="Arsenal v Tottenham",
    starts_at=T0 + timedelta(days=11),
    venue="Emirates Stadium",
    city="London",
    timezone="Europe/London",
)


async def test_a_pound_events_sms_names_the_covered_alert_in_pounds(
    sessions: Sessions, clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        await add_watch(
            session, ada, None, terms=["arsenal"], label="arsenal drop", triggers=["drop_pct"],
            drop_pct=10.0, max_price=None,
        )  # fmt: skip
        await add_watch(session, ada, None, terms=["arsenal"], label="arsenal", max_price=50.0)
        await add_phone(session, ada.id, at=clock.now())
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    ingest = IngestService(sessions, engine, clock, RecordingMetrics())
    for ago, price in ((30, 61.5), (0, 45.0)):
        snap = SnapshotIn(
            source="feed", event=DERBY, observed_at=clock.now() - timedelta(minutes=ago),
            currency="GBP", min_price=price, ticket_count=1000,
        )  # fmt: skip
        assert (await ingest.ingest_snapshots([snap])).accepted == 1
    async with sessions() as session:
        alerts = await alerts_of(session)
        watches = {w.id: w.label for w in await session.scalars(select(Watch))}
    (kept,) = [a for a in alerts if a.next_step_at is not None]
    (covered,) = [a for a in alerts if a.id != kept.id]
    assert covered.status == "open" and watches[covered.watch_id] == "arsenal"  # 27%: critical

    await run_until(service(sessions, clock), clock, 10 * 60, step=30)
    text = sms_text(to_outbound(_only(await step_rows(sessions, kept.id), "sms")))
    assert f"\nAlso: watch #{covered.watch_id} cheapest £45 is at or under your max £50\n" in text
    assert "$" not in text
