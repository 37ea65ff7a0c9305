"""Webhook endpoint URLs through the REST API (SQLite and PostgreSQL).

One receiver cannot be added twice by writing its URL differently (a fragment, a trailing
dot, a default port), also next to an endpoint stored before URLs were normalized; port 0
is refused; a URL whose stored, percent-encoded form is longer than the outbox's
`notifications.address` holds is refused at once, instead of every later outbox insert
for it failing on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from adapters.webhook.ssrf import MAX_URL_CHARS
from core.db.models import Notification, WebhookEndpoint
from tests.integration.test_rest_api import Sessions, World, _json, world  # noqa: F401

ADD = "/api/v1/channels/webhooks"
URL = "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    "twin",
    [
        "http://127.0.0.1:9/hook#a",  # a fragment is never sent
        "http://127.0.0.1.:9/hook",  # the same address with a trailing dot
        "HTTP://127.0.0.1:9/hook",
    ],
)
async def test_the_same_receiver_cannot_be_added_twice(world: World, twin: str) -> None:  # noqa: F811
    c, ada = world.client, world.auth("ada_write")
    first = await _json(await c.post(ADD, json={"url": URL}, headers=ada), 201)

    answer = await _json(await c.post(ADD, json={"url": twin}, headers=ada), 422)

    message = answer["error"]["message"]
    assert f"webhook endpoint {first['endpoint']['id']} already sends to {URL}" in message
    # An API caller is told the API's ways to replace it, not a command on the server.
    endpoint = f"{ADD}/{first['endpoint']['id']}"
    assert message.endswith(
        f"e.g. DELETE {endpoint}, or get a new secret for it: POST {endpoint}/rotate"
    ), message


async def test_a_trailing_dot_and_a_default_port_are_the_same_host(world: World) -> None:  # noqa: F811
    c, ada = world.client, world.auth("ada_write")
    added = await _json(
        await c.post(ADD, json={"url": "https://hooks.example.com.:443/in#x"}, headers=ada), 201
    )
    assert added["endpoint"]["url"] == "https://hooks.example.com/in"

    twin = {"url": "https://hooks.example.com/in"}
    answer = await _json(await c.post(ADD, json=twin, headers=ada), 422)
    assert "already sends to" in answer["error"]["message"]


async def test_an_endpoint_stored_before_normalization_is_still_a_duplicate(
    world: World,  # noqa: F811
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        legacy = WebhookEndpoint(
            user_id=world.ada,
            url="https://hooks.example.com./in#old",
            secrets=[],
            event_types=["alert.triggered"],
            active=True,
            consecutive_failures=0,
            created_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        session.add(legacy)
    answer = await _json(
        await world.client.post(
            ADD, json={"url": "https://hooks.example.com/in"}, headers=world.auth("ada_write")
        ),
        422,
    )
    assert f"webhook endpoint {legacy.id} already sends to" in answer["error"]["message"]


async def test_port_zero_is_refused(world: World) -> None:  # noqa: F811
    answer = await _json(
        await world.client.post(
            ADD, json={"url": "http://127.0.0.1:0/hook"}, headers=world.auth("ada_write")
        ),
        422,
    )
    assert "port 0 cannot be connected to" in answer["error"]["message"]


async def test_a_url_longer_than_the_outbox_holds_once_encoded_is_refused(
    world: World,  # noqa: F811
    sessions: Sessions,
) -> None:
    typed = "http://127.0.0.1:9/" + "é" * 200  # 219 characters as typed

    answer = await _json(
        await world.client.post(ADD, json={"url": typed}, headers=world.auth("ada_write")), 422
    )

    assert "once percent-encoded" in answer["error"]["message"]
    async with sessions() as session:
        assert list((await session.execute(select(WebhookEndpoint))).scalars()) == []


async def test_the_longest_accepted_url_fits_the_outbox(world: World, sessions: Sessions) -> None:  # noqa: F811
    c, ada = world.client, world.auth("ada_write")
    base = "http://127.0.0.1:9/"
    room = MAX_URL_CHARS - len(base)
    typed = base + "é" * (room // 6) + "a" * (room % 6)
    added = await _json(await c.post(ADD, json={"url": typed}, headers=ada), 201)
    endpoint_id = added["endpoint"]["id"]

    queued = await _json(await c.post(f"{ADD}/{endpoint_id}/test", headers=ada), 202)

    async with sessions() as session:
        note = await session.get(Notification, queued["notification_id"])
    assert note is not None and len(note.address) == MAX_URL_CHARS
