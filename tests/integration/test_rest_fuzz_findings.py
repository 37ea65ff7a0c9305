"""What fuzzing the REST API with schemathesis found: the OpenAPI document against what
the routes take, and malformed HTTP requests against the log."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import rest_watches
from bot.rest import openapi_document
from bot.rest_alerts import MAX_SNOOZE_MINUTES
from bot.rest_person import EXAMPLES
from bot.web_errors import INGEST_PATH
from core.chat import Reply
from core.clock import FakeClock
from core.handlers import CommandHandlers
from tests.integration.rest_helpers import json_answer
from tests.integration.test_ingest_http import lite, make_app
from tests.integration.test_rest_api import World, world

__all__ = ["lite", "world"]  # fixtures, reused


def test_ingest_declares_the_json_body_it_requires() -> None:
    """Ingest refuses an empty body (400), yet the document declared none: a client, or
    a fuzzer, reading it could not know a batch goes in the body."""
    operation = openapi_document()["paths"][INGEST_PATH]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    content = body["content"]["application/json"]
    assert content["schema"]["type"] == "object"
    assert {"source", "snapshots"} <= set(content["schema"]["required"])
    accepted = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert set(accepted["properties"]) == {"accepted", "duplicates", "rejected"}


def test_every_request_body_is_declared_a_json_object() -> None:
    """Every route refuses a body that is not a JSON object (`null`, a list) with a 422,
    yet the document gave only an example, so `null` was a valid body by it."""
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            schema = operation["requestBody"]["content"]["application/json"].get("schema")
            assert schema is not None and schema["type"] == "object", (method, path)


def _body_schema(method: str, path: str) -> dict[str, Any]:
    operation = openapi_document()["paths"]["/api/v1" + path][method]
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def test_each_body_declares_the_fields_its_route_takes_and_no_others() -> None:
    """Every route refuses a field it does not know with a 422 (a misspelt "curency" is
    not dropped), yet the document declared no fields: by it, any field was valid."""
    expected = {
        ("post", "/alerts/{id}/ack"): set(),
        ("post", "/alerts/{id}/snooze"): {"minutes", "below"},
        ("post", "/alerts/{id}/resolve"): {"reason"},
        ("post", "/watches"): {"text", "currency"},
        ("patch", "/preferences"): set(EXAMPLES),
        ("post", "/channels/webhooks"): {"url", "events"},
        ("post", "/channels/webhooks/{id}/rotate"): {"grace"},
        ("post", "/commands"): {"text", "token"},
    }
    for (method, path), fields in expected.items():
        schema = _body_schema(method, path)
        assert schema["additionalProperties"] is False, (method, path)
        assert set(schema.get("properties", {})) == fields, (method, path)
    assert _body_schema("post", "/watches")["required"] == ["text"]
    assert _body_schema("post", "/channels/webhooks")["required"] == ["url"]
    snooze = _body_schema("post", "/alerts/{id}/snooze")["properties"]
    assert snooze["minutes"]["maximum"] == MAX_SNOOZE_MINUTES


def test_every_body_example_holds_only_declared_fields() -> None:
    """The document's example of each body is valid by the body's own schema's fields."""
    for path, operations in openapi_document()["paths"].items():
        for operation in operations.values():
            if "requestBody" not in operation or "ingest" in path:
                continue
            content = operation["requestBody"]["content"]["application/json"]
            assert set(content["example"]) <= set(content["schema"].get("properties", {}))


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /api/v1/watches HTTP/1.1\r\nHost: x\r\nX-Probe: \x00\r\n\r\n",  # NUL in a header
        b"GARBAGE\r\n\r\n",  # no HTTP at all
    ],
)
async def test_a_malformed_http_request_is_one_log_line_not_a_traceback(
    lite: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture, request_line: bytes
) -> None:
    """aiohttp refuses a request it cannot parse before any route sees it, and logged
    that at ERROR with a traceback: a client's mistake read as a server failure
    (schemathesis probes a NUL byte in a header)."""
    async with TestClient(TestServer(make_app(lite, clock))) as client:
        server = client.server
        caplog.set_level(logging.DEBUG)
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(request_line)
            await writer.drain()
            async with asyncio.timeout(3):
                head = await reader.readuntil(b"\r\n\r\n")
        finally:
            writer.close()
    assert b" 400 " in head.split(b"\r\n")[0], head
    traced = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not traced, [r.getMessage() for r in traced]
    [line] = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    # At most a warning: aiohttp keeps traffic that is no HTTP at all at debug.
    assert line.levelno <= logging.WARNING
    assert "\n" not in line.getMessage()


async def test_snooze_minutes_written_as_a_whole_float_are_taken(world: World) -> None:
    """JSON has one number type: 120.0 is the whole number 120 (and valid against the
    document's "integer"), yet it was refused as "minutes must be a whole number"."""
    url = f"/api/v1/alerts/{world.alert}/snooze"
    resp = await world.client.post(url, json={"minutes": 120.0}, headers=world.auth("ada_write"))
    assert (await json_answer(resp, 200))["status"] == "snoozed"
    half = await world.client.post(url, json={"minutes": 1.5}, headers=world.auth("ada_write"))
    assert "whole number" in (await json_answer(half, 422))["error"]["message"]


@pytest.mark.parametrize(
    ("path", "field", "taken", "refused"),
    [
        ("/channels/webhooks/{id}/rotate", "grace", ["24h", "0", "30M", "45s"], ["û*", "", "2 h"]),
        ("/watches", "currency", ["GBP", "usd"], ["__main__", "GB", "EURO", "€"]),
        (
            "/channels/webhooks",
            "url",
            ["https://h.example/x", "HTTP://h.example"],
            ["0", "ftp://h"],
        ),
    ],
)
def test_text_fields_declare_the_form_their_route_takes(
    path: str, field: str, taken: list[str], refused: list[str]
) -> None:
    """A grace of "û*", a currency of "__main__" or a URL of "0" was valid by the document
    (any string) yet refused with a 422: the document now says the form each takes."""
    schema = _body_schema("post", path)["properties"][field]
    pattern = re.compile(schema["pattern"])
    assert [text for text in taken if pattern.search(text) is None] == []
    assert [text for text in refused if pattern.search(text) is not None] == []


async def test_a_watch_removed_while_paused_answers_404_in_the_apis_words(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two concurrent calls: a DELETE removed the watch after a pause had found it but
    before the pause's command ran, which answered 422 in the chat's words ("type
    watches to see yours"); the watch is gone, so it is the 404 any removed watch gets."""
    c, ada = world.client, world.auth("ada_write")
    made = await c.post("/api/v1/watches", json={"text": "any rockies under 30"}, headers=ada)
    await json_answer(made, 201)
    listed = await json_answer(await c.get("/api/v1/watches", headers=ada), 200)
    watch_id = next(w["id"] for w in listed["watches"] if w["terms"] == ["rockies"])
    original = rest_watches.run_command

    async def removed_first(handlers: CommandHandlers, user_id: int, text: str) -> Reply:
        await original(handlers, user_id, f"unwatch {watch_id}")  # the other request
        return await original(handlers, user_id, text)

    monkeypatch.setattr(rest_watches, "run_command", removed_first)
    resp = await c.post(f"/api/v1/watches/{watch_id}/pause", headers=ada)
    body = await json_answer(resp, 404)
    assert body["error"] == {
        "code": "not_found",
        "message": f"watch {watch_id} not found; GET /api/v1/watches",
    }


_PERSON_ROUTES = [
    ("get", "/preferences"),
    ("patch", "/preferences"),
    ("get", "/activity"),
    ("post", "/watches"),
    ("post", "/commands"),
]


def _user_parameter(method: str, path: str) -> dict[str, Any]:
    operation = openapi_document()["paths"]["/api/v1" + path][method]
    [user] = [p for p in operation["parameters"] if p["name"] == "user"]
    assert user["in"] == "query"
    return dict(user)


@pytest.mark.parametrize(("method", "path"), _PERSON_ROUTES)
def test_a_person_route_says_an_admin_token_must_name_the_person(method: str, path: str) -> None:
    """These routes act as one person: an admin token without ?user= gets a 422, yet the
    document's `user` read as optional for everyone (as on the listings, where an admin
    token without it sees everyone's)."""
    description = _user_parameter(method, path)["description"]
    assert "admin token must" in description and "422" in description, description
    listing = _user_parameter("get", "/alerts")["description"]
    assert "422" not in listing, listing


def test_preference_fields_declare_the_json_types_the_handler_takes() -> None:
    """quiet_hours and min_level_per_channel had a description and no schema: by the
    document any JSON value was valid, though PATCH refuses a list or a bare number."""
    properties = _body_schema("patch", "/preferences")["properties"]
    for name, schema in properties.items():
        assert "type" in schema or "anyOf" in schema, name
    quiet = {s["type"]: s for s in properties["quiet_hours"]["anyOf"]}
    assert set(quiet) == {"string", "object", "null"}
    assert quiet["object"]["required"] == ["start", "end"]
    assert quiet["object"]["additionalProperties"] is False
    levels = {s["type"]: s for s in properties["min_level_per_channel"]["anyOf"]}
    assert set(levels) == {"integer", "string", "object"}
    assert (levels["integer"]["minimum"], levels["integer"]["maximum"]) == (1, 5)
    per_channel = {s["type"] for s in levels["object"]["additionalProperties"]["anyOf"]}
    assert per_channel == {"integer", "string"}
