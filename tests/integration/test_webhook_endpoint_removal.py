"""Removing a webhook endpoint is a soft delete (SQLite and PostgreSQL).

The endpoint's row stays, marked `removed_at`: what it was sent stays in the alerts'
timelines, what was still queued for it is cancelled with the reason, and rows a process
plans from its cached endpoint list after the removal still insert (no foreign-key error
failing the ingest that opened the alert) and are cancelled unsent by delivery. A removed
endpoint is never listed (REST, CLI, the engine's `load_webhooks`), tested, enabled or
removed again, and its URL is free to be added anew.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.clock import FakeClock
from core.db.models import AuditEntry, Notification, WebhookEndpoint
from core.outbox import DELAYED
from core.recipients import load_webhooks
from tests.fakes.channels import FakeChannel
from tests.integration.test_cli_webhooks import Cli, cli  # noqa: F401
from tests.integration.test_delivery import add, load, service
from tests.integration.test_rest_api import Sessions, World, _json, world  # noqa: F401

ADD = "/api/v1/channels/webhooks"
URL = "http://127.0.0.1:9/hook"
REMOVED = "webhook endpoint {} was removed; not sent"


def webhook_row(at: World, endpoint_id: int, key: str, status: str, **more: Any) -> Notification:
    """A webhook outbox row for Ada's alert."""
    now = datetime(2024, 3, 20, 12, tzinfo=UTC)
    values: dict[str, Any] = {
        "alert_id": at.alert,
        "user_id": at.ada,
        "webhook_endpoint_id": endpoint_id,
        "kind": "alert",
        "channel": "webhook",
        "address": URL,
        "level": 3,
        "score": 0.5,
        "payload": {"event_type": "alert.triggered", "timestamp": "2024-03-20T12:00:00Z"},
        "idempotency_key": key,
        "status": status,
        "attempts": 1 if status == "sent" else 0,
        "due_at": now,
        "created_at": now,
    }
    return Notification(**(values | more))


async def test_delete_keeps_what_was_sent_and_cancels_what_was_queued(
    world: World,  # noqa: F811
    sessions: Sessions,
) -> None:
    c, ada = world.client, world.auth("ada_write")
    added = await _json(await c.post(ADD, json={"url": URL}, headers=ada), 201)
    endpoint_id = added["endpoint"]["id"]
    async with sessions() as session, session.begin():
        session.add_all(
            [
                webhook_row(world, endpoint_id, "was-sent", "sent", sent_at=datetime.now(UTC)),
                webhook_row(world, endpoint_id, "queued", "pending"),
                webhook_row(  # parked: retries used up, tried again every retry cap
                    world, endpoint_id, "parked", "pending", attempts=6, payload={DELAYED: "x"}
                ),
            ]
        )
    timeline = f"/api/v1/alerts/{world.alert}/timeline"
    before = (await _json(await c.get(timeline, headers=ada), 200))["timeline"]

    removed = await _json(await c.delete(f"{ADD}/{endpoint_id}", headers=ada), 200)

    assert removed == {"removed": endpoint_id}
    after = (await _json(await c.get(timeline, headers=ada), 200))["timeline"]
    sent = [e for e in after if e.get("channel") == "webhook" and e.get("status") == "sent"]
    assert sent and sent == [
        e for e in before if e.get("channel") == "webhook" and e.get("status") == "sent"
    ]
    rows = {row.idempotency_key: row for row in (await load(sessions)).values()}
    assert rows["was-sent"].status == "sent"
    for key in ("queued", "parked"):
        assert (rows[key].status, rows[key].last_error) == (
            "cancelled",
            REMOVED.format(endpoint_id),
        )
    async with sessions() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
    assert endpoint is not None and endpoint.removed_at is not None
    assert (endpoint.active, endpoint.disabled_reason) == (False, "removed")
    assert world.changes == ["webhooks", "webhooks"]  # added, removed: the cache is told


async def test_a_removed_endpoint_is_gone_to_the_api(world: World) -> None:  # noqa: F811
    c, ada = world.client, world.auth("ada_write")
    first = await _json(await c.post(ADD, json={"url": URL}, headers=ada), 201)
    path = f"{ADD}/{first['endpoint']['id']}"
    await _json(await c.delete(path, headers=ada), 200)

    assert (await _json(await c.get("/api/v1/channels", headers=ada), 200))["webhooks"] == []
    admin = await _json(await c.get("/api/v1/channels", headers=world.auth("admin")), 200)
    assert admin["webhooks"] == []
    assert (await _json(await c.post(f"{path}/test", headers=ada), 404))["error"]["code"] == (
        "not_found"
    )
    await _json(await c.delete(path, headers=ada), 404)
    # Its URL no longer counts as a duplicate.
    again = await _json(await c.post(ADD, json={"url": URL}, headers=ada), 201)
    assert again["endpoint"]["id"] != first["endpoint"]["id"]


def test_cli_remove_then_list_enable_test_and_add_again(cli: Cli) -> None:  # noqa: F811
    cli.ok("add", URL.replace("127.0.0.1:9", "hooks.example.com"))
    assert cli.ok("remove", "1") == "webhook endpoint 1 removed; 0 queued notifications cancelled\n"

    assert "no webhook endpoints" in cli.ok("list")
    for command in ("enable", "test", "rotate", "remove"):
        result = cli(command, "1")
        assert result.exit_code == 2, (command, result.output)
        assert "no webhook endpoint 1; see hdtickets webhooks list" in result.output
    cli.ok("add", URL.replace("127.0.0.1:9", "hooks.example.com"))  # not a duplicate
    assert [(e.id, e.active, e.removed_at is None) for e in cli.endpoints()] == [
        (1, False, False),
        (2, True, True),
    ]


async def three_endpoints(sessions: Sessions) -> dict[str, int]:
    """An active endpoint, one disabled after a 410 (URL with a password), one removed."""
    now = datetime(2024, 3, 20, 11, tzinfo=UTC)
    made = {
        "active": WebhookEndpoint(url=URL, active=True),
        "disabled": WebhookEndpoint(
            url=URL,
            active=False,
            disabled_reason="410 Gone from https://bob:hunter2@old.example.com/x",
        ),
        "removed": WebhookEndpoint(
            url=URL, active=False, disabled_reason="removed", removed_at=now
        ),
    }
    async with sessions() as session, session.begin():
        for endpoint in made.values():
            endpoint.secrets, endpoint.event_types = [], ["alert.triggered"]
            session.add(endpoint)
        await session.flush()
        return {name: endpoint.id for name, endpoint in made.items()}


async def test_the_engine_loads_only_active_endpoints(sessions: Sessions) -> None:
    ids = await three_endpoints(sessions)

    async with sessions() as session:
        targets = await load_webhooks(session)

    assert [target.endpoint_id for target in targets] == [ids["active"]]


async def test_rows_queued_for_a_removed_or_disabled_endpoint_are_cancelled_unsent(
    sessions: Sessions, clock: FakeClock
) -> None:
    ids = await three_endpoints(sessions)
    await add(
        sessions,
        clock,
        *({"idempotency_key": name, "webhook_endpoint_id": id_} for name, id_ in ids.items()),
    )
    hook = FakeChannel("webhook")

    assert await service(sessions, clock, {"webhook": hook}).deliver_batch() == 3

    assert hook.call_keys == ["active"]
    rows = await load(sessions)
    assert rows["active"].status == "sent"
    assert (rows["removed"].status, rows["removed"].last_error) == (
        "cancelled",
        REMOVED.format(ids["removed"]),
    )
    disabled = rows["disabled"]
    assert disabled.status == "cancelled" and disabled.attempts == 0
    assert disabled.last_error == (
        f"webhook endpoint {ids['disabled']} is disabled (410 Gone from "
        "https://bob:***@old.example.com/x); not sent, enable it with "
        f"`hdtickets webhooks enable {ids['disabled']}`"
    )
    async with sessions() as session:
        failures = (await session.execute(select(WebhookEndpoint.consecutive_failures))).all()
        kinds = (await session.execute(select(AuditEntry.kind))).scalars().all()
    assert [f for (f,) in failures] == [0, 0, 0]  # withdrawn unsent: no receiver failed
    assert sorted(kinds) == ["delivery_cancelled", "delivery_cancelled", "sent"]
    clock.advance(timedelta(hours=1).total_seconds())
    assert await service(sessions, clock, {"webhook": hook}).deliver_batch() == 0
