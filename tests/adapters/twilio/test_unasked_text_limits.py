"""Codes and consent requests (texts to a number nobody agreed for yet) are limited.

At most one a minute and five a day per number (codes and consent requests together)
and per person (each kind alone). The counts come from the database, so they hold
across restarts; a refusal is one line saying when to try again, with an example.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from core.actions import ActionSigner
from core.chat import CommandContext
from core.contacts import start_phone
from core.errors import ValidationError
from core.handlers import CommandHandlers
from tests.adapters.twilio.test_twilio import World
from tests.integration.engine_helpers import SECRET, add_user

STRANGER = "+15550001111"


async def _people(world: World, count: int) -> list[int]:
    async with world.sessions() as session, session.begin():
        return [(await add_user(session, name=f"P{n}", chats=())).id for n in range(count)]


async def _ask_code(world: World, user_id: int, number: str) -> str:
    """`phone <number>` as core.contacts sees it; a refusal comes back as its message."""
    try:
        async with world.sessions() as session, session.begin():
            return await start_phone(
                session, user_id, number, world.clock.now(), random.Random(1), world.keys
            )
    except ValidationError as exc:
        return f"refused: {exc}"


async def _texts_to(world: World, number: str) -> int:
    await world.worker().deliver_batch()
    return len([m for m in world.fake.messages if m["to"] == number])


async def test_twenty_code_requests_in_twenty_seconds_text_a_number_once(world: World) -> None:
    """One person (or a typo retried) cannot make the server text a stranger over and
    over: one code goes out, the other nineteen are refused."""
    (me,) = await _people(world, 1)
    answers = []
    for _ in range(20):
        answers.append(await _ask_code(world, me, STRANGER))
        await world.worker().deliver_batch()  # the worker runs all along
        world.clock.advance(1)
    assert await _texts_to(world, STRANGER) == 1
    assert answers[0].startswith("I texted a 6-digit code to +1•••••1111")
    assert answers[1] == (
        "refused: No code sent: that number has had too many texts from us lately (at most "
        "1 a minute and 5 a day); try again in 59 s, e.g. phone +14155550123"
    )
    assert all(a.startswith("refused: ") and "\n" not in a for a in answers[1:])


async def test_a_number_gets_at_most_five_codes_a_day_whoever_asks(world: World) -> None:
    """Six people a minute apart ask for codes to the same number: the sixth is refused
    until a day after the first, then one more may go."""
    people = await _people(world, 7)
    first = world.clock.now()
    answers = []
    for person in people[:6]:
        answers.append(await _ask_code(world, person, STRANGER))
        world.clock.advance(60)
    assert [a.startswith("I texted") for a in answers] == [True] * 5 + [False]
    assert "that number has had too many texts" in answers[5]
    assert "try again in 23 h 55 min" in answers[5]
    world.clock.set(first + timedelta(days=1))
    assert (await _ask_code(world, people[6], STRANGER)).startswith("I texted")
    assert await _texts_to(world, STRANGER) == 6


async def test_one_person_gets_at_most_one_code_a_minute_and_five_a_day(world: World) -> None:
    """The same limits hold for one person trying different numbers."""
    (me,) = await _people(world, 1)
    numbers = [f"+1555000300{n}" for n in range(7)]
    assert (await _ask_code(world, me, numbers[0])).startswith("I texted")
    world.clock.advance(30)
    soon = await _ask_code(world, me, numbers[1])
    assert "you asked for too many codes lately" in soon and "try again in 30 s" in soon
    answers = []
    for number in numbers[1:6]:
        world.clock.advance(60)
        answers.append(await _ask_code(world, me, number))
    assert [a.startswith("I texted") for a in answers] == [True] * 4 + [False]
    assert "you asked for too many codes lately" in answers[4]
    assert "try again in 23 h 55 min" in answers[4]  # 23 h 54.5 min, rounded up


@pytest.fixture
def chat(world: World) -> CommandHandlers:
    return CommandHandlers(
        world.sessions,
        world.clock,
        random.Random(1),
        ActionSigner(SECRET),
        phones=world.keys,
    )


async def test_consent_requests_share_the_limits_and_refusals_are_one_line(
    world: World, chat: CommandHandlers
) -> None:
    """In chat: a phone, then a contact, right away is fine (each kind is limited alone
    per person); a second contact within the minute, or a contact whose number just got
    a code from someone else, gets a one-line error saying when to try again."""
    ada, bob = (CommandContext(uid, "console", f"c{uid}") for uid in await _people(world, 2))
    phone = await chat.handle_text(ada, f"phone {STRANGER}")
    first = await chat.handle_text(ada, "contact add Sam +15557654321")
    assert not phone.is_error and not first.is_error, (phone.text, first.text)
    second = await chat.handle_text(ada, "contact add Kim +15557650000")
    assert second.is_error and second.lines == (
        "Kim not added: you asked for too many contact requests lately (at most 1 a minute "
        "and 5 a day); try again in 1 min, e.g. contact add Sam +14155550123",
    )
    other = await chat.handle_text(bob, f"contact add Ada {STRANGER}")
    assert other.is_error and len(other.lines) == 1
    assert other.text.startswith("Ada not added: that number has had too many texts")
    assert await _texts_to(world, STRANGER) == 1
    world.clock.advance(60)
    later = await chat.handle_text(bob, f"contact add Ada {STRANGER}")
    assert not later.is_error, later.text
    assert await _texts_to(world, STRANGER) == 2


async def test_two_people_asking_for_one_number_at_once_text_it_once(world: World) -> None:
    """The number's count is read under a lock named after it (PostgreSQL) or the write
    lock (SQLite): two people's requests arriving together are counted in turn."""
    people = await _people(world, 4)
    answers = await asyncio.gather(*(_ask_code(world, p, STRANGER) for p in people))
    assert sorted(a.startswith("I texted") for a in answers) == [False, False, False, True]
    assert await _texts_to(world, STRANGER) == 1
