"""The REST API (/api/v1): tokens and scopes, alerts and their actions, watches, commands."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.twilio.crypto import PhoneBox
from adapters.webhook.secrets import SecretBox, active_secrets
from adapters.webhook.ssrf import SsrfPolicy
from bot.rest import ROUTES, RestDeps, add_rest_routes
from bot.web_errors import json_errors
from core.actions import ActionSigner
from core.clock import FakeClock
from core.contacts import mask
from core.db.models import ContactPoint, Notification, WebhookEndpoint
from core.handlers import CommandHandlers
from core.tokens import create_token
from tests.integration.engine_helpers import (
    SECRET,
    T0,
    Seed,
    add_event,
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    process_snapshot,
)
from tests.integration.rest_helpers import json_answer as _json

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class World:
    client: TestClient[Any, Any]
    ada: int
    bob: int
    alert: int  # Ada's
    bobs_alert: int
    tokens: dict[str, str]
    changes: list[str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def world(sessions: Sessions, clock: FakeClock) -> AsyncIterator[World]:
    async with sessions() as session, session.begin():
        ada = await add_user(session, name="Ada")
        bob = await add_user(session, name="Bob", chats=(("telegram", "tg-200"),))
        event = await add_event(session)
        ada_watch = await add_watch(session, ada, event)
        bob_watch = await add_watch(session, bob, event, label="bob's")
        tokens = {
            "ada_read": await create_token(session, ada.id, "ada read", "read", T0),
            "ada_write": await create_token(session, ada.id, "ada write", "read,write", T0),
            "bob_write": await create_token(session, bob.id, "bob", "read,write", T0),
            "admin": await create_token(session, None, "ops", "admin", T0),
            "machine": await create_token(session, None, "scraper", "read,ingest", T0),
        }
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, Seed(ada, event, ada_watch), T0, 28.0)
    async with sessions() as session:
        alerts = {a.user_id: a.id for a in await alerts_of(session)}
    assert bob_watch.id and set(alerts) == {ada.id, bob.id}
    handlers = CommandHandlers(sessions, clock, random.Random(3), ActionSigner(SECRET))
    app = web.Application(middlewares=[json_errors])
    changes: list[str] = []
    deps = RestDeps(
        sessions,
        clock,
        handlers,
        secrets=SecretBox(SECRET),
        ssrf=SsrfPolicy.parse(["127.0.0.1"]),
        webhooks_changed=lambda: changes.append("webhooks"),
    )
    add_rest_routes(app, deps)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield World(client, ada.id, bob.id, alerts[ada.id], alerts[bob.id], tokens, changes)
    finally:
        await client.close()


async def test_every_route_wants_a_valid_token_with_its_scope(world: World) -> None:
    c = world.client
    body = await _json(await c.get("/api/v1/alerts"), 401)
    assert body["error"]["code"] == "unauthorized" and "Bearer" in body["error"]["message"]
    bad = {"Authorization": "Bearer hdt_nope"}
    assert (await c.get("/api/v1/alerts", headers=bad)).status == 401
    body = await _json(
        await c.post(f"/api/v1/alerts/{world.alert}/ack", headers=world.auth("ada_read")), 403
    )
    assert body["error"]["code"] == "insufficient_scope"
    body = await _json(await c.get("/api/v1/alerts", headers=world.auth("machine")), 403)
    assert "belongs to no person" in body["error"]["message"]
    resolve = f"/api/v1/alerts/{world.alert}/resolve"
    assert (await c.post(resolve, headers=world.auth("ada_write"))).status == 403


async def test_a_person_sees_only_their_own_alerts(world: World) -> None:
    c = world.client
    listed = await _json(await c.get("/api/v1/alerts", headers=world.auth("ada_read")), 200)
    assert [a["id"] for a in listed["alerts"]] == [world.alert]
    alert = listed["alerts"][0]
    assert alert["user_id"] == world.ada and alert["status"] == "open" and alert["price"] == 28.0
    assert alert["event"]["name"] == "Rockies at Diamondbacks"
    assert [f["name"] for f in alert["factors"]][:2] == ["price", "availability"]
    other = await c.get(f"/api/v1/alerts/{world.bobs_alert}", headers=world.auth("ada_read"))
    assert (await _json(other, 404))["error"]["code"] == "not_found"
    everyone = await _json(await c.get("/api/v1/alerts", headers=world.auth("admin")), 200)
    assert {a["id"] for a in everyone["alerts"]} == {world.alert, world.bobs_alert}
    bobs = await c.get(f"/api/v1/alerts?user={world.bob}", headers=world.auth("admin"))
    assert [a["id"] for a in (await _json(bobs, 200))["alerts"]] == [world.bobs_alert]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("?status=opened", "unknown status 'opened'"),
        ("?limit=0", "limit must be a whole number from 1 to 500"),
        ("?limit=ten", "limit must be a whole number"),
    ],
)
async def test_bad_filters_get_a_reason_and_an_example(
    world: World, query: str, needle: str
) -> None:
    resp = await world.client.get(f"/api/v1/alerts{query}", headers=world.auth("ada_read"))
    message = (await _json(resp, 422))["error"]["message"]
    assert needle in message and "e.g." in message


async def test_the_timeline_shows_decisions_and_messages(world: World) -> None:
    resp = await world.client.get(
        f"/api/v1/alerts/{world.alert}/timeline", headers=world.auth("ada_read")
    )
    body = await _json(resp, 200)
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds[0] == "opened" and "notification" in kinds
    sent = next(e for e in body["timeline"] if e["kind"] == "notification")
    assert sent["channel"] == "telegram" and sent["status"] == "pending"
    assert sent["event_type"] == "alert.triggered"


async def test_ack_and_snooze_act_like_the_buttons(world: World, clock: FakeClock) -> None:
    c, url = world.client, f"/api/v1/alerts/{world.alert}"
    snoozed = await c.post(f"{url}/snooze", json={"minutes": 120}, headers=world.auth("ada_write"))
    body = await _json(snoozed, 200)
    assert body["status"] == "snoozed"
    assert body["snoozed_until"] == (T0 + timedelta(minutes=120)).isoformat()
    acked = await _json(await c.post(f"{url}/ack", headers=world.auth("ada_write")), 200)
    assert acked["status"] == "acknowledged" and acked["acked_via"] == "api"
    again = await _json(await c.post(f"{url}/ack", headers=world.auth("ada_write")), 422)
    assert "already" in again["error"]["message"]
    late = await c.post(f"{url}/snooze", json={"minutes": 60}, headers=world.auth("ada_write"))
    assert "already acknowledged" in (await _json(late, 422))["error"]["message"]
    cheaper = await c.post(f"{url}/snooze", json={"below": 20}, headers=world.auth("ada_write"))
    assert (await _json(cheaper, 200))["snooze_below"] == 20.0
    timeline = await c.get(f"{url}/timeline", headers=world.auth("ada_read"))
    kinds = [e["kind"] for e in (await _json(timeline, 200))["timeline"]]
    assert "acknowledged" in kinds and "snoozed" in kinds


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"minutes": 0}, 422, "minutes must be a whole number from 1"),
        ({"minutes": "2h"}, 422, "minutes must be a whole number"),
        ({"minutes": 5, "below": 3}, 422, "not both"),
        ({"below": -1}, 422, "below must be a price of at least 0.01"),
        ({"below": 0.004}, 422, "below must be a price of at least 0.01"),  # no whole cent
        ({"below": 1e26}, 422, "under 10,000,000"),
        # In the API's words, not the chat's ("e.g. snooze 5 under 36").
        ({"below": 9999}, 422, "below 9999 is not under the alert's price"),
        ({"minute": 5}, 422, "unknown field 'minute'; this takes {\"minutes\": 120}"),
        ({"foo": 1}, 422, "unknown field 'foo'"),
        ([1, 2], 422, "must be a JSON object"),
        ("{nope", 400, "not valid JSON"),
    ],
)
async def test_bad_snooze_bodies_are_refused_with_a_reason(
    world: World, body: Any, status: int, needle: str
) -> None:
    url = f"/api/v1/alerts/{world.alert}/snooze"
    headers = world.auth("ada_write")
    if isinstance(body, str):
        resp = await world.client.post(url, data=body, headers=headers)
    else:
        resp = await world.client.post(url, json=body, headers=headers)
    assert needle in (await _json(resp, status))["error"]["message"]


async def test_snooze_below_is_in_whole_cents_as_in_the_chat(world: World) -> None:
    """19.999 is stored as 20.00, as "snooze 12 under 19.999" is: never a price the alert
    list shows as "under $20.00" while meaning something a hair below it."""
    url = f"/api/v1/alerts/{world.alert}/snooze"
    resp = await world.client.post(url, json={"below": 19.999}, headers=world.auth("ada_write"))
    assert (await _json(resp, 200))["snooze_below"] == 20.0


async def test_ack_takes_no_fields(world: World) -> None:
    url = f"/api/v1/alerts/{world.alert}/ack"
    resp = await world.client.post(url, json={"minutes": 5}, headers=world.auth("ada_write"))
    body = await _json(resp, 422)
    assert body["error"]["message"] == "unknown field 'minutes'; this takes no body, e.g. {}"
    assert (await world.client.post(url, headers=world.auth("ada_write"))).status == 200


async def test_get_routes_answer_head(world: World) -> None:
    resp = await world.client.head("/api/v1/alerts", headers=world.auth("ada_write"))
    assert resp.status == 200 and resp.content_type == "application/json"


async def test_an_admin_resolves_and_a_person_cannot_act_on_anothers_alert(world: World) -> None:
    c = world.client
    theirs = f"/api/v1/alerts/{world.bobs_alert}"
    assert (await c.post(f"{theirs}/ack", headers=world.auth("ada_write"))).status == 404
    resolved = await c.post(
        f"{theirs}/resolve", json={"reason": "sold out"}, headers=world.auth("admin")
    )
    body = await _json(resolved, 200)
    assert body["status"] == "resolved" and body["reason"] == "sold out (via api)"
    again = await c.post(f"{theirs}/resolve", headers=world.auth("admin"))
    assert "already resolved" in (await _json(again, 422))["error"]["message"]


async def test_watches_through_the_chat_grammar(world: World) -> None:
    c, ada = world.client, world.auth("ada_write")
    added = await _json(
        await c.post("/api/v1/watches", json={"text": "any rockies under 30"}, headers=ada), 201
    )
    assert "watch #" in added["lines"][0]
    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    new = next(w for w in listed["watches"] if w["terms"] == ["rockies"])
    assert new["max_price"] == 30.0 and new["active"] and new["user_id"] == world.ada
    paused = await c.post(f"/api/v1/watches/{new['id']}/pause", headers=ada)
    assert "Paused" in (await _json(paused, 200))["lines"][0]
    one = await _json(await c.get(f"/api/v1/watches/{new['id']}", headers=ada), 200)
    assert one["active"] is False
    bobs = await c.delete(f"/api/v1/watches/{new['id']}", headers=world.auth("bob_write"))
    assert (await _json(bobs, 404))["error"]["code"] == "not_found"
    assert (await c.delete(f"/api/v1/watches/{new['id']}", headers=ada)).status == 200
    assert (await c.get(f"/api/v1/watches/{new['id']}", headers=ada)).status == 404
    bad = await c.post("/api/v1/watches", json={"text": "rockies under -5"}, headers=ada)
    assert "e.g." in (await _json(bad, 422))["error"]["message"]
    empty = await c.post("/api/v1/watches", json={}, headers=ada)
    assert '"text" must be a string' in (await _json(empty, 422))["error"]["message"]


async def test_concurrent_identical_watches_answer_201_once(world: World) -> None:
    """Eight clients post the same watch at once: one made it (201), the others restated
    it (200 "Updated"); five answered 201 when the person's watch ids were compared."""
    import asyncio

    c, ada = world.client, world.auth("ada_write")
    body = {"text": "any celtics under 55"}
    answers = await asyncio.gather(
        *(c.post("/api/v1/watches", json=body, headers=ada) for _ in range(8))
    )
    made = [r.status for r in answers if r.status == 201]
    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    celtics = [w for w in listed["watches"] if w["terms"] == ["celtics"]]
    assert len(made) == len(celtics) >= 1
    for response in answers:
        first = (await response.json())["lines"][0]
        assert first.startswith("Watching") == (response.status == 201), first


async def test_any_command_and_a_button_press(world: World) -> None:
    c, ada = world.client, world.auth("ada_write")
    listed = await _json(
        await c.post("/api/v1/commands", json={"text": "alerts"}, headers=ada), 200
    )
    assert any(f"#{world.alert}" in line for line in listed["lines"])
    ack = next(b for b in listed["buttons"] if b["label"].startswith("Ack"))
    pressed = await c.post("/api/v1/commands", json={"token": ack["token"]}, headers=ada)
    assert "cknowledged" in " ".join((await _json(pressed, 200))["lines"])
    shown = await c.get(f"/api/v1/alerts/{world.alert}", headers=ada)
    assert (await _json(shown, 200))["status"] == "acknowledged"
    wrong = await c.post("/api/v1/commands", json={"text": "snooze"}, headers=ada)
    assert "e.g." in (await _json(wrong, 422))["error"]["message"]
    admin = await c.post("/api/v1/commands", json={"text": "watches"}, headers=world.auth("admin"))
    assert "?user=ID" in (await _json(admin, 422))["error"]["message"]


async def test_the_openapi_document_lists_every_route(world: World) -> None:
    doc = await _json(await world.client.get("/api/v1/openapi.json"), 200)
    assert doc["openapi"].startswith("3.1")
    for route in ROUTES:
        operation = doc["paths"][f"/api/v1{route.path}"][route.method.lower()]
        assert operation["summary"] == route.summary
    assert "/api/v1/ingest/snapshots" in doc["paths"]
    assert doc["paths"]["/api/v1/alerts"]["get"]["security"] == [{"bearer": ["read"]}]


async def test_preferences_activity_and_analytics(world: World) -> None:
    c, ada = world.client, world.auth("ada_write")
    await _json(
        await c.post("/api/v1/commands", json={"text": "quiet 22:00-07:00"}, headers=ada), 200
    )
    await _json(
        await c.post("/api/v1/commands", json={"text": "tz Europe/Paris"}, headers=ada), 200
    )
    prefs = await _json(await c.get("/api/v1/preferences", headers=ada), 200)
    assert prefs["user_id"] == world.ada and prefs["timezone"] == "Europe/Paris"
    assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert prefs["chats"][0]["platform"] == "telegram"
    assert prefs["learning"]["feedback_count"] == 0
    seen = await _json(await c.get("/api/v1/activity", headers=ada), 200)
    assert [a["platform"] for a in seen["activity"]][:2] == ["api", "api"]
    assert any(p["platform"] == "api" for p in seen["presence"])
    mine = await _json(await c.get("/api/v1/analytics", headers=ada), 200)
    assert mine["alerts"]["total"] == 1 and mine["alerts"]["by_status"] == {"open": 1}
    assert mine["notifications"]["by_channel"] == {"telegram": {"pending": 1}}
    everyone = await _json(await c.get("/api/v1/analytics", headers=world.auth("admin")), 200)
    assert everyone["alerts"]["total"] == 2
    bad = await c.get("/api/v1/analytics?days=0", headers=ada)
    assert (
        "days must be a whole number from 1 to 366" in (await _json(bad, 422))["error"]["message"]
    )
    nobody = await c.get("/api/v1/preferences", headers=world.auth("admin"))
    assert "?user=ID" in (await _json(nobody, 422))["error"]["message"]
    bobs = await c.get(f"/api/v1/preferences?user={world.bob}", headers=world.auth("admin"))
    assert (await _json(bobs, 200))["display_name"] == "Bob"


async def test_webhook_endpoints_through_the_api(world: World, sessions: Sessions) -> None:
    c, ada, bob = world.client, world.auth("ada_write"), world.auth("bob_write")
    body = {"url": "http://127.0.0.1:9/hook", "events": ["alert.triggered"]}
    added = await _json(await c.post("/api/v1/channels/webhooks", json=body, headers=ada), 201)
    endpoint = added["endpoint"]
    assert added["secret"].startswith("whsec_") and endpoint["user_id"] == world.ada
    assert endpoint["events"] == ["alert.triggered"] and endpoint["secrets"] == 1
    assert world.changes == ["webhooks"]  # the engine's endpoint cache is told
    listed = await _json(await c.get("/api/v1/channels", headers=ada), 200)
    assert [w["id"] for w in listed["webhooks"]] == [endpoint["id"]]
    assert "secret" not in json.dumps(listed["webhooks"]).replace('"secrets"', "")
    assert listed["chats"][0]["platform"] == "telegram"
    assert (await _json(await c.get("/api/v1/channels", headers=bob), 200))["webhooks"] == []
    url = f"/api/v1/channels/webhooks/{endpoint['id']}"
    assert (await c.post(f"{url}/test", headers=bob)).status == 404
    queued = await _json(await c.post(f"{url}/test", headers=ada), 202)
    async with sessions() as session:
        note = await session.get(Notification, queued["notification_id"])
    assert note is not None and note.kind == "test" and note.address == body["url"]
    assert (await c.delete(url, headers=bob)).status == 404
    assert (await _json(await c.delete(url, headers=ada), 200))["removed"] == endpoint["id"]
    assert (await c.post(f"{url}/test", headers=ada)).status == 404


async def test_channels_list_contact_points_masked(world: World, sessions: Sessions) -> None:
    box, phone, sam, bobs = PhoneBox(b"test key"), "+15551234567", "+15557654321", "+15550001111"
    rows = [
        ContactPoint(user_id=world.ada, kind="sms", verified_at=T0,
                     address_encrypted=box.encrypt(phone)),
        ContactPoint(user_id=world.ada, kind="sms", name="Sam", is_emergency=True,
                     owner_consent_at=T0, verified_at=T0, address_encrypted=box.encrypt(sam)),
        ContactPoint(user_id=world.bob, kind="sms", address_encrypted=box.encrypt(bobs)),
    ]  # fmt: skip
    for row, number in zip(rows, (phone, sam, bobs), strict=True):
        row.address_masked, row.address_hash, row.created_at = mask(number), number[1:], T0
    async with sessions() as session, session.begin():
        session.add_all(rows)
    resp = await world.client.get("/api/v1/channels", headers=world.auth("ada_read"))
    text = await resp.text()
    assert resp.status == 200, text
    listed = json.loads(text)["contact_points"]
    assert [(p["kind"], p["name"], p["address"]) for p in listed] == [
        ("phone", None, "+1•••••4567"),
        ("emergency", "Sam", "+1•••••4321"),
    ]
    assert listed[0]["verified_at"] is not None and listed[0]["consented_at"] is None
    assert listed[1]["consented_at"] is not None and listed[1]["created_at"] is not None
    resp = await world.client.get("/api/v1/channels", headers=world.auth("admin"))
    everyone = await resp.text()
    seen = [(p["user_id"], p["address"]) for p in json.loads(everyone)["contact_points"]]
    assert seen == [
        (world.ada, "+1•••••4567"),
        (world.ada, "+1•••••4321"),
        (world.bob, "+1•••••1111"),
    ]
    for row, number in zip(rows, (phone, sam, bobs), strict=True):  # nor its stored forms
        assert number[2:] not in text + everyone and row.address_encrypted not in text + everyone


async def test_a_lost_secret_is_replaced_by_rotating(world: World, sessions: Sessions) -> None:
    c, ada = world.client, world.auth("ada_write")
    body = {"url": "http://127.0.0.1:9/hook", "events": ["alert.triggered"]}
    first = await _json(await c.post("/api/v1/channels/webhooks", json=body, headers=ada), 201)
    url = f"/api/v1/channels/webhooks/{first['endpoint']['id']}"
    # The answer holding the secret was lost (a timeout): the retry finds the URL taken
    # and is told how to get a new secret.
    again = await c.post("/api/v1/channels/webhooks", json=body, headers=ada)
    assert again.status == 422
    assert f"POST {url}/rotate" in (await again.json())["error"]["message"]
    assert (await c.post(f"{url}/rotate", headers=world.auth("bob_write"))).status == 404
    rotated = await _json(await c.post(f"{url}/rotate", headers=ada), 200)
    secret = rotated["secret"]
    assert secret.startswith("whsec_") and secret != first["secret"]
    assert rotated["endpoint"]["secrets"] == 2  # the old one signs beside it for a day
    assert rotated["older_secrets_until"] == (T0 + timedelta(hours=24)).isoformat()
    async with sessions() as session:
        endpoint = await session.get(WebhookEndpoint, first["endpoint"]["id"])
        assert endpoint is not None
        signing = active_secrets(endpoint.secrets, SecretBox(SECRET), T0)
    assert signing == [secret, first["secret"]]
    assert world.changes == ["webhooks", "webhooks"]  # the channel's cache is told
    now = await _json(await c.post(f"{url}/rotate", json={"grace": "0"}, headers=ada), 200)
    assert now["endpoint"]["secrets"] == 1
    for bad, needle in (({"grace": "forever"}, "is not a duration"), ({"grace": 5}, "duration")):
        resp = await c.post(f"{url}/rotate", json=bad, headers=ada)
        message = (await _json(resp, 422))["error"]["message"]
        assert needle in message and '{"grace": "24h"}' in message, message
    resp = await c.post(f"{url}/rotate", json={"grace": "31d"}, headers=ada)
    assert "at most 30 days" in (await _json(resp, 422))["error"]["message"]


async def test_rotations_at_once_each_keep_their_secret(world: World, sessions: Sessions) -> None:
    c, ada = world.client, world.auth("ada_write")
    body = {"url": "http://127.0.0.1:9/hook", "events": ["alert.triggered"]}
    first = await _json(await c.post("/api/v1/channels/webhooks", json=body, headers=ada), 201)
    url = f"/api/v1/channels/webhooks/{first['endpoint']['id']}/rotate"
    answers = await asyncio.gather(*(c.post(url, headers=ada) for _ in range(3)))
    secrets = {(await _json(answer, 200))["secret"] for answer in answers}
    async with sessions() as session:
        endpoint = await session.get(WebhookEndpoint, first["endpoint"]["id"])
        assert endpoint is not None
        signing = set(active_secrets(endpoint.secrets, SecretBox(SECRET), T0))
    # Each answer's secret signs: no rotation wrote over another's.
    assert signing == secrets | {first["secret"]} and len(secrets) == 3


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"url": "http://10.0.0.1/hook"}, "private address 10.0.0.1"),
        ({"url": "ftp://127.0.0.1/x"}, "http"),
        ({"url": "http://127.0.0.1:9/h", "events": ["alert.exploded"]}, "unknown event type"),
        ({"url": "http://127.0.0.1:9/h", "events": "alert.triggered"}, "must be a list"),
        ({"url": "http://127.0.0.1:9/h", "events": []}, "no event types given"),
        ({"events": ["*"]}, '"url" must be a string'),
        ({"url": "https://exa mple.com/x"}, "is not a valid host name"),
        ({"url": "https://user:pass@example.com/x"}, "must not hold a user name or password"),
    ],
)
async def test_bad_webhook_endpoints_are_refused(world: World, body: Any, needle: str) -> None:
    resp = await world.client.post(
        "/api/v1/channels/webhooks", json=body, headers=world.auth("ada_write")
    )
    message = (await _json(resp, 422))["error"]["message"]
    assert needle in message, message


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        # A misspelt optional field: the watch would be made without its currency.
        ("/api/v1/watches", {"text": "rockies under 40", "curency": "GBP"}, "'curency'"),
        # A secret of one's own is not taken: one is made and shown once.
        ("/api/v1/channels/webhooks", {"url": "http://127.0.0.1:9/h", "secret": "s"}, "'secret'"),
        ("/api/v1/commands", {"txt": "watches", "text": "alerts"}, "'txt'"),
        ("/api/v1/commands", {"text": "watches", "token": "x" * 32}, "not both"),
    ],
)
async def test_unknown_fields_are_refused_not_dropped(
    world: World, path: str, body: dict[str, str], needle: str
) -> None:
    resp = await world.client.post(path, json=body, headers=world.auth("ada_write"))
    message = (await _json(resp, 422))["error"]["message"]
    assert needle in message and "e.g. {" in message, message
    resolve = f"/api/v1/alerts/{world.alert}/resolve"
    resp = await world.client.post(resolve, json={"reson": "x"}, headers=world.auth("admin"))
    assert (
        "unknown field 'reson' (known: \"reason\")" in (await _json(resp, 422))["error"]["message"]
    )


async def test_a_persons_token_cannot_name_someone_else_with_user(world: World) -> None:
    """?user= is an admin's: Ada's token naming Bob neither reads nor writes as Ada."""
    c, ada = world.client, world.auth("ada_write")
    before = (await _json(await c.get("/api/v1/watches", headers=ada), 200))["watches"]
    for resp in (
        await c.get(f"/api/v1/alerts?user={world.bob}", headers=ada),
        await c.post(f"/api/v1/watches?user={world.bob}", json={"text": "mlb"}, headers=ada),
        await c.post(f"/api/v1/commands?user={world.bob}", json={"text": "tz UTC"}, headers=ada),
    ):
        message = (await _json(resp, 403))["error"]["message"]
        assert message.startswith(f"this token is user {world.ada}'s and acts for no one else")
    bad = await c.get("/api/v1/watches?user=abc", headers=ada)
    assert "user must be an id" in (await _json(bad, 422))["error"]["message"]
    own = await c.get(f"/api/v1/alerts?user={world.ada}", headers=ada)  # naming oneself is fine
    assert [a["id"] for a in (await _json(own, 200))["alerts"]] == [world.alert]
    assert (await _json(await c.get("/api/v1/watches", headers=ada), 200))["watches"] == before


async def test_bad_ids_and_unknown_people_are_4xx_not_500(world: World) -> None:
    c = world.client
    bad = await c.get("/api/v1/alerts/abc/timeline", headers=world.auth("ada_read"))
    message = (await _json(bad, 422))["error"]["message"]
    assert message == "id must be an id (a whole number), e.g. /api/v1/alerts/12/timeline"
    huge = await c.get(f"/api/v1/watches/{10**20}", headers=world.auth("ada_read"))
    assert (await _json(huge, 422))["error"]["code"] == "invalid"
    nobody = await c.post(
        "/api/v1/commands?user=99999", json={"text": "watches"}, headers=world.auth("admin")
    )
    assert "no user 99999" in (await _json(nobody, 404))["error"]["message"]
    for path in ("preferences", "alerts", "channels", "watches", "analytics"):
        answer = await c.get(f"/api/v1/{path}?user=99999", headers=world.auth("admin"))
        message = (await _json(answer, 404))["error"]["message"]
        assert message == "there is no user 99999; see hdtickets users list", (path, message)


@pytest.mark.parametrize("bad", ["sold\x00out", "sold \ud800 out"])
async def test_text_no_column_can_hold_gets_422_not_500(world: World, bad: str) -> None:
    """NUL (PostgreSQL refuses it) and lone surrogates (no UTF-8 form) in any text field."""
    c, ada, admin = world.client, world.auth("ada_write"), world.auth("admin")
    theirs = f"/api/v1/alerts/{world.bobs_alert}/resolve"
    for path, body, who in (
        (theirs, {"reason": bad}, admin),
        ("/api/v1/watches", {"text": f"any rockies zone {bad}"}, ada),
        ("/api/v1/watches", {"text": bad}, ada),
        ("/api/v1/commands", {"text": f"watch {bad}"}, ada),
    ):
        raw = json.dumps(body)  # aiohttp's json= refuses to encode a lone surrogate
        resp = await c.post(path, data=raw, headers={**who, "Content-Type": "application/json"})
        assert resp.status in (200, 422), (path, resp.status)
        answer = await resp.json()
        text = answer["error"]["message"] if resp.status == 422 else " ".join(answer["lines"])
        assert resp.status == 422 or "NUL" in text, (path, answer)
    after = await c.get(f"/api/v1/alerts/{world.bobs_alert}", headers=admin)
    assert (await _json(after, 200))["status"] != "resolved"


async def test_a_declared_body_over_5_mb_is_refused_before_it_is_read(world: World) -> None:
    """A raw request declaring 100 GB and sending nothing: answered 413 at once (it was
    left waiting for the body)."""
    import asyncio

    server = world.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"POST /api/v1/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999999\r\n\r\n"
        )
        await writer.drain()
        async with asyncio.timeout(3):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413 "), head
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = json.loads(await reader.readexactly(length))
    finally:
        writer.close()
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["message"] == "request body is over 5 MB"


async def test_each_body_route_refuses_unknown_fields_by_its_declared_list(world: World) -> None:
    """The fields the OpenAPI document declares for a body are the ones its handler
    accepts: both read one constant of the handler's module, and an unknown field's 422
    names that list."""
    from bot import rest_alerts, rest_channels, rest_chat, rest_person, rest_watches

    declared = {(r.method, r.path): r.fields for r in ROUTES if r.fields}
    assert declared == {
        ("POST", "/alerts/{id}/snooze"): rest_alerts.SNOOZE_FIELDS,
        ("POST", "/alerts/{id}/resolve"): rest_alerts.RESOLVE_FIELDS,
        ("POST", "/watches"): rest_watches.CREATE_FIELDS,
        ("PATCH", "/preferences"): rest_person.PREFERENCE_FIELDS,
        ("POST", "/channels/webhooks"): rest_channels.WEBHOOK_FIELDS,
        ("POST", "/channels/webhooks/{id}/rotate"): rest_channels.ROTATE_FIELDS,
        ("POST", "/commands"): rest_chat.COMMAND_FIELDS,
    }
    for (method, path), fields in declared.items():
        if path.endswith("/snooze"):  # its own wording: test_bad_snooze_bodies_are_refused
            continue
        url = "/api/v1" + path.replace("{id}", str(world.alert))
        who = "admin" if path.endswith("/resolve") else "ada_write"
        resp = await world.client.request(method, url, json={"zz": 1}, headers=world.auth(who))
        message = (await _json(resp, 422))["error"]["message"]
        known = ", ".join(f'"{name}"' for name in fields)
        assert message.startswith(f"unknown field 'zz' (known: {known}), e.g. "), message
