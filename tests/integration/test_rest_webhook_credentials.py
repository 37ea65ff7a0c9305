"""The REST API never shows the password of a legacy webhook URL (stored before URLs with
credentials were refused): not in an alert's timeline, the channel list, nor an error."""

from __future__ import annotations

import json
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
from core.db.models import AuditEntry, Notification, WebhookEndpoint
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

Sessions = async_sessionmaker[AsyncSession]
PASSWORD = "hunter2"
LEGACY_URL = f"https://bob:{PASSWORD}@hooks.example.com/hdt"
MASKED_URL = "https://bob:***@hooks.example.com/hdt"


@dataclass
class Legacy:
    client: TestClient[Any, Any]
    alert: int
    endpoint: int
    headers: dict[str, str]


@pytest.fixture
async def legacy(sessions: Sessions, clock: FakeClock) -> AsyncIterator[Legacy]:
    """Ada's alert with a send to, and audit entries about, a legacy webhook endpoint
    whose URL holds a password, written straight into the database."""
    async with sessions() as session, session.begin():
        ada = await add_user(session, name="Ada")
        event = await add_event(session)
        watch = await add_watch(session, ada, event)
        token = await create_token(session, ada.id, "ada", "read,write", T0)
    await process_snapshot(
        sessions, await fresh_engine(sessions), Seed(ada, event, watch), T0, 28.0
    )
    async with sessions() as session, session.begin():
        [alert] = await alerts_of(session)
        endpoint = WebhookEndpoint(
            user_id=ada.id, url=LEGACY_URL, secrets=[], event_types=["alert.triggered"],
            active=False, disabled_reason=f"HTTP 410 from {LEGACY_URL}",
            consecutive_failures=5, created_at=T0,
        )  # fmt: skip
        session.add(endpoint)
        await session.flush()
        session.add(
            Notification(
                alert_id=alert.id, user_id=ada.id, webhook_endpoint_id=endpoint.id,
                kind="alert", channel="webhook", address=LEGACY_URL, level=3,
                payload={"event_type": "alert.triggered"}, idempotency_key="legacy-send",
                status="failed", attempts=3, due_at=T0, created_at=T0,
                last_error=f"HTTP 500 from {LEGACY_URL}",
            )
        )  # fmt: skip
        session.add(
            AuditEntry(
                alert_id=alert.id, at=T0, kind="webhook_failed", detail=f"gave up on {LEGACY_URL}"
            )
        )
        alert_id, endpoint_id = alert.id, endpoint.id
    handlers = CommandHandlers(sessions, clock, random.Random(3), ActionSigner(SECRET))
    app = web.Application(middlewares=[json_errors])
    add_rest_routes(
        app,
        RestDeps(sessions, clock, handlers, SecretBox(SECRET), SsrfPolicy.parse(["127.0.0.1"])),
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Legacy(client, alert_id, endpoint_id, {"Authorization": f"Bearer {token}"})
    finally:
        await client.close()


async def test_the_timeline_masks_a_legacy_webhook_password(legacy: Legacy) -> None:
    resp = await legacy.client.get(
        f"/api/v1/alerts/{legacy.alert}/timeline", headers=legacy.headers
    )
    assert resp.status == 200
    text = await resp.text()
    assert PASSWORD not in text
    timeline = json.loads(text)["timeline"]
    sent = next(e for e in timeline if e.get("channel") == "webhook")
    assert sent["address"] == MASKED_URL
    assert sent["last_error"] == f"HTTP 500 from {MASKED_URL}"
    failed = next(e for e in timeline if e["kind"] == "webhook_failed")
    assert failed["detail"] == f"gave up on {MASKED_URL}"


async def test_the_channel_list_and_errors_mask_a_legacy_webhook_password(
    legacy: Legacy,
) -> None:
    resp = await legacy.client.get("/api/v1/channels", headers=legacy.headers)
    assert resp.status == 200
    text = await resp.text()
    assert PASSWORD not in text
    [hook] = json.loads(text)["webhooks"]
    assert hook["url"] == MASKED_URL
    assert hook["disabled_reason"] == f"HTTP 410 from {MASKED_URL}"
    test = await legacy.client.post(
        f"/api/v1/channels/webhooks/{legacy.endpoint}/test", headers=legacy.headers
    )
    assert test.status == 422
    message = (await test.json())["error"]["message"]
    assert PASSWORD not in message and MASKED_URL in message
