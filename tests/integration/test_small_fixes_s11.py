"""Small fixes through the REST API and the console chat (SQLite and PostgreSQL).

A snooze longer than the time left before the event is cut at the start, and says so;
restating a watch answers 200, not 201 Created; `GET /alerts` pages with a `before`
cursor; a typo while the console chat asks "which one?" keeps the choices open.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from tests.adapters.console.test_chat import _chat, _seed, _watches
from tests.integration.engine_helpers import STARTS, T0
from tests.integration.test_rest_api import World, _json, world  # noqa: F401

# --- snoozing past the event's start ------------------------------------------------------


async def test_a_rest_snooze_past_the_start_ends_at_the_start(world: World) -> None:  # noqa: F811
    url = f"/api/v1/alerts/{world.alert}/snooze"
    month = {"minutes": 30 * 24 * 60}  # the game starts in 11 days

    body = await _json(
        await world.client.post(url, json=month, headers=world.auth("ada_write")), 200
    )

    assert body["status"] == "snoozed" and body["snoozed_until"] == STARTS.isoformat()
    timeline = await world.client.get(
        f"/api/v1/alerts/{world.alert}/timeline", headers=world.auth("ada_read")
    )
    details = [e["detail"] for e in (await _json(timeline, 200))["timeline"] if "detail" in e]
    assert any("(the event starts then)" in d for d in details), details


async def test_a_chat_snooze_past_the_start_says_it_stops_there(world: World) -> None:  # noqa: F811
    answer = await world.client.post(
        "/api/v1/commands",
        json={"text": f"snooze {world.alert} 30d"},
        headers=world.auth("ada_write"),
    )

    [line] = (await _json(answer, 200))["lines"]
    assert line == (
        f"Snoozed alert #{world.alert} (Rockies at Diamondbacks) until Sun 31 Mar 20:10 UTC,"
        " when it starts — a snooze cannot run past the start."
    )


async def test_a_snooze_within_the_time_left_is_kept(world: World) -> None:  # noqa: F811
    url = f"/api/v1/alerts/{world.alert}/snooze"
    body = await _json(
        await world.client.post(url, json={"minutes": 120}, headers=world.auth("ada_write")), 200
    )
    assert body["snoozed_until"] == (T0 + timedelta(minutes=120)).isoformat()


async def test_once_the_event_started_a_snooze_is_refused(
    world: World,  # noqa: F811
    clock: FakeClock,
) -> None:
    clock.set(STARTS + timedelta(minutes=5))  # the alert is not resolved yet
    url = f"/api/v1/alerts/{world.alert}/snooze"

    answer = await world.client.post(url, json={"minutes": 60}, headers=world.auth("ada_write"))

    message = (await _json(answer, 422))["error"]["message"]
    assert message == (
        f"the event of alert {world.alert} has already started; "
        f"nothing to snooze, e.g. mute {world.alert}"
    )


# --- POST /watches: 201 only when a watch was made ---------------------------------------


async def test_restating_a_watch_answers_200_not_201(world: World) -> None:  # noqa: F811
    c, ada = world.client, world.auth("ada_write")
    made = await _json(
        await c.post("/api/v1/watches", json={"text": "any rockies under 30"}, headers=ada), 201
    )
    number = made["lines"][0].rsplit("watch #", 1)[1].rstrip(".")

    again = await _json(
        await c.post("/api/v1/watches", json={"text": "any rockies under 30"}, headers=ada), 200
    )
    cheaper = await _json(
        await c.post("/api/v1/watches", json={"text": "any rockies under 25"}, headers=ada), 200
    )

    assert again["lines"][0].startswith("Updated") and f"watch #{number}" in again["lines"][0]
    assert f"watch #{number}" in cheaper["lines"][0]
    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    assert [w["max_price"] for w in listed["watches"] if w["terms"] == ["rockies"]] == [25.0]


# --- GET /alerts pages with a cursor ------------------------------------------------------


async def test_alerts_page_with_before_and_a_next_link(world: World) -> None:  # noqa: F811
    c, admin = world.client, world.auth("admin")
    newest_first = sorted((world.alert, world.bobs_alert), reverse=True)

    first = await _json(await c.get("/api/v1/alerts?limit=1", headers=admin), 200)
    assert [a["id"] for a in first["alerts"]] == newest_first[:1]
    assert first["next"] == f"/api/v1/alerts?limit=1&before={newest_first[0]}"
    second = await _json(await c.get(first["next"], headers=admin), 200)
    assert [a["id"] for a in second["alerts"]] == newest_first[1:]
    last = await _json(await c.get(second["next"], headers=admin), 200)
    assert last == {"alerts": [], "next": None}
    everything = await _json(await c.get("/api/v1/alerts", headers=admin), 200)
    assert everything["next"] is None and len(everything["alerts"]) == 2
    mine = await c.get(f"/api/v1/alerts?before={world.alert + 1}", headers=world.auth("ada_read"))
    assert [a["id"] for a in (await _json(mine, 200))["alerts"]] == [world.alert]


async def test_a_bad_cursor_is_a_json_422(world: World) -> None:  # noqa: F811
    for bad in ("0", "-3", "abc", "", "1.5"):
        answer = await world.client.get(
            f"/api/v1/alerts?before={bad}", headers=world.auth("ada_read")
        )
        message = (await _json(answer, 422))["error"]["message"]
        assert message == "before must be an id (a whole number), e.g. ?before=120&limit=50"


# --- the console chat keeps its question open after a typo ---------------------------------


async def test_a_typo_keeps_the_choices_open_with_a_hint(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    chat, _, out = _chat(sessions, clock, io.StringIO("watch yankees\nwach\n2\n"))

    await asyncio.wait_for(chat.run(), timeout=30)

    text = out.getvalue()
    assert "'yankees' matches 2 upcoming events — which one?" in text
    assert "unknown command 'wach'" in text
    assert "Still choosing: type 1-3, or a command." in text
    [row] = await _watches(sessions)  # "2" still picked from the question's choices
    assert row.label == "Red Sox at Yankees", text


async def test_a_typo_after_a_list_of_buttons_still_retires_it(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    chat, _, out = _chat(sessions, clock, io.StringIO("watch rockies\nwatches\nwach\n1\n"))

    await asyncio.wait_for(chat.run(), timeout=30)

    text = out.getvalue()
    assert "Still choosing" not in text
    assert "No option 1: there is nothing to choose from now" in text
    [row] = await _watches(sessions)
    assert row.active  # no old Pause button pressed
