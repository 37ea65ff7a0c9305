"""Texts to emergency contacts count against the person's throttles and daily cap, within
one tick too, and a contacts step they hold is on the alert's timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Alert, User
from core.domain import Level
from core.escalation_load import phone_address
from core.escalation_rules import EscalationConfig, Window
from core.policy import freeze
from tests.integration.engine_helpers import add_event, add_watch
from tests.integration.escalation_helpers import add_phone, seed_alert, sends, service, timeline

Sessions = async_sessionmaker[AsyncSession]


async def _second_alert(sessions: Sessions, first: Alert, at: datetime) -> Alert:
    """Another critical alert of the same person, about another event, frozen at `at`."""
    async with sessions() as session, session.begin():
        user = await session.get(User, first.user_id)
        assert user is not None
        event = await add_event(session, external_id=f"other-{first.id}", name="Cubs at Giants")
        watch = await add_watch(session, user, event)
        frozen = freeze(Level.CRITICAL, at)
        alert = Alert(
            dedup_key=f"{watch.id}:{event.id}:price_below", watch_id=watch.id, user_id=user.id,
            event_id=event.id, kind="price_below", score=0.9, level=int(Level.CRITICAL),
            price=30.0, status="open", reason="under your max", opened_at=at, updated_at=at,
            escalation=frozen.snapshot, step=0, next_step_at=frozen.next_step_at,
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return alert


async def test_the_daily_cap_keeps_the_contacts_step_from_texting(
    sessions: Sessions, clock: FakeClock
) -> None:
    """With a cap of 2 the person's own SMS and call use it up: the contacts step at
    +15 min texts nobody, reaches the person's chats, and the timeline says why."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    svc = service(sessions, clock, EscalationConfig(daily_cap=2))
    for at in (120, 300, 900):
        clock.set(t0)
        clock.advance(at)
        await svc.tick()
    rows = await sends(sessions, alert.id)
    assert [r.split(":")[0] for r in rows] == ["sms", "voice", "telegram", "console"], rows
    lines = await timeline(sessions, alert.id)
    assert "throttled: daily cap of 2 reached: contacts not texted" in lines, lines
    assert "fallthrough: daily cap reached: chat instead" in lines


async def test_two_alerts_in_one_tick_share_the_contacts_window(
    sessions: Sessions, clock: FakeClock
) -> None:
    """Two critical alerts of one person reach their contacts step in the same tick:
    with one contact text allowed per 15 minutes, only the first texts the contact; the
    second is throttled by the text the first just queued."""
    t0 = clock.now()
    first = await seed_alert(sessions, t0, Level.CRITICAL)
    second = await _second_alert(sessions, first, t0)
    config = EscalationConfig(sms_windows=(Window(1, 900),))
    svc = service(sessions, clock, config)
    for at in (120, 300, 900):
        clock.set(t0)
        clock.advance(at)
        await svc.tick()
    first_rows, second_rows = await sends(sessions, first.id), await sends(sessions, second.id)
    contact = first_rows[2]
    assert contact.startswith("sms:cp") and contact != first_rows[0], first_rows
    assert contact not in second_rows, second_rows
    assert any(
        "emergency contact texts throttled (1 per 15 min): contacts not texted" in line
        for line in await timeline(sessions, second.id)
    )


async def test_a_contact_listed_twice_is_texted_once(sessions: Sessions, clock: FakeClock) -> None:
    """Rows added twice before `contact add` merged them (same number, same person) must
    not text that contact twice per escalation."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL, emergency=False)
    async with sessions() as session, session.begin():
        twice = [
            await add_phone(session, alert.user_id, emergency=True, at=t0, name="Sam")
            for _ in range(2)
        ]
        for contact in twice:
            contact.address_hash = "same-number"
        other = await add_phone(session, alert.user_id, emergency=True, at=t0, name="Kim")
        other.address_hash = "another-number"
    svc = service(sessions, clock)
    for at in (120, 300, 900):
        clock.set(t0)
        clock.advance(at)
        await svc.tick()
    texted = [row for row in await sends(sessions, alert.id) if row.startswith("sms:")]
    contacts = {f"sms:{phone_address(c.id)}" for c in (*twice, other)}
    assert sorted(set(texted) & contacts) == sorted(
        {f"sms:{phone_address(twice[0].id)}", f"sms:{phone_address(other.id)}"}
    ), texted
    assert len(texted) == len(set(texted)), texted
