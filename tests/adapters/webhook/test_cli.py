"""`hdtickets webhooks …` through typer's CliRunner against a temporary SQLite database."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.webhook.channel import WebhookChannel
from adapters.webhook.secrets import EndpointSecrets, SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.cli import app
from core.clock import SystemClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Notification, User, WebhookEndpoint
from core.domain import ChannelKind, Level, OutboundMessage
from tests.fake_platforms.webhook_receiver import WebhookReceiver

KEY = "cli-test-secret-key"
T = TypeVar("T")
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env, state dir inside tmp
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDT_SECRET_KEY", KEY)
    monkeypatch.delenv("HDT_WEBHOOK_ALLOW_HOSTS", raising=False)
    return CliRunner()


def with_db(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(url)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def endpoints(url: str) -> list[WebhookEndpoint]:
    async def work(sessions: Any) -> list[WebhookEndpoint]:
        async with sessions() as session:
            return list((await session.execute(select(WebhookEndpoint))).scalars())

    return with_db(url, work)


def add(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["webhooks", "add", *args])
    return result.exit_code, result.output


def test_add_stores_an_encrypted_secret_and_shows_it_once(cli: CliRunner, sqlite_url: str) -> None:
    code, output = add(
        cli, "https://hooks.example.com/hdt", "--events", "alert.triggered,alert.resolved"
    )

    assert code == 0, output
    [secret] = SECRET.findall(output)
    [endpoint] = endpoints(sqlite_url)
    assert endpoint.url == "https://hooks.example.com/hdt"
    assert endpoint.event_types == ["alert.triggered", "alert.resolved"]
    assert endpoint.active and endpoint.user_id is None
    [entry] = endpoint.secrets
    assert secret not in str(entry)
    assert SecretBox(KEY.encode()).decrypt(entry["secret"]) == secret
    listing = cli.invoke(app, ["webhooks", "list"])
    assert listing.exit_code == 0
    assert "https://hooks.example.com/hdt" in listing.output
    assert "1 secret" in listing.output
    assert "whsec_" not in listing.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ftp://x.example/h"], "must start with https:// or http://"),
        (["https://"], "has no host"),
        (
            ["http://10.0.0.1/h"],
            "a private address 10.0.0.1; allow it with HDT_WEBHOOK_ALLOW_HOSTS",
        ),
        (["http://127.0.0.1:9/h"], "a loopback address 127.0.0.1"),
        (["https://h.example/h", "--events", "alert.bought"], "unknown event type 'alert.bought'"),
        (["https://h.example/h", "--events", ","], "no event types given"),
        (["https://h.example/h", "--user", "99"], "no user 99"),
    ],
)
def test_add_refuses_bad_input_with_one_line(
    cli: CliRunner, sqlite_url: str, args: list[str], words: str
) -> None:
    code, output = add(cli, *args)

    assert code == 2
    assert words in output
    assert len(output.strip().splitlines()) == 1
    assert "Traceback" not in output
    assert endpoints(sqlite_url) == []


def test_add_with_owner_and_all_events(cli: CliRunner, sqlite_url: str) -> None:
    async def make_user(sessions: Any) -> int:
        async with sessions() as session, session.begin():
            user = User(display_name="Ana")
            session.add(user)
            await session.flush()
            return int(user.id)

    user_id = with_db(sqlite_url, make_user)

    code, output = add(cli, "https://h.example/h", "--events", "*", "--user", str(user_id))

    assert code == 0, output
    [endpoint] = endpoints(sqlite_url)
    assert endpoint.user_id == user_id
    assert len(endpoint.event_types) == 5


def test_allow_list_setting_permits_loopback(
    cli: CliRunner, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HDT_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")

    code, output = add(cli, "http://127.0.0.1:9/h")

    assert code == 0, output
    assert [e.url for e in endpoints(sqlite_url)] == ["http://127.0.0.1:9/h"]


def test_unknown_endpoint_and_bad_grace(cli: CliRunner) -> None:
    for command in (["rotate", "5"], ["test", "5"], ["enable", "5"], ["remove", "5"]):
        result = cli.invoke(app, ["webhooks", *command])
        assert result.exit_code == 2
        assert "no webhook endpoint 5" in result.output
    add(cli, "https://h.example/h")
    result = cli.invoke(app, ["webhooks", "rotate", "1", "--grace", "soon"])
    assert result.exit_code == 2
    assert "e.g. --grace 24h" in result.output


async def test_rotate_then_test_is_delivered_signed_with_both_secrets(
    cli: CliRunner, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HDT_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")

    async def run_cli(*args: str) -> str:
        # the CLI runs its own event loop, so it runs in a worker thread here
        result = await asyncio.to_thread(cli.invoke, app, ["webhooks", *args])
        assert result.exit_code == 0, result.output
        return result.output

    async with WebhookReceiver() as receiver:
        [old] = SECRET.findall(await run_cli("add", receiver.url, "--events", "alert.triggered"))
        [new] = SECRET.findall(await run_cli("rotate", "1", "--grace", "2h"))
        assert "queued test notification" in await run_cli("test", "1")

        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            [row] = (await session.execute(select(Notification))).scalars()
        resolver = EndpointSecrets(sessions, SecretBox(KEY.encode()), SystemClock())
        channel = WebhookChannel(resolver, SsrfPolicy.parse(["127.0.0.1"]))
        try:
            await channel.send(
                OutboundMessage(
                    notification_id=row.id,
                    idempotency_key=row.idempotency_key,
                    channel=ChannelKind(row.channel),
                    address=row.address,
                    level=Level(row.level),
                    title=str(row.payload["title"]),
                    body=str(row.payload["body"]),
                    payload=row.payload,
                )
            )
        finally:
            await channel.close()
            await engine.dispose()

    assert row.webhook_endpoint_id == 1
    assert (row.status, row.kind, row.channel) == ("pending", "test", "webhook")
    [request] = receiver.requests
    assert request.verify(new) == request.verify(old)
    assert request.verify(new)["type"] == "test"
    assert request.headers["webhook-id"] == row.idempotency_key
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert receiver.unexpected == []


def test_enable_and_remove(cli: CliRunner, sqlite_url: str) -> None:
    add(cli, "https://h.example/h")

    async def disable(sessions: Any) -> None:
        async with sessions() as session, session.begin():
            endpoint = await session.get(WebhookEndpoint, 1)
            endpoint.active, endpoint.disabled_reason = False, "410 Gone"

    with_db(sqlite_url, disable)
    assert "disabled (410 Gone)" in cli.invoke(app, ["webhooks", "list"]).output
    refused = cli.invoke(app, ["webhooks", "test", "1"])
    assert refused.exit_code == 2
    assert "hdtickets webhooks enable 1" in refused.output

    assert cli.invoke(app, ["webhooks", "enable", "1"]).exit_code == 0
    [endpoint] = endpoints(sqlite_url)
    assert endpoint.active and endpoint.disabled_reason is None

    assert cli.invoke(app, ["webhooks", "remove", "1"]).exit_code == 0
    # Removal is a soft delete (its delivery history stays): the row is kept, marked.
    [endpoint] = endpoints(sqlite_url)
    assert endpoint.removed_at is not None and not endpoint.active
    assert "no webhook endpoints" in cli.invoke(app, ["webhooks", "list"]).output
