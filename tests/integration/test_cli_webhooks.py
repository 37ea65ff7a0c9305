"""`hdtickets webhooks …`: ids, grace periods, duplicates, local names and the 80-column list.

Every command runs in-process (typer's CliRunner) against a temporary migrated SQLite
database, like tests/integration/test_cli_admin.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from adapters.webhook.render import render_body
from bot.cli import app
from bot.webhook_admin import EVENT_TYPES
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Notification, User, WebhookEndpoint
from tests.integration.test_cli_admin import column_text

T = TypeVar("T")
URL = "https://hooks.example.com/hdt"


class Cli:
    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["webhooks", *args])

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def refused(self, *args: str) -> str:
        """Run a command that must be refused; return its one line on stderr."""
        result = self(*args)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output and result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and "e.g. " in line, line
        return line

    def db(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def main() -> T:
            engine = make_engine(self.url)
            try:
                async with make_sessionmaker(engine)() as session, session.begin():
                    return await work(session)
            finally:
                await engine.dispose()

        return asyncio.run(main())

    def endpoints(self) -> list[WebhookEndpoint]:
        async def work(session: AsyncSession) -> list[WebhookEndpoint]:
            query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
            return list((await session.execute(query)).scalars())

        return self.db(work)

    def user(self, name: str) -> int:
        async def work(session: AsyncSession) -> int:
            user = User(display_name=name)
            session.add(user)
            await session.flush()
            return int(user.id)

        return self.db(work)


@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.chdir(tmp_path)  # no stray .env; any state dir stays inside tmp
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDT_SECRET_KEY", "cli-webhooks-test-key")
    monkeypatch.delenv("HDT_WEBHOOK_ALLOW_HOSTS", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    return Cli(sqlite_url)


@pytest.mark.parametrize("command", ["rotate", "test", "enable", "remove"])
@pytest.mark.parametrize("given", ["99999999999999999999", "-5", "0", "abc", "1.5"])
def test_endpoint_ids_are_checked_like_every_other_id(cli: Cli, command: str, given: str) -> None:
    line = cli.refused(command, "--", given)
    if given.isdigit() and int(given) > 0:  # too large for any row: there is none
        assert f"there is no endpoint {given}," in line
    else:
        assert f"endpoint id must be a positive whole number, not {given!r}" in line
    assert f"e.g. hdtickets webhooks {command} 3" in line


@pytest.mark.parametrize("given", ["99999999999999999999", "-1", "ada"])
def test_an_owner_id_is_checked_before_the_database(cli: Cli, given: str) -> None:
    line = cli.refused("add", URL, "--user", given)
    if given.isdigit():  # too large for any row: there is none
        assert f"there is no user {given}, e.g. --user 3" in line
    else:
        assert f"user id must be a positive whole number, not {given!r}, e.g. --user 3" in line
    assert cli.endpoints() == []


@pytest.mark.parametrize(
    ("grace", "reason"),
    [
        ("99999999999d", "a grace period can last at most 30 days"),
        ("100000d", "a grace period can last at most 30 days"),
        ("31d", "a grace period can last at most 30 days"),
        ("2592001s", "a grace period can last at most 30 days"),
        ("soon", "grace period 'soon' is not a duration like 30m, 24h, 2d or 0"),
        ("-1h", "is not a duration"),
    ],
)
def test_a_grace_period_is_at_most_30_days(cli: Cli, grace: str, reason: str) -> None:
    cli.ok("add", URL)
    before = cli.endpoints()[0].secrets
    line = cli.refused("rotate", "1", "--grace", grace)
    assert reason in line and "e.g. --grace 24h" in line
    assert cli.endpoints()[0].secrets == before
    assert "older secrets stay valid until" in cli.ok("rotate", "1", "--grace", "30d")


def test_the_same_url_is_refused_twice_for_one_owner(cli: Cli) -> None:
    ada = cli.user("Ada")
    cli.ok("add", URL, "--user", str(ada))
    line = cli.refused("add", URL, "--user", str(ada), "--events", "alert.triggered")
    assert f"webhook endpoint 1 already sends to {URL} (alerts would go out twice)" in line
    assert "e.g. hdtickets webhooks remove 1" in line
    cli.ok("add", URL)  # another owner (none) may use it
    assert "webhook endpoint 2 already sends" in cli.refused("add", URL.replace("hooks", "HOOKS"))
    assert [e.user_id for e in cli.endpoints()] == [ada, None]

    async def disable_the_first(session: AsyncSession) -> None:
        endpoint = await session.get(WebhookEndpoint, 1)
        assert endpoint is not None
        endpoint.active, endpoint.disabled_reason = False, "410 Gone"

    cli.db(disable_the_first)
    cli.ok("add", URL, "--user", str(ada))  # the disabled one does not send
    assert "webhook endpoint 3 already sends" in cli.refused("enable", "1")
    assert [e.active for e in cli.endpoints()] == [False, True, True]


@pytest.mark.parametrize(
    "url", ["http://localhost/x", "https://LOCALHOST:8443/x", "http://api.localhost./x"]
)
def test_names_that_always_mean_this_machine_are_refused_unless_allowed(
    cli: Cli, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = cli.refused("add", url)
    assert "is always this machine, which webhooks may not reach" in line
    assert "allow it with HDT_WEBHOOK_ALLOW_HOSTS" in line
    assert cli.endpoints() == []
    monkeypatch.setenv("HDT_WEBHOOK_ALLOW_HOSTS", "127.0.0.0/8")  # what localhost reaches
    cli.ok("add", url)
    assert len(cli.endpoints()) == 1


def test_an_allow_listed_local_name_is_accepted(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HDT_WEBHOOK_ALLOW_HOSTS", "hooks.localhost")
    cli.ok("add", "http://hooks.localhost:8080/x")
    assert "is always this machine" in cli.refused("add", "http://other.localhost/x")


def test_the_list_is_an_80_column_table_that_hides_passwords(cli: Cli) -> None:
    ada = cli.user("Ada [b]Lovelace[/b]")
    cli.ok("add", URL, "--user", str(ada))
    cli.ok("add", "https://hooks.example.com/x", "--events", "alert.triggered,alert.resolved")
    long_url = "https://bob:hunter2@old.example.com/a/very/long/path/for/the/hook?token=abc"

    async def stored_before_the_check(session: AsyncSession) -> None:
        session.add(
            WebhookEndpoint(
                url=long_url, secrets=[], event_types=["alert.triggered"], active=False,
                disabled_reason=f"410 Gone from {long_url}", consecutive_failures=3,
                created_at=datetime.now(UTC),
            )
        )  # fmt: skip

    cli.db(stored_before_the_check)
    listing = cli.ok("list")
    lines = listing.splitlines()
    assert all(len(line) <= 80 for line in lines), listing
    assert lines[0].split() == ["ID", "URL", "User", "Events", "Status"]
    assert "hunter2" not in listing
    first = next(line for line in lines if line.startswith("1 "))
    assert URL in first and f"{ada} Ada [b]" in first and "all" in first and "active" in first
    assert "1 secret" in lines[lines.index(first) + 1]
    assert "triggered" in listing and "resolved" in listing
    urls = column_text(listing, "URL", "User")
    shown = "https://bob:***@old.example.com/a/very/long/path/for/the/hook?token=abc"
    assert shown in urls
    status = column_text(listing, "Status", "\n")
    assert f"disabled(410Gonefrom{shown})0secrets3failures" in status


def test_add_and_test_print_urls_without_passwords(cli: Cli) -> None:
    async def stored_before_the_check(session: AsyncSession) -> None:
        session.add(
            WebhookEndpoint(
                url="https://bob:hunter2@old.example.com/x", secrets=[],
                event_types=["alert.triggered"], active=True, consecutive_failures=0,
                created_at=datetime.now(UTC),
            )
        )  # fmt: skip

    cli.db(stored_before_the_check)
    queued = cli.ok("test", "1")
    assert "https://bob:***@old.example.com/x" in queued and "hunter2" not in queued


def test_another_secret_key_is_refused_before_it_mixes_keys(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cli.ok("add", URL)
    monkeypatch.delenv("HDT_SECRET_KEY")  # the development key of another directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    line = cli.refused("add", "https://hooks.example.com/other")
    assert "HDT_SECRET_KEY: the stored webhook secrets were encrypted with another key" in line
    assert f"than the development key in {elsewhere / '.hdtickets' / 'secret_key'}" in line
    assert len(cli.endpoints()) == 1
    monkeypatch.setenv("HDT_SECRET_KEY", "cli-webhooks-test-key")
    cli.ok("add", "https://hooks.example.com/other")


@pytest.mark.parametrize("command", [("list",), ("test", "1"), ("enable", "1"), ("remove", "1")])
def test_commands_that_store_no_secret_make_no_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Run from another directory they must not leave a fresh development key behind,
    which a later start there would take for the key the secrets were made with."""
    cli.ok("add", URL)
    monkeypatch.delenv("HDT_SECRET_KEY")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    line = cli.refused(*command)
    assert "HDT_SECRET_KEY is unset with no development key in" in line, line
    assert not (elsewhere / ".hdtickets").exists()


def test_listing_no_endpoints_makes_no_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HDT_SECRET_KEY")
    assert "no webhook endpoints" in cli.ok("list")
    assert not (tmp_path / ".hdtickets").exists()


@pytest.mark.parametrize("events", ["*,alert.triggered", "alert.resolved, *", "*,*"])
def test_a_star_beside_event_names_means_every_event(cli: Cli, events: str) -> None:
    """It was refused as "unknown event type '*'; choose from … or *"."""
    cli.ok("add", URL, "--events", events)
    [endpoint] = cli.endpoints()
    assert "all" in cli.ok("list") and endpoint.event_types == list(EVENT_TYPES)


def test_a_test_event_has_the_documented_shape(cli: Cli) -> None:
    """A receiver parses `hdtickets webhooks test` as it parses an alert event (DESIGN.md
    §9): the same `data` keys, and a timestamp in the form alert events carry."""
    cli.ok("add", URL)
    cli.ok("test", "1")

    async def work(session: AsyncSession) -> Notification:
        return (await session.execute(select(Notification))).scalar_one()

    row = cli.db(work)
    body = json.loads(render_body(row.payload))
    assert set(body) == {"type", "timestamp", "data"} and body["type"] == "test"
    data = body["data"]
    assert set(data) >= {"alert", "event", "market", "prediction", "recommendation", "watch"}
    assert data["links"] == {} and data["test"] is True and data["endpoint_id"] == 1
    # `datetime.fromisoformat` before Python 3.11 reads no "Z": the alert events' form.
    assert not body["timestamp"].endswith("Z")
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() == timedelta(0)


def test_no_grace_says_older_secrets_stop_now(cli: Cli) -> None:
    # It said "older secrets stay valid until <now>; until then every request carries
    # one signature per secret", though with --grace 0 only the new secret signs.
    cli.ok("add", "https://hooks.example.com/a")
    shown = cli.ok("rotate", "1", "--grace", "0")
    assert "older secrets stop signing now; only the new one signs" in shown
    assert "stay valid" not in shown
