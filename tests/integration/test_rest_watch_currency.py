"""POST /api/v1/watches takes an optional "currency" for the max; a watch's JSON says it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.rest_helpers import json_answer as _json
from tests.integration.test_rest_api import World, world

__all__ = ["world"]  # the fixture, shared with test_rest_api


async def test_a_watch_made_with_a_currency_reads_back_with_it(world: World) -> None:
    c, ada = world.client, world.auth("ada_write")
    body = {"text": "any arsenal under 80", "currency": "gbp"}
    made = await _json(await c.post("/api/v1/watches", json=body, headers=ada), 201)
    assert any("under £80" in line for line in made["lines"]), made

    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    mine = next(w for w in listed["watches"] if w["terms"] == ["arsenal"])
    assert (mine["max_price"], mine["currency"]) == (80.0, "GBP")
    one = await _json(await c.get(f"/api/v1/watches/{mine['id']}", headers=ada), 200)
    assert one["currency"] == "GBP"

    plain = {"text": "any rockies under 30", "currency": None}  # null: none given
    await _json(await c.post("/api/v1/watches", json=plain, headers=ada), 201)
    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    rockies = next(w for w in listed["watches"] if w["terms"] == ["rockies"])
    assert rockies["currency"] is None  # read in each event's own


async def test_a_currency_typed_with_the_price_reads_back_too(world: World) -> None:
    c, ada = world.client, world.auth("ada_write")
    body = {"text": "any arsenal under ¥7,000"}
    await _json(await c.post("/api/v1/watches", json=body, headers=ada), 201)
    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    mine = next(w for w in listed["watches"] if w["terms"] == ["arsenal"])
    assert (mine["max_price"], mine["currency"]) == (7000.0, "JPY")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"text": "any arsenal under 80", "currency": "pounds"}, '"currency" must be a 3-letter'),
        ({"text": "any arsenal under 80", "currency": "£"}, '"currency" must be a 3-letter'),
        ({"text": "any arsenal under 80", "currency": 826}, '"currency" must be a 3-letter'),
        ({"text": "any nba drop 10%", "currency": "GBP"}, "a currency is for the max price"),
        ({"text": "any arsenal under $80", "currency": "GBP"}, "the price is in USD"),
        ({"text": "any arsenal under", "currency": "GBP"}, "needs a price"),
    ],
)
async def test_a_bad_currency_is_refused_with_a_reason(
    world: World, body: dict[str, Any], needle: str
) -> None:
    c, ada = world.client, world.auth("ada_write")
    refused = await _json(await c.post("/api/v1/watches", json=body, headers=ada), 422)
    assert refused["error"]["code"] == "invalid"
    message = refused["error"]["message"]
    assert needle in message and "\n" not in message, message
    listed = await _json(await c.get("/api/v1/watches", headers=ada), 200)
    assert [w for w in listed["watches"] if w["terms"] in (["arsenal"], ["nba"])] == []


async def test_a_currency_other_than_the_events_is_refused(world: World) -> None:
    c, ada = world.client, world.auth("ada_write")
    body = {"text": "rockies under 80", "currency": "GBP"}  # one game, priced in dollars
    refused = await _json(await c.post("/api/v1/watches", json=body, headers=ada), 422)
    assert "priced in $ (USD), not £ (GBP)" in refused["error"]["message"], refused
