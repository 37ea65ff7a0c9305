"""PATCH /api/v1/preferences: every setting the chat's prefs, quiet and tz commands change,
refused with the chat's own reasons, all or nothing, and told to the engine's person cache
(on SQLite and on PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.rest import RestDeps, add_rest_routes
from bot.web_errors import json_errors
from core.actions import ActionSigner
from core.clock import FakeClock
from core.command_values import CommandError
from core.commands import parse
from core.db.models import User
from core.handlers import CommandHandlers
from core.tokens import create_token
from tests.integration.engine_helpers import SECRET, T0, add_user
from tests.integration.rest_helpers import json_answer as _json

URL = "/api/v1/preferences"


@dataclass
class People:
    client: TestClient[Any, Any]
    ada: int
    bob: int
    tokens: dict[str, dict[str, str]]
    told: list[int]  # the engine's person cache hook
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def people(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[People]:
    async with sessions() as session, session.begin():
        ada = await add_user(session, name="Ada")  # no preferences row yet
        bob = await add_user(session, name="Bob", chats=(("telegram", "tg-200"),))
        made = {
            "ada_read": await create_token(session, ada.id, "ada read", "read", T0),
            "ada": await create_token(session, ada.id, "ada write", "read,write", T0),
            "admin": await create_token(session, None, "ops", "admin", T0),
        }
    told: list[int] = []
    handlers = CommandHandlers(
        sessions, clock, random.Random(3), ActionSigner(SECRET), person_hook=told.append
    )
    app = web.Application(middlewares=[json_errors])
    deps = RestDeps(sessions, clock, handlers, SecretBox(SECRET), SsrfPolicy.parse(["127.0.0.1"]))
    add_rest_routes(app, deps)
    client = TestClient(TestServer(app))
    await client.start_server()
    tokens = {who: {"Authorization": f"Bearer {token}"} for who, token in made.items()}
    try:
        yield People(client, ada.id, bob.id, tokens, told, sessions)
    finally:
        await client.close()


async def test_a_patch_changes_each_field_and_get_shows_it(people: People) -> None:
    c, ada = people.client, people.tokens["ada"]
    body = {
        "channel_order": ["telegram", "console"],
        "min_level_per_channel": {"telegram": 4, "sms": "critical"},
        "digest": "daily",
        "wake_for_critical": True,
        "quiet_hours": "23:00-07:00",
        "timezone": "europe/london",
    }
    answer = await _json(await c.patch(URL, json=body, headers=ada), 200)
    assert answer == await _json(await c.get(URL, headers=ada), 200)
    assert answer["channel_order"] == ["telegram", "console"]
    assert answer["min_level_per_channel"] == {"telegram": 4, "sms": 5}
    assert answer["digest"] == "daily" and answer["wake_for_critical"] is True
    assert answer["quiet_hours"] == {"start": "23:00", "end": "07:00"}
    assert answer["timezone"] == "Europe/London"  # the canonical name, as the chat stores
    assert people.told == [people.ada]
    async with people.sessions() as session:
        user = await session.get(User, people.ada)
        assert user is not None and user.settings_changed_at is not None  # other processes

    # GET, change a field, PATCH it back; a single level sets every channel, as the chat's
    # "prefs level high" does; null turns quiet hours off.
    answer["min_level_per_channel"]["telegram"] = 2
    back = {k: answer[k] for k in ("min_level_per_channel", "quiet_hours")}
    again = await _json(await c.patch(URL, json=back, headers=ada), 200)
    assert again["min_level_per_channel"] == {"telegram": 2, "sms": 5}
    assert again["quiet_hours"] == {"start": "23:00", "end": "07:00"}
    body = {"min_level_per_channel": "high", "quiet_hours": None, "wake_for_critical": False}
    again = await _json(await c.patch(URL, json=body, headers=ada), 200)
    assert (
        set(again["min_level_per_channel"].values()) == {4}
        and len(again["min_level_per_channel"]) == 7
    )
    assert again["quiet_hours"] is None and again["wake_for_critical"] is False
    assert people.told == [people.ada] * 3


# A bad value of each kind, the chat command that says the same, and a good field beside it.
BAD = [
    ({"channel_order": ["telegram", "fax"]}, "prefs channels telegram fax"),
    ({"min_level_per_channel": {"telegram": "loud"}}, "prefs level telegram loud"),
    ({"min_level_per_channel": {"fax": 4}}, "prefs level fax 4"),
    ({"min_level_per_channel": 9}, "prefs level 9"),
    ({"digest": "weekly"}, "prefs digest weekly"),
    ({"wake_for_critical": "maybe"}, "prefs wake maybe"),
    ({"quiet_hours": "22:00-22:00"}, "quiet 22:00-22:00"),
    ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet 25:00-07:00"),
    ({"timezone": "Mars/Olympus"}, "tz Mars/Olympus"),
    ({"timezone": "EST"}, "tz EST"),
]


@pytest.mark.parametrize(("bad", "chat"), BAD, ids=[chat for _, chat in BAD])
async def test_a_bad_value_gets_the_chats_reason_and_stores_nothing(
    people: People, bad: dict[str, Any], chat: str
) -> None:
    c, ada = people.client, people.tokens["ada"]
    with pytest.raises(CommandError) as refused:
        parse(chat)
    before = await _json(await c.get(URL, headers=ada), 200)
    good = {"wake_for_critical": True} if "wake_for_critical" not in bad else {"digest": "daily"}
    answer = await _json(await c.patch(URL, json={**good, **bad}, headers=ada), 422)
    message = answer["error"]["message"]
    field = next(iter(bad))
    assert message.startswith(f'"{field}": {refused.value.reason}, e.g. {{"{field}": '), message
    assert await _json(await c.get(URL, headers=ada), 200) == before
    assert people.told == []


async def test_a_suggested_zone_is_the_example(people: People) -> None:
    answer = await _json(
        await people.client.patch(URL, json={"timezone": "EST"}, headers=people.tokens["ada"]),
        422,
    )
    assert answer["error"]["message"].endswith('e.g. {"timezone": "America/New_York"}')


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"wake_for_critical": []}, '"wake_for_critical" must be true or false'),
        ({"quiet_hours": {"start": 22}}, '"quiet_hours" must be a range like'),
        ({"channel_order": "telegram"}, '"channel_order" must be a list of channel names'),
        ({"digets": "daily"}, "unknown field 'digets'"),
        ({"voice_hours": None}, "unknown field 'voice_hours'"),
    ],
)
async def test_a_wrong_type_or_unknown_field_is_refused(
    people: People, body: dict[str, Any], wanted: str
) -> None:
    c, ada = people.client, people.tokens["ada"]
    before = await _json(await c.get(URL, headers=ada), 200)
    answer = await _json(await c.patch(URL, json={"digest": "daily", **body}, headers=ada), 422)
    assert wanted in answer["error"]["message"] and "e.g. {" in answer["error"]["message"]
    assert await _json(await c.get(URL, headers=ada), 200) == before


async def test_who_may_patch_whose_preferences(people: People) -> None:
    c, t = people.client, people.tokens
    daily = {"digest": "daily"}
    answer = await _json(await c.patch(URL, json=daily, headers=t["ada_read"]), 403)
    assert answer["error"]["code"] == "insufficient_scope"
    mine = f"{URL}?user={people.bob}"
    answer = await _json(await c.patch(mine, json=daily, headers=t["ada"]), 403)
    assert "acts for no one else" in answer["error"]["message"]
    await _json(await c.patch(URL, json=daily, headers=t["admin"]), 422)  # for whom?
    await _json(await c.patch(f"{URL}?user=999", json=daily, headers=t["admin"]), 404)
    assert (await _json(await c.patch(mine, json=daily, headers=t["admin"]), 200))[
        "digest"
    ] == "daily"
    assert (await _json(await c.get(URL, headers=t["ada"]), 200))["digest"] == "hourly"
    assert people.told == [people.bob]
