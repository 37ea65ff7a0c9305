"""The REST API as an integrating system meets it: the OpenAPI document against what each
route really answers, tokens that must stay out of URLs, pagination, and requests that
arrive together (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.rest import RestDeps, add_rest_routes
from bot.web_errors import json_errors
from core.actions import ActionSigner
from core.clock import FakeClock
from core.db.models import Alert, ApiToken, WebhookEndpoint
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
from tests.integration.test_rest_api import Sessions, World, world

__all__ = ["world"]  # the REST fixture, reused

_WRONG_SCOPE = {"read": "ingest", "write": "read", "admin": "read,write"}


async def _token(sessions: Sessions, user_id: int | None, scopes: str) -> dict[str, str]:
    async with sessions() as session, session.begin():
        token = await create_token(session, user_id, f"scopes {scopes}", scopes, T0)
    return {"Authorization": f"Bearer {token}"}


async def test_the_openapi_document_says_what_each_route_does(
    world: World, sessions: Sessions
) -> None:
    """Every operation declares its path parameters, and every answer a token of the
    right scope, of a wrong one and no token get is one the document lists (the document
    named no parameter at all, and only 200 where adding a webhook answers 201)."""
    c = world.client
    doc = await (await c.get("/api/v1/openapi.json")).json()
    hook = {"url": "http://127.0.0.1:9/walk", "events": ["*"]}
    made = await c.post("/api/v1/channels/webhooks", json=hook, headers=world.auth("ada_write"))
    watches = await c.get("/api/v1/watches", headers=world.auth("ada_read"))
    ids = {
        "/alerts/": world.alert,
        "/watches/": (await watches.json())["watches"][0]["id"],
        "/webhooks/": (await made.json())["endpoint"]["id"],
    }
    walked = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
            security = operation.get("security")
            if path.endswith(("/openapi.json", "/ingest/snapshots")) or security is None:
                continue
            scope = security[0]["bearer"][0]
            url = path
            for part, value in ids.items():
                url = url.replace(f"{part}{{id}}", f"{part}{value}")
            body = operation.get("requestBody", {}).get("content", {})
            example = body.get("application/json", {}).get("example")
            right = world.auth("admin" if scope == "admin" else "ada_write")
            wrong = await _token(sessions, world.ada, _WRONG_SCOPE[scope])
            for headers, expected in ((right, None), (wrong, 403), ({}, 401)):
                answer = await c.request(method, url, json=example, headers=headers)
                assert answer.content_type == "application/json", (method, url)
                assert str(answer.status) in operation["responses"], (method, url, answer.status)
                # The right scope passes (an action may then not apply: 422, or 404 once
                # the watch is removed); a wrong one is refused for its scope.
                refused = answer.status in (401, 403)
                ok = not refused if expected is None else answer.status == expected
                assert ok, (method, url, await answer.text())
            walked += 1
    assert walked == 24  # every route but the document itself


@pytest.mark.parametrize(
    "query",
    ["?access_token={token}", "?token={token}", "?key={token}", "?status=open&api_key=x"],
)
async def test_a_token_in_the_url_is_refused_even_beside_a_good_header(
    world: World, query: str
) -> None:
    """A token in the query string was ignored beside a good header (200), and the
    alerts' `next` link repeated it in the answer."""
    url = "/api/v1/alerts" + query.format(token=world.tokens["ada_read"])
    for headers in (world.auth("ada_read"), {}):
        answer = await world.client.get(url, headers=headers)
        body = await answer.json()
        assert answer.status == 401, body
        message = body["error"]["message"]
        assert message.startswith("an API token never goes in the URL (?"), message
        assert world.tokens["ada_read"] not in message


async def test_pages_keep_their_filters_and_new_alerts_shift_nothing(
    world: World, sessions: Sessions
) -> None:
    async with sessions() as session, session.begin():
        first = await session.get(Alert, world.alert)
        assert first is not None
        for n in range(5):
            session.add(_copy(first, f"page:{n}", "resolved"))
    c, ada = world.client, world.auth("ada_read")
    url: str | None = f"/api/v1/alerts?status=RESOLVED&limit=2&user={world.ada}&limit=9"
    seen: list[int] = []
    while url is not None:
        page = await (await c.get(url, headers=ada)).json()
        seen += [a["id"] for a in page["alerts"]]
        assert {a["status"] for a in page["alerts"]} <= {"resolved"}
        async with sessions() as session, session.begin():  # a newer alert arrives
            session.add(_copy(first, f"new:{len(seen)}", "resolved"))
        url = page["next"]
        assert url is None or ("status=RESOLVED" in url and f"user={world.ada}" in url)
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


def _copy(alert: Alert, key: str, status: str) -> Alert:
    return Alert(
        dedup_key=key,
        watch_id=alert.watch_id,
        user_id=alert.user_id,
        event_id=alert.event_id,
        kind=alert.kind,
        score=alert.score,
        level=alert.level,
        status=status,
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
    )


async def test_one_webhook_posted_four_times_at_once_is_one_endpoint(
    world: World, sessions: Sessions
) -> None:
    """A client retrying after a timeout: both requests found the URL new and both added
    it (PostgreSQL), so every alert went out twice; now one is added (201), the others
    are told it exists (422), for a person's endpoint as for a global one."""
    body = {"url": "http://127.0.0.1:9/twice", "events": ["*"]}
    for who in ("ada_write", "admin"):
        answers = await asyncio.gather(
            *(
                world.client.post("/api/v1/channels/webhooks", json=body, headers=world.auth(who))
                for _ in range(4)
            )
        )
        assert Counter(a.status for a in answers) == {201: 1, 422: 3}, who
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
    assert count == 2


async def test_a_write_postgresql_rolls_back_in_a_deadlock_answers_409() -> None:
    """Two acks of one person's sibling alerts at once lock them in opposite orders:
    PostgreSQL rolls one back (deadlock_detected), which answered 500."""

    class Orig(Exception):
        sqlstate = "40P01"

    async def fails(_request: web.Request) -> web.Response:
        raise DBAPIError("UPDATE alerts", {}, Orig("deadlock detected"))

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/x", fails)
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/x")
        assert answer.status == 409
        assert (await answer.json())["error"]["code"] == "conflict"


async def test_acks_of_sibling_alerts_at_once_ack_once_without_a_deadlock(
    sessions: Sessions, clock: FakeClock
) -> None:
    """Two acks of one person's sibling alerts at once used to lock them in opposite
    orders: PostgreSQL rolled one back (deadlock_detected, a 500, later a 409). The
    alerts of one person and event are now locked together in id order: one ack wins,
    the others are told it is already done, round after round."""
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        token = await create_token(session, ada.id, "ada", "read,write", T0)
    handlers = CommandHandlers(sessions, clock, random.Random(3), ActionSigner(SECRET))
    app = web.Application(middlewares=[json_errors])
    deps = RestDeps(sessions, clock, handlers, SecretBox(SECRET), SsrfPolicy.parse([]))
    add_rest_routes(app, deps)
    headers = {"Authorization": f"Bearer {token}"}
    async with TestClient(TestServer(app)) as client:
        for n in range(4):
            async with sessions() as session, session.begin():
                event = await add_event(session, external_id=f"sib{n}")
                watch = await add_watch(session, ada, event)
                await add_watch(session, ada, event, label="second", max_price=35.0)
            engine = await fresh_engine(sessions)  # its index holds the new watches
            await process_snapshot(sessions, engine, Seed(ada, event, watch), T0, 28)
            async with sessions() as session:
                ids = [a.id for a in await alerts_of(session) if a.event_id == event.id]
            assert len(ids) == 2
            answers: list[Any] = await asyncio.gather(
                *(client.post(f"/api/v1/alerts/{i}/ack", headers=headers) for i in ids * 2)
            )
            statuses = Counter(a.status for a in answers)
            assert statuses == {200: 1, 422: 3}, (n, statuses)


async def test_a_request_that_arrives_while_its_token_is_revoked_is_refused(
    world: World, sessions: Sessions
) -> None:
    """The request read the token before the revoke committed and was answered 200 after
    `hdtickets tokens revoke` had said it was revoked; now it waits for the revoke."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(ApiToken).where(ApiToken.name == "ada read").values(revoked_at=T0)
        )
        asking = asyncio.create_task(
            world.client.get("/api/v1/alerts", headers=world.auth("ada_read"))
        )
        await asyncio.sleep(0.3)  # the request is waiting on the revoke's lock
        assert not asking.done()
    answer = await asking
    body = await answer.json()
    assert answer.status == 401 and body["error"]["message"] == "this API token has been revoked"
