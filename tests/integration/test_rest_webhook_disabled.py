"""A webhook endpoint disabled after a 410, as its owner meets it through the REST API.

The owner sees why in `GET /channels`; testing it is refused with that reason and with
what an API caller can do about it (the API has no enable route), not a command to run
on the server (SQLite and PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import update

from core.db.models import WebhookEndpoint
from tests.integration.test_rest_api import Sessions, World, _json, world  # noqa: F401

ADD = "/api/v1/channels/webhooks"
GONE = "webhook hooks.example.com answered 410 Gone"


async def test_a_disabled_endpoint_says_why_and_what_an_api_caller_can_do(
    world: World,  # noqa: F811
    sessions: Sessions,
) -> None:
    c, ada = world.client, world.auth("ada_write")
    added = await _json(
        await c.post(ADD, json={"url": "https://hooks.example.com/in"}, headers=ada), 201
    )
    endpoint_id = added["endpoint"]["id"]
    async with sessions() as session, session.begin():
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(active=False, disabled_reason=GONE)
        )

    listed = await _json(await c.get("/api/v1/channels", headers=ada), 200)
    [hook] = listed["webhooks"]
    assert (hook["active"], hook["disabled_reason"]) == (False, GONE)
    answer = await _json(await c.post(f"{ADD}/{endpoint_id}/test", headers=ada), 422)

    message = answer["error"]["message"]
    assert message.startswith(f"webhook endpoint {endpoint_id} is disabled ({GONE}); "), message
    assert f"DELETE {ADD}/{endpoint_id}" in message and f"e.g. POST {ADD}" in message, message
    assert not message.endswith(f"`hdtickets webhooks enable {endpoint_id}`"), message
