"""Per-person learning end to end: responses in the audit log -> the `learn` job ->
`users.learned_weights` -> scoring and `prefs` (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Container
from bot.jobs import learn_job, learn_person
from core.actions import ActionSigner
from core.alerts import apply_action, resolve
from core.chat import CommandContext
from core.clock import FakeClock
from core.db.models import Alert, Event, JobWatermark, Notification, User, Watch
from core.domain import ActionKind
from core.feedback import SETTLE_S, Feedback, learn_from_feedback
from core.handlers import CommandHandlers
from core.recipients import load_recipients
from core.reschedule import MOVED_KIND
from core.scoring import DEFAULT_WEIGHTS, FACTOR_NAMES, blend_weights
from core.users import ensure_user
from ml.learning import MIN_FEEDBACK, PersonModel

DEFAULT = dict(zip(FACTOR_NAMES, DEFAULT_WEIGHTS, strict=True))


@dataclass
class _Settings:
    learn_interval_s: float = 60.0


@dataclass
class _Alerts:
    changed: list[int | None] = field(default_factory=list)

    def person_changed(self, user_id: int | None = None) -> None:
        self.changed.append(user_id)


@dataclass
class _Container:
    """What `learn_job` uses of the process container."""

    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    settings: _Settings = field(default_factory=_Settings)
    alerts: _Alerts = field(default_factory=_Alerts)


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    rng: random.Random
    event_id: int
    people: dict[str, int]
    made: int = 0
    # What each person did, in audit order: (outcome, factor values).
    expected: dict[int, list[tuple[str, dict[str, float]]]] = field(default_factory=dict)

    async def alert(self, who: str, factors: dict[str, float], *, group: bool = False) -> int:
        """A shown alert of `who` (one sent chat message) with these factor values."""
        self.made += 1
        user_id, now = self.people[who], self.clock.now()
        async with self.sessions() as session, session.begin():
            watch = Watch(user_id=user_id, label=f"w{self.made}", event_id=self.event_id)
            if group:
                watch.destination_channel, watch.destination_address = "telegram", "-100"
            session.add(watch)
            await session.flush()
            alert = Alert(
                dedup_key=f"{watch.id}:{self.event_id}:price_below",
                watch_id=watch.id, user_id=user_id, event_id=self.event_id,
                kind="price_below", score=0.5, level=3, price=40.0, status="open",
                opened_at=now, updated_at=now,
                factors=[{"name": n, "value": v, "weight": DEFAULT[n], "reason": "test"}
                         for n, v in factors.items()],
            )  # fmt: skip
            session.add(alert)
            await session.flush()
            session.add(
                Notification(
                    alert_id=alert.id, user_id=user_id, channel="telegram", address="42",
                    level=3, idempotency_key=f"n{alert.id}", status="sent", due_at=now,
                    created_at=now, sent_at=now, receipt={"message_id": alert.id},
                )
            )  # fmt: skip
            return alert.id

    async def act(self, alert_id: int, action: ActionKind) -> None:
        async with self.sessions() as session, session.begin():
            owner = await session.scalar(select(Alert.user_id).where(Alert.id == alert_id))
            assert owner is not None
            await apply_action(
                session, alert_id, action, user_id=owner, via="telegram", now=self.clock.now()
            )

    async def end(self, alert_id: int) -> None:
        """The market moved on: the engine resolves the alert."""
        async with self.sessions() as session, session.begin():
            alert = await session.get(Alert, alert_id)
            assert alert is not None
            await resolve(session, alert, "price back above your max", self.clock.now())

    async def respond(
        self, who: str, factors: dict[str, float], outcome: str, *, group: bool = False
    ) -> None:
        alert_id = await self.alert(who, factors, group=group)
        if outcome == "ignored":
            await self.end(alert_id)
        else:
            action = {"acknowledged": ActionKind.ACK, "bought": ActionKind.BOUGHT,
                      "snoozed": ActionKind.SNOOZE, "muted": ActionKind.MUTE}[outcome]  # fmt: skip
            await self.act(alert_id, action)
        if not group:
            self.expected.setdefault(self.people[who], []).append((outcome, factors))

    def factors(self, price: float) -> dict[str, float]:
        values = {name: round(self.rng.random(), 4) for name in FACTOR_NAMES}
        values["price"] = price
        return values

    async def user(self, who: str) -> User:
        async with self.sessions() as session:
            user = await session.get(User, self.people[who])
            assert user is not None
            return user


async def make_world(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> World:
    async with sessions() as session, session.begin():
        event = Event(
            source="test", external_id="e1", name="Rockies at Diamondbacks",
            starts_at=datetime(2024, 3, 31, 20, 10, tzinfo=UTC), created_at=clock.now(),
        )  # fmt: skip
        session.add(event)
        await session.flush()
        people = {}
        for who, ext in (("ada", "1"), ("sam", "2")):
            user = await ensure_user(
                session, "telegram", ext, display_name=who, dm_address=ext, now=clock.now()
            )
            people[who] = user.id
        event_id = event.id
    return World(sessions, clock, random.Random(5), event_id, people)


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> World:
    return await make_world(sessions, clock)


async def _price_lover(world: World, n: int) -> None:
    """Ada acknowledges (or buys) alerts high on price and ignores or mutes the rest."""
    for i in range(n):
        if i % 2 == 0:
            outcome = "bought" if i % 10 == 0 else "acknowledged"
            await world.respond("ada", world.factors(0.8 + 0.2 * world.rng.random()), outcome)
        else:
            outcome = "muted" if i % 3 == 0 else "ignored"
            await world.respond("ada", world.factors(0.2 * world.rng.random()), outcome)
        world.clock.advance(60)


async def _run(world: World) -> _Container:
    container = _Container(world.sessions, world.clock)
    job = learn_job(cast(Container, container))
    assert job.name == "learn" and job.exclusive  # one process per tick (advisory lock)
    await job.run()
    return container


def _replayed(events: list[tuple[str, dict[str, float]]]) -> PersonModel:
    model = PersonModel()
    for outcome, factors in events:
        model.update(factors, outcome)
    return model


async def test_a_price_lover_gets_a_higher_price_weight_and_reruns_change_nothing(
    world: World,
) -> None:
    await _price_lover(world, 40)
    for _ in range(5):  # Sam acknowledges only cheap-price alerts: none of Ada's business
        await world.respond("sam", world.factors(0.05), "acknowledged")
    await world.respond("ada", world.factors(0.0), "acknowledged", group=True)  # group: left out
    world.clock.advance(SETTLE_S)

    container = await _run(world)

    ada = await world.user("ada")
    assert ada.feedback_count == 40
    assert ada.learned_weights is not None
    assert ada.learned_weights["price"] > 1.3 * DEFAULT["price"]
    # Exactly Ada's 40 responses, in order: no one else's, no group alert's.
    assert ada.learned_weights == _replayed(world.expected[ada.id]).to_json()
    async with world.sessions() as session:  # what the engine loads to score Ada's alerts
        person = (await load_recipients(session, [ada.id]))[ada.id]
    blended = blend_weights(DEFAULT_WEIGHTS, person.learned_weights, person.feedback_count)
    assert blended[0] > DEFAULT["price"] and sum(blended) == pytest.approx(1.0)
    assert sorted(container.alerts.changed, key=str) == sorted(world.people.values())
    sam = await world.user("sam")
    assert sam.feedback_count == 5 and MIN_FEEDBACK > 5
    assert sam.learned_weights is not None
    assert {n: sam.learned_weights[n] for n in FACTOR_NAMES} == DEFAULT  # too few: defaults

    again = await _run(world)  # a rerun (or a restart) reads nothing new
    assert (await world.user("ada")).learned_weights == ada.learned_weights
    assert (await world.user("ada")).feedback_count == 40
    assert again.alerts.changed == []


async def test_only_settled_entries_are_read_and_each_exactly_once(world: World) -> None:
    await _price_lover(world, 6)
    await world.respond("ada", world.factors(0.9), "acknowledged")
    await _run(world)  # the last response is younger than SETTLE_S: it waits
    assert (await world.user("ada")).feedback_count == 6
    world.clock.advance(SETTLE_S)
    await _run(world)
    await _run(world)
    ada = await world.user("ada")
    assert ada.feedback_count == 7
    assert ada.learned_weights == _replayed(world.expected[ada.id]).to_json()
    async with world.sessions() as session:
        mark = await session.get(JobWatermark, "learn")
    assert mark is not None and mark.last_id > 0


async def test_ignored_needs_a_shown_alert_and_no_response(world: World) -> None:
    factors = world.factors(0.5)
    unseen = await world.alert("ada", factors)
    async with world.sessions() as session, session.begin():
        note = await session.scalar(select(Notification).where(Notification.alert_id == unseen))
        assert note is not None
        note.status = "pending"  # held (quiet hours), never sent
    await world.end(unseen)
    # Only news of its event reached the person (`core.reschedule`), not the alert.
    only_moved = await world.alert("ada", factors)
    async with world.sessions() as session, session.begin():
        note = await session.scalar(select(Notification).where(Notification.alert_id == only_moved))
        assert note is not None
        note.kind = MOVED_KIND
    await world.end(only_moved)
    snoozed_then_ended = await world.alert("ada", factors)
    await world.act(snoozed_then_ended, ActionKind.SNOOZE)
    await world.end(snoozed_then_ended)
    await world.end(await world.alert("ada", factors))  # shown, no response: ignored
    world.clock.advance(SETTLE_S)

    seen: list[list[Feedback]] = []

    def record(
        doc: Mapping[str, Any] | None, events: Sequence[Feedback]
    ) -> tuple[dict[str, Any], int]:
        seen.append(list(events))
        return learn_person(None, events)

    async with world.sessions() as session, session.begin():
        report = await learn_from_feedback(session, world.clock.now(), record)
    assert [e.outcome for e in seen[0]] == ["snoozed", "ignored"]
    assert report.outcomes == {"snoozed": 1, "ignored": 1}
    assert seen[0][0].factors == factors


async def test_one_answer_to_alerts_about_one_event_is_one_feedback(world: World) -> None:
    first = await world.alert("ada", world.factors(0.9))
    second = await world.alert("ada", world.factors(0.1))  # another watch, the same event
    await world.act(first, ActionKind.ACK)  # acknowledges both: one message told of both
    await world.end(second)  # ended after an answer: not "ignored"
    world.clock.advance(SETTLE_S)

    seen: list[Feedback] = []

    def record(
        doc: Mapping[str, Any] | None, events: Sequence[Feedback]
    ) -> tuple[dict[str, Any], int]:
        seen.extend(events)
        return learn_person(None, events)

    async with world.sessions() as session, session.begin():
        followed = await session.get(Alert, second)
        assert followed is not None and followed.status == "resolved"
        report = await learn_from_feedback(session, world.clock.now(), record)
    assert [(e.alert_id, e.outcome) for e in seen] == [(first, "acknowledged")]
    assert report.outcomes == {"acknowledged": 1}


async def test_prefs_shows_what_was_learned(world: World, rng: random.Random) -> None:
    handlers = CommandHandlers(world.sessions, world.clock, rng, ActionSigner(b"k"))
    ada = CommandContext(world.people["ada"], "telegram", "1")
    sam = CommandContext(world.people["sam"], "telegram", "2")
    await _price_lover(world, 24)
    for _ in range(4):
        await world.respond("sam", world.factors(0.5), "acknowledged")
    world.clock.advance(SETTLE_S)
    await _run(world)

    shown = (await handlers.handle_text(ada, "prefs")).lines
    [line] = [text for text in shown if text.startswith("Learned from 24 responses: ")]
    assert "price 0." in line and "(default 0.25)" in line
    assert (
        f"Learning: 4 of {MIN_FEEDBACK} responses so far"
        in (await handlers.handle_text(sam, "prefs")).lines
    )


async def test_prefs_learning_reset_forgets_and_learning_starts_over(
    world: World, rng: random.Random
) -> None:
    """Someone who ignored everything for a holiday taught the bot wrong; they can undo it:
    the defaults score them again at once, and later responses are learned afresh."""
    told: list[int] = []
    handlers = CommandHandlers(
        world.sessions, world.clock, rng, ActionSigner(b"k"), person_hook=told.append
    )
    ada = CommandContext(world.people["ada"], "telegram", "1")
    await _price_lover(world, 24)
    world.clock.advance(SETTLE_S)
    await _run(world)

    reply = await handlers.handle_text(ada, "prefs learning reset")

    assert reply.lines == (
        "Forgot what your 24 responses taught me: your alerts are scored with the default"
        " weights again, and learning starts over.",
    )
    assert told == [world.people["ada"]]  # the engine's cached person is dropped
    async with world.sessions() as session:
        ada_row = await session.get(User, world.people["ada"])
    assert ada_row is not None and (ada_row.learned_weights, ada_row.feedback_count) == (None, 0)
    assert (
        f"Learning: 0 of {MIN_FEEDBACK} responses so far"
        in (await handlers.handle_text(ada, "prefs")).lines
    )
    again = await handlers.handle_text(ada, "prefs learning reset")
    assert again.lines == (
        f"Nothing learned yet (0 of {MIN_FEEDBACK} responses): nothing to forget.",
    )
    for _ in range(3):  # new responses count from zero
        await world.respond("ada", world.factors(0.5), "acknowledged")
    world.clock.advance(SETTLE_S)
    await _run(world)
    assert (
        f"Learning: 3 of {MIN_FEEDBACK} responses so far"
        in (await handlers.handle_text(ada, "prefs")).lines
    )


@pytest.mark.postgres
async def test_two_processes_never_count_the_same_feedback(
    postgres_url: str, clock: FakeClock
) -> None:
    from core.db.engine import make_engine, make_sessionmaker

    engine = make_engine(postgres_url)
    try:
        sessions = make_sessionmaker(engine)
        world = await make_world(sessions, clock)

        async def one_process() -> None:
            async with sessions() as session, session.begin():
                await learn_from_feedback(session, clock.now(), learn_person)

        await one_process()  # the watermark row exists: only its row lock keeps them apart
        await _price_lover(world, 12)
        world.clock.advance(SETTLE_S)
        await asyncio.gather(one_process(), one_process())
        ada = await world.user("ada")
        assert ada.feedback_count == 12
        assert ada.learned_weights == _replayed(world.expected[ada.id]).to_json()
    finally:
        await engine.dispose()
