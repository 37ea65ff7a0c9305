"""Requests that arrive together act once: on SQLite as on PostgreSQL.

SQLite has no row locks; `core.db.engine` turns a `FOR UPDATE` read into `BEGIN
IMMEDIATE`, so the read and the writes after it cannot interleave with another writer.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.web_errors import json_errors
from core.db.models import Alert, AuditEntry, Watch
from tests.integration.test_rest_api import Sessions, World, world

__all__ = ["world"]  # the REST fixture, reused


async def test_four_acks_at_once_acknowledge_once(world: World, sessions: Sessions) -> None:
    url = f"/api/v1/alerts/{world.alert}/ack"
    answers = await asyncio.gather(
        *(world.client.post(url, headers=world.auth("ada_write")) for _ in range(4))
    )
    statuses = Counter(r.status for r in answers)
    assert statuses == {200: 1, 422: 3}, statuses
    for refused in (r for r in answers if r.status == 422):
        assert "already" in (await refused.json())["error"]["message"]
    async with sessions() as session:
        acks = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.alert_id == world.alert, AuditEntry.kind == "acknowledged")
        )
        alert = await session.get(Alert, world.alert)
    assert acks == 1
    assert alert is not None and alert.status == "acknowledged"


async def test_the_same_watch_posted_four_times_at_once_is_one_watch(
    world: World, sessions: Sessions
) -> None:
    async with sessions() as session:
        before = await session.scalar(
            select(func.count()).select_from(Watch).where(Watch.user_id == world.ada)
        )
    answers = await asyncio.gather(
        *(
            world.client.post(
                "/api/v1/watches",
                json={"text": "mlb under 55"},
                headers=world.auth("ada_write"),
            )
            for _ in range(4)
        )
    )
    assert all(r.status in (200, 201) for r in answers), [r.status for r in answers]
    async with sessions() as session:
        after = await session.scalar(
            select(func.count()).select_from(Watch).where(Watch.user_id == world.ada)
        )
    assert after == (before or 0) + 1


async def test_a_resume_racing_a_removal_never_brings_the_watch_back(
    world: World, sessions: Sessions
) -> None:
    """Two buttons (or API calls) at once: the removal wins or comes second, but a
    removed watch is never left active, which would keep it alerting."""
    for attempt in range(6):
        async with sessions() as session, session.begin():
            watch = Watch(user_id=world.ada, label=f"race {attempt}", terms=[f"race{attempt}"],
                          triggers=["price_below"], max_price=40.0, active=False)  # fmt: skip
            session.add(watch)
            await session.flush()
            watch_id = watch.id
        url = f"/api/v1/watches/{watch_id}"
        removal, resume = (
            world.client.delete(url, headers=world.auth("ada_write")),
            (world.client.post(f"{url}/resume", headers=world.auth("ada_write"))),
        )
        answers = await asyncio.gather(*((resume, removal) if attempt % 2 else (removal, resume)))
        assert all(r.status < 500 for r in answers), [r.status for r in answers]
        async with sessions() as session:
            row = await session.get(Watch, watch_id)
        assert row is not None and row.removed_at is not None
        assert row.active is False, f"attempt {attempt}: a removed watch is active again"


@pytest.mark.parametrize(
    ("error", "status", "needle"),
    [
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), 409, "same moment"),
        (OperationalError("UPDATE", {}, Exception("database is locked")), 503, "busy"),
        (OperationalError("SELECT", {}, Exception("disk I/O error")), 500, "server log"),
    ],
)
async def test_database_races_are_json_answers(error: Exception, status: int, needle: str) -> None:
    async def fails(_request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/x", fails)
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/x")
        assert answer.status == status
        assert needle in (await answer.json())["error"]["message"]
        assert (answer.headers.get("Retry-After") is not None) == (status == 503)
