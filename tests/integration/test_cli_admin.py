"""The admin CLI (users, tokens, watches, alerts, demo, import) through typer's CliRunner.

Every command runs in-process against a temporary migrated SQLite database. Alerts are
made the way production makes them: snapshots through the container's ingest service
after a watch was added with `hdtickets watches add`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from bot.bootstrap import build
from bot.cli import app
from bot.cli.ml import DEFAULT_DATA
from bot.settings import load_settings
from bot.webhook_admin import EVENT_TYPES
from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Alert, ApiToken, AuditEntry, Event, Identity, Notification, User, Watch
from core.domain import EventInfo, SnapshotIn
from core.metrics import NullMetrics
from core.tokens import InvalidToken, Scope, authenticate

T = TypeVar("T")
KEY = "cli-admin-test-key"
OWN_GROUPS = ("users", "tokens", "watches", "alerts")
EVENTS = {
    "rockies": ("Rockies at Diamondbacks", ("Arizona Diamondbacks", "Colorado Rockies"),
                "Chase Field", "Phoenix"),
    "nyy-bos": ("Yankees at Red Sox", ("New York Yankees", "Boston Red Sox"),
                "Fenway Park", "Boston"),
    "bos-nyy": ("Red Sox at Yankees", ("Boston Red Sox", "New York Yankees"),
                "Yankee Stadium", "New York"),
    "markup": ("Rock Night [/b] Live :fire:", ("[bold]Rich[/bold] Band",),
               "[red]Hall[/red]", "Springfield"),
}  # fmt: skip


@dataclass
class Cli:
    runner: CliRunner
    url: str
    now: datetime  # the commands use the wall clock; snapshots are stamped just before it

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args))

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result

    def refused(self, *args: str, code: int = 2) -> str:
        """Run a command that must be refused; return its one-line reason."""
        result = self(*args)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), lines
        return lines[0]

    def db(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def main() -> T:
            engine = make_engine(self.url)
            try:
                async with make_sessionmaker(engine)() as session:
                    return await work(session)
            finally:
                await engine.dispose()

        return asyncio.run(main())

    def rows(self, model: type[Any]) -> list[Any]:
        async def work(session: AsyncSession) -> list[Any]:
            return list((await session.execute(select(model).order_by(model.id))).scalars())

        return self.db(work)

    def ingest(
        self, prices: dict[str, float], *, minutes_ago: int, currency: str | None = None
    ) -> Any:
        """Ingest one snapshot per event through the container, as any source would."""

        async def main() -> Any:
            container = await build(
                load_settings(),
                clock=FakeClock(self.now),
                rng=random.Random(7),
                metrics=NullMetrics(),
                channels={},
            )
            try:
                items = [
                    snapshot(key, price, self.now, minutes_ago, currency)
                    for key, price in prices.items()
                ]
                return await container.ingest.ingest_snapshots(items)
            finally:
                await container.aclose()

        return asyncio.run(main())


def snapshot(
    key: str, price: float, now: datetime, minutes_ago: int, currency: str | None = None
) -> SnapshotIn:
    name, performers, venue, city = EVENTS[key]
    return SnapshotIn(
        source="seatgeek",
        event=EventInfo(key, name, now + timedelta(days=10), "mlb", performers, venue, city),
        observed_at=now - timedelta(minutes=minutes_ago),
        currency=currency,
        min_price=price,
        avg_price=price + 30.0,
        max_price=400.0,
        listing_count=300,
        ticket_count=1000,
    )


@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.chdir(tmp_path)  # no stray .env; any state dir stays inside tmp
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDT_SECRET_KEY", KEY)
    monkeypatch.setenv("COLUMNS", "220")  # rich tables without wrapping
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    return Cli(CliRunner(), sqlite_url, now)


def add_user(cli: Cli, *args: str) -> int:
    result = cli.ok("users", "add", *args)
    return int(result.stdout)


# --- users ------------------------------------------------------------------------------


def test_users_add_prints_only_the_new_id_and_list_shows_people(cli: Cli) -> None:
    result = cli.ok(
        "users", "add", "Ada", "--tz", "europe/paris", "--platform", "Telegram",
        "--external-id", "100",
    )  # fmt: skip
    assert result.stdout.strip().isdigit()
    ada = int(result.stdout)
    assert "added user" in result.stderr and "telegram account 100" in result.stderr
    bob = add_user(cli, "Bob Smith", "--admin")
    assert bob == ada + 1

    users = {user.id: user for user in cli.rows(User)}
    assert (users[ada].display_name, users[ada].timezone, users[ada].role) == (
        "Ada", "Europe/Paris", "user",
    )  # fmt: skip
    assert (users[bob].timezone, users[bob].role) == ("UTC", "admin")
    [identity] = cli.rows(Identity)
    assert (identity.user_id, identity.platform, identity.external_id) == (ada, "telegram", "100")
    assert identity.dm_address == "100"  # --address defaults to the account id

    slack = add_user(
        cli, "Cy", "--platform", "slack", "--external-id", "U1", "--address", "D9",
        "--workspace", "T7",
    )  # fmt: skip
    identity = next(i for i in cli.rows(Identity) if i.user_id == slack)
    assert (identity.dm_address, identity.workspace_id) == ("D9", "T7")

    listing = cli.ok("users", "list").stdout
    assert "Ada" in listing and "Europe/Paris" in listing and "telegram:100" in listing
    assert "Bob Smith" in listing and "admin" in listing and "slack:U1" in listing


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["X", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["X", "--tz", "europe/pariss"], "did you mean Europe/Paris?"),
        (["X", "--platform", "icq", "--external-id", "1"], "unknown platform 'icq'"),
        (["X", "--platform", "telegram"], "needs the account id"),
        (["X", "--external-id", "1"], "need --platform"),
        (["   "], "a name must be 1-200 characters"),
        (["X" * 201], "a name must be 1-200 characters"),
        (["Ada\nLovelace"], "a name must be one line of printable text (it holds '\\n')"),
        (["Ada\x1b[31m"], "a name must be one line of printable text (it holds '\\x1b')"),
        (["Ada\u2028Lovelace"], "a name must be one line of printable text"),
        (
            ["X", "--platform", "telegram", "--external-id", "1\t2"],
            "--external-id must be one line of printable text (it holds '\\t')",
        ),
        (
            ["X", "--platform", "telegram", "--external-id", "1", "--address", "9\x1b[2J"],
            "--address must be one line of printable text (it holds '\\x1b')",
        ),
    ],
)
def test_users_add_refuses_bad_input_in_one_line(cli: Cli, args: list[str], reason: str) -> None:
    line = cli.refused("users", "add", *args)
    assert reason in line and "e.g." in line
    assert cli.rows(User) == []


def test_users_add_refuses_an_account_that_is_taken(cli: Cli) -> None:
    ada = add_user(cli, "Ada", "--platform", "telegram", "--external-id", "100")
    line = cli.refused("users", "add", "Eve", "--platform", "telegram", "--external-id", "100")
    assert f"telegram account 100 already belongs to user {ada}" in line
    assert [user.display_name for user in cli.rows(User)] == ["Ada"]


def test_an_empty_users_list_says_how_to_add_one(cli: Cli) -> None:
    assert "hdtickets users add NAME" in cli.ok("users", "list").stdout


# --- tokens -----------------------------------------------------------------------------


def token_check(cli: Cli, token: str, scope: Scope) -> ApiToken:
    async def work(session: AsyncSession) -> ApiToken:
        return await authenticate(session, token, scope, cli.now)

    return cli.db(work)


def test_tokens_create_prints_only_a_working_token_and_revoke_stops_it(cli: Cli) -> None:
    ada = add_user(cli, "Ada")
    result = cli.ok("tokens", "create", "--name", "seatgeek scraper", "--scopes", "read,ingest",
                    "--user", str(ada))  # fmt: skip
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("hdt_")
    stored = token_check(cli, token, Scope.INGEST)
    assert (stored.name, stored.user_id, stored.scopes) == (
        "seatgeek scraper",
        ada,
        ["ingest", "read"],
    )
    machine = cli.ok("tokens", "create", "--name", "feed", "--scopes", "ingest").stdout.strip()
    assert token_check(cli, machine, Scope.INGEST).user_id is None

    listing = cli.ok("tokens", "list").stdout
    assert "seatgeek scraper" in listing and "ingest,read" in listing and "active" in listing
    assert token not in listing and machine not in listing

    assert (
        f"API token {stored.id} (seatgeek scraper) revoked"
        in cli.ok("tokens", "revoke", str(stored.id)).stdout
    )
    with pytest.raises(InvalidToken, match="revoked"):
        token_check(cli, token, Scope.READ)
    assert "already revoked" in cli.ok("tokens", "revoke", str(stored.id)).stdout
    assert "revoked" in cli.ok("tokens", "list").stdout
    assert token_check(cli, machine, Scope.INGEST).name == "feed"  # the other one still works


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["create", "--name", "x", "--scopes", "ingest,root"], "unknown scope 'root'"),
        (["create", "--name", "x", "--scopes", " , "], "at least one scope"),
        (["create", "--name", "x", "--scopes", "read,,write"], "a scope is empty"),
        (["create", "--name", "x", "--scopes", "read,"], "a scope is empty"),
        (["create", "--name", "a\tb", "--scopes", "read"], "--name must be one line"),
        (["create", "--name", " ", "--scopes", "read"], "--name must be 1-120 characters"),
        (["create", "--name", "x", "--scopes", "read", "--user", "ada"], "user id must be"),
        (["create", "--name", "x", "--scopes", "read", "--user", "42"], "there is no user 42"),
        # The API refuses every read and write of a token of no person: never make one.
        (
            ["create", "--name", "my feed", "--scopes", "ingest,read"],
            "a read token needs --user ID: a token of no person may only ingest (or be admin),"
            " e.g. hdtickets tokens create --name 'my feed' --scopes ingest,read --user 3",
        ),
        (["create", "--name", "x", "--scopes", "write"], "a write token needs --user ID"),
        (["revoke", "abc"], "token id must be a positive whole number"),
        (["revoke", "0"], "token id must be a positive whole number"),
        (["revoke", "42"], "there is no API token 42"),
        # Too large to be any row's id: no such token, as the chat says of a huge alert id.
        (["revoke", "281474976710656"], "there is no token 281474976710656"),
    ],
)
def test_tokens_refuse_bad_input_in_one_line(cli: Cli, args: list[str], reason: str) -> None:
    line = cli.refused("tokens", *args)
    assert reason in line
    assert "e.g." in line or "see hdtickets" in line or "add one with" in line
    assert cli.rows(ApiToken) == []


# --- watches ----------------------------------------------------------------------------


def test_watches_add_uses_the_chat_grammar_and_offers_choices(cli: Cli) -> None:
    ada = add_user(cli, "Ada", "--platform", "telegram", "--external-id", "100")
    assert (
        cli.ingest({"rockies": 60.0, "nyy-bos": 90.0, "bos-nyy": 95.0}, minutes_ago=30).accepted
        == 3
    )
    events = {event.external_id: event.id for event in cli.rows(Event)}

    one = cli.ok("watches", "add", str(ada), "rockies under 40 qty 2")
    assert "Watching Rockies at Diamondbacks" in one.stdout and "under $40" in one.stdout
    assert "starts matching it within 10 s" in one.output  # the watch-sync job, no restart
    [watch] = cli.rows(Watch)
    assert (watch.user_id, watch.event_id, watch.max_price, watch.quantity) == (
        ada, events["rockies"], 40.0, 2,
    )  # fmt: skip
    assert watch.triggers == ["price_below"] and watch.active

    ambiguous = cli("watches", "add", str(ada), "watch", "yankees", "under", "80")
    assert ambiguous.exit_code == 1, ambiguous.output
    assert "'yankees' matches 2 upcoming events" in ambiguous.stdout
    choices = {line[5:].split(" — ")[0]: line[2] for line in ambiguous.stdout.splitlines()
               if line[:2] == "  " and line[3:5] == ". "}  # fmt: skip
    assert sorted(choices.values()) == ["1", "2", "3"]
    assert {"Yankees at Red Sox", "Red Sox at Yankees"} < set(choices)
    assert choices["Any event matching 'yankees', now and later"] == "3"
    assert "--pick" in ambiguous.stderr
    assert len(cli.rows(Watch)) == 1  # nothing added

    pick = choices["Red Sox at Yankees"]
    picked = cli.ok("watches", "add", str(ada), "yankees under 80", "--pick", pick)
    assert "Watching Red Sox at Yankees" in picked.stdout
    latest = cli.rows(Watch)[-1]
    assert (latest.event_id, latest.max_price) == (events["bos-nyy"], 80.0)
    anything = cli.ok("watches", "add", str(ada), "yankees drop 15%", "--pick", "3")
    assert "any event matching 'yankees'" in anything.stdout
    latest = cli.rows(Watch)[-1]
    assert (latest.event_id, latest.terms, latest.drop_pct) == (None, ["yankees"], 15.0)

    bob = add_user(cli, "Bob")
    listing = cli.ok("watches", "list").stdout
    assert "Rockies at Diamondbacks" in listing and "under $40, qty 2" in listing
    assert "Red Sox at Yankees" in listing and "any 'yankees'" in listing and "drop 15%" in listing
    assert "no watches yet" in cli.ok("watches", "list", "--user", str(bob)).stdout
    assert "Rockies" in cli.ok("watches", "list", "--user", str(ada)).stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["{ada}", "yankees under abc"], "price must be a number, not 'abc', e.g. hdtickets "),
        (["{ada}", "yankees qty 500"], "quantity must be between 1 and 50"),
        (["{ada}", "watch "], "say what to watch"),
        (["{ada}", " "], "say what to watch"),
        (["ada", "yankees"], "user id must be a positive whole number"),
        (["999", "yankees"], "there is no user 999"),
        (["{ada}", "yankees", "--pick", "x"], "--pick must be a whole number"),
        (["{ada}", "yankees", "--pick", "7"], "--pick must be between 1 and 3"),
    ],
)
def test_watches_add_refuses_bad_input_in_one_line(cli: Cli, args: list[str], reason: str) -> None:
    ada = add_user(cli, "Ada")
    cli.ingest({"nyy-bos": 90.0, "bos-nyy": 95.0}, minutes_ago=30)
    line = cli.refused("watches", "add", *(arg.format(ada=ada) for arg in args))
    assert reason in line
    assert "e.g." in line or "hdtickets users add" in line
    assert cli.rows(Watch) == []


def test_watches_list_refuses_an_unknown_user(cli: Cli) -> None:
    assert "there is no user 5" in cli.refused("watches", "list", "--user", "5")
    assert "user id must be" in cli.refused("watches", "list", "--user", "-1")
    assert "user id must be a positive whole number, not ''" in cli.refused(
        "watches", "list", "--user", ""
    )  # not everyone's watches


# --- alerts -----------------------------------------------------------------------------


def open_alert(cli: Cli, currency: str | None = None) -> tuple[int, int]:
    """A person watching the Rockies under $40, and the alert a $28 snapshot opens
    (prices in `currency`, when given)."""
    ada = add_user(cli, "Ada", "--platform", "telegram", "--external-id", "100")
    cli.ingest({"rockies": 60.0, "nyy-bos": 90.0}, minutes_ago=30, currency=currency)
    cli.ok("watches", "add", str(ada), "rockies under 40")
    report = cli.ingest({"rockies": 28.0, "nyy-bos": 85.0}, minutes_ago=5, currency=currency)
    assert report.processed.alerts_opened == 1
    [alert] = cli.rows(Alert)
    return ada, alert.id


def timeline_rows(text: str, *needles: str) -> list[int]:
    """The row number in the printed timeline of the first row containing each needle."""
    lines = text[text.index("Timeline") :].splitlines()
    found = []
    for needle in needles:
        hits = [n for n, line in enumerate(lines) if needle in line]
        assert hits, f"{needle!r} not in:\n{text}"
        found.append(hits[0])
    return found


def test_alerts_list_and_show_with_factors_forecast_and_timeline(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, alert_id = open_alert(cli)
    listing = cli.ok("alerts", "list").stdout
    [row] = [line for line in listing.splitlines() if line.startswith(f"{alert_id} ")]
    assert "open" in row and "price_below" in row and "Rockies at Diamondbacks" in row
    assert "$28" in row and f"{ada} Ada" in row
    monkeypatch.setenv("COLUMNS", "80")  # a plain terminal: only the event's name may wrap
    narrow = cli.ok("alerts", "list").stdout.splitlines()
    [at] = [n for n, line in enumerate(narrow) if line.startswith(f"{alert_id} ")]
    row, rest = narrow[at], narrow[at + 1]
    assert len(row) <= 80 and "price_below" in row and "🔔 medium" in row and "1 Ada" in row
    assert row.rstrip().endswith(f"{cli.now:%m-%d %H:%M}")
    assert "Rockies at Diamondbacks" in row and rest.strip() == "times in UTC"  # whole
    monkeypatch.setenv("COLUMNS", "220")
    assert "Rockies" in cli.ok("alerts", "list", "--status", "open", "--user", str(ada)).stdout
    assert "no alerts match" in cli.ok("alerts", "list", "--status", "resolved").stdout

    cli.ok("alerts", "ack", str(alert_id))
    shown = cli.ok("alerts", "show", str(alert_id)).stdout
    [alert] = cli.rows(Alert)
    assert f"Alert {alert_id} · " in shown and "acknowledged" in shown
    assert "price_below at $28" in shown and f"user {ada} (Ada)" in shown
    for factor in alert.factors:  # every factor with its stored reason
        [line] = [line for line in shown.splitlines() if f"│ {factor['name']} " in line]
        assert factor["reason"] in line
    assert "Forecast" in shown and "model " in shown
    assert alert.recommendation is not None and alert.recommendation["sentence"] in shown
    opened, queued, acked = timeline_rows(shown, "│ opened ", "│ notification ", "│ acknowledged ")
    assert opened < queued < acked  # time order
    [send] = [line for line in shown.splitlines() if "│ notification " in line]
    assert "#" in send and "alert.triggered -> telegram 100" in send
    # acknowledged before it was sent: the queued chat message is superseded
    assert "cancelled · 0 attempts · last error: superseded" in send
    assert "acknowledged via cli" in shown


def test_alerts_snooze_and_resolve_change_the_alert_and_its_timeline(cli: Cli) -> None:
    _, alert_id = open_alert(cli)
    key = str(alert_id)
    assert "snoozed until" in cli.ok("alerts", "snooze", key, "--for", "2h").stdout
    [alert] = cli.rows(Alert)
    assert alert.status == "snoozed" and alert.snoozed_until is not None
    assert timedelta(minutes=119) < alert.snoozed_until - cli.now < timedelta(minutes=125)
    assert "under $20" in cli.ok("alerts", "snooze", key, "--under", "20").stdout
    [alert] = cli.rows(Alert)
    assert (alert.snooze_below, alert.snoozed_until) == (20.0, None)

    assert "resolved: sold out" in cli.ok("alerts", "resolve", key, "--reason", "sold out").stdout
    [alert] = cli.rows(Alert)
    assert alert.status == "resolved" and alert.reason == "sold out (via cli)"
    shown = cli.ok("alerts", "show", key).stdout
    first, second, resolved = timeline_rows(
        shown, "snoozed until", "snoozed until the price is under $20", "sold out (via cli)"
    )
    assert first < second < resolved
    assert "cancelled" in shown  # the pending chat message was superseded

    line = cli.refused("alerts", "resolve", key)
    assert (
        f"alert {alert_id} is already resolved (sold out (via cli));"
        f" see hdtickets alerts show {alert_id}"
    ) in line
    assert "is already resolved" in cli.refused("alerts", "ack", key)


def test_snooze_under_edits_a_sent_message_and_refuses_another_currency(cli: Cli) -> None:
    """`alerts snooze ID --under 20` on an alert whose chat message was sent: the edit it
    queues stores the price (a typed `Price` crashed the JSON column with a traceback);
    `--under £20` on a dollar event is refused as the chat refuses it, never taken as $20."""
    _, alert_id = open_alert(cli)
    key = str(alert_id)

    async def mark_sent(session: AsyncSession) -> None:
        async with session.begin():
            for row in (await session.execute(select(Notification))).scalars():
                row.status, row.sent_at, row.receipt = "sent", cli.now, {"message_id": 7}

    cli.db(mark_sent)
    line = cli.refused("alerts", "snooze", key, "--under", "£20")
    assert "priced in $ (USD), not £ (GBP)" in line and "--under $20" in line
    assert "under $20" in cli.ok("alerts", "snooze", key, "--under", "20").stdout
    [alert] = cli.rows(Alert)
    assert (alert.status, alert.snooze_below) == ("snoozed", 20.0)
    edits = [n for n in cli.rows(Notification) if n.status == "pending"]
    assert edits and all(n.payload["data"]["alert"]["snooze_below"] == 20.0 for n in edits)


def test_alert_prices_are_printed_in_the_events_currency(cli: Cli) -> None:
    """A GBP event's alert read "$28" in the list, its details and its snooze."""
    _, alert_id = open_alert(cli, currency="GBP")
    key = str(alert_id)
    [row] = [line for line in cli.ok("alerts", "list").stdout.splitlines() if line.startswith(key)]
    assert "£28" in row and "$" not in row
    assert "under £20" in cli.ok("alerts", "snooze", key, "--under", "20").stdout
    shown = cli.ok("alerts", "show", key).stdout
    assert "price_below at £28" in shown and "snoozed until under £20" in shown
    [bands] = [line for line in shown.splitlines() if "p10/p50/p90" in line]
    assert bands.count("£") == 3 and "$" not in bands
    assert "$" not in shown


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["show", "abc"], "alert id must be a positive whole number, not 'abc'"),
        (["show", "999"], "there is no alert 999"),
        (["ack", "999"], "there is no alert 999"),
        (["resolve", "#999"], "there is no alert 999"),
        (["list", "--status", "bogus"], "unknown status 'bogus'"),
        (["list", "--limit", "0"], "--limit must be a whole number from 1 to 1000"),
        (["list", "--user", "x"], "user id must be"),
        (["list", "--user", "999"], "there is no user 999; see hdtickets users list"),
        (["snooze", "{id}", "--for", "2y"], "'2y' is not a duration"),
        (["snooze", "{id}", "--for", "40d"], "at most 30 days"),
        (["snooze", "{id}", "--under", "cheap"], "price must be a number"),
        (["snooze", "{id}", "--under", "30"], "$30 is not under the current price $28"),
        (["snooze", "{id}", "--for", "1h", "--under", "20"], "give --for or --under, not both"),
        (["resolve", "{id}", "--reason", " "], "--reason must be 1-500 characters"),
    ],
)
def test_alert_commands_refuse_bad_input_in_one_line(
    cli: Cli, args: list[str], reason: str
) -> None:
    _, alert_id = open_alert(cli)
    line = cli.refused("alerts", *(arg.format(id=alert_id) for arg in args))
    assert reason in line
    assert "e.g." in line or "see hdtickets" in line
    [alert] = cli.rows(Alert)
    assert alert.status == "open"  # nothing changed


def test_snooze_examples_are_given_as_cli_commands(cli: Cli) -> None:
    _, alert_id = open_alert(cli)
    line = cli.refused("alerts", "snooze", str(alert_id), "--under", "30")
    assert f"e.g. hdtickets alerts snooze {alert_id} --under 25" in line


# --- stored text -----------------------------------------------------------------------

USER_NAME = "Tom [/x] Jones"
EVENT_NAME = "Rock Night [/b] Live :fire:"
REASON = "[bold]Rich[/bold] sold out"


def test_stored_text_is_shown_exactly_as_stored_never_read_as_markup(cli: Cli) -> None:
    tom = add_user(cli, USER_NAME, "--platform", "telegram", "--external-id", "[b]7")
    cli.ok("tokens", "create", "--name", "[bold]Rich[/bold] :fire:", "--scopes", "ingest")
    cli.ingest({"markup": 60.0}, minutes_ago=30)
    cli.ok("watches", "add", str(tom), "rock night under 40")
    cli.ingest({"markup": 28.0}, minutes_ago=5)
    [alert] = cli.rows(Alert)
    cli.ok("alerts", "resolve", str(alert.id), "--reason", REASON)

    users = cli.ok("users", "list").stdout
    assert USER_NAME in users and "telegram:[b]7" in users
    assert "[bold]Rich[/bold] :fire:" in cli.ok("tokens", "list").stdout
    watches = cli.ok("watches", "list").stdout
    assert f"{tom} {USER_NAME}" in watches and EVENT_NAME in watches
    alerts = cli.ok("alerts", "list", "--status", "resolved").stdout
    assert EVENT_NAME in alerts and f"{tom} Tom [/x] J" in alerts  # a narrow column
    shown = cli.ok("alerts", "show", str(alert.id)).stdout
    assert EVENT_NAME in shown and f"({USER_NAME})" in shown
    assert f"{REASON} (via cli)" in shown  # the header and the timeline
    assert "🔥" not in shown.replace("🔥 high", "")  # ":fire:" is not an emoji code here


def column_text(listing: str, name: str, following: str) -> str:
    """Everything printed in one column of a table, spaces removed (wrapped or not);
    `following` is the next column's header, or "\n" for the last column."""
    lines = listing.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("ID "))
    start = lines[header].index(name)
    end = lines[header].index(following) if following != "\n" else None
    return "".join(line[start:end].replace(" ", "") for line in lines[header + 1 :])


def test_lists_fit_80_columns_and_cut_nothing(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    ada = add_user(cli, "Ada Lovelace-Byron of Somewhere", "--tz",
                   "America/Argentina/Buenos_Aires", "--platform", "discord", "--external-id",
                   "123456789012345678")  # fmt: skip
    add_user(cli, "Bob", "--tz", "America/Los_Angeles", "--admin")
    cli.ok("tokens", "create", "--name", "seatgeek scraper", "--scopes", "ingest,read,write",
           "--user", str(ada))  # fmt: skip
    monkeypatch.setenv("COLUMNS", "80")
    users = cli.ok("users", "list").stdout
    tokens = cli.ok("tokens", "list").stdout
    for listing in (users, tokens):
        assert all(len(line) <= 80 for line in listing.splitlines()), listing
        assert "…" not in listing
    assert "America/Argentina/Buenos_Aires" in users and "America/Los_Angeles" in users
    assert f"{datetime.now(UTC):%Y-%m-%d}" in users  # the creation day, whole
    assert "AdaLovelace-ByronofSomewhere" in column_text(users, "Name", "Role")
    assert "ingest,read,write" in column_text(tokens, "Scopes", "User")


def test_a_webhook_password_never_shows_in_an_alert_timeline(cli: Cli) -> None:
    ada, alert_id = open_alert(cli)
    secret_url = "https://bob:hunter2@hooks.example.com/hdt"

    async def add_send(session: AsyncSession) -> None:
        session.add(
            Notification(
                alert_id=alert_id, user_id=ada, kind="alert", channel="webhook",
                address=secret_url, level=3, payload={"event_type": "alert.triggered"},
                idempotency_key="old-webhook-send", status="failed", attempts=3,
                due_at=cli.now, created_at=cli.now,
                last_error=f"HTTP 500 from {secret_url}",
            )
        )  # fmt: skip
        session.add(
            AuditEntry(
                alert_id=alert_id, at=cli.now, kind="webhook_failed",
                detail=f"gave up on {secret_url}",
            )
        )  # fmt: skip
        await session.commit()

    cli.db(add_send)
    shown = cli.ok("alerts", "show", str(alert_id)).stdout
    assert "hunter2" not in shown
    assert shown.count("https://bob:***@hooks.example.com/hdt") == 3


# --- demo and import --------------------------------------------------------------------


def test_demo_migrates_seeds_once_and_says_what_next(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'demo.db'}"  # not migrated yet
    monkeypatch.setenv("HDT_DATABASE_URL", fresh)
    cli.url = fresh
    first = cli.ok("demo").stdout
    assert 'Seeded the demo person "you"' in first and "with 4 watches" in first
    assert "any 'taylor swift', under $250" in first  # the teams depend on the season
    assert "make run" in first and "hdtickets chat" in first and "hdtickets alerts list" in first
    [you] = cli.rows(User)
    assert you.display_name == "you"
    assert {w.user_id for w in cli.rows(Watch)} == {you.id} and len(cli.rows(Watch)) == 4

    again = cli.ok("demo").stdout
    assert "Demo already seeded" in again
    assert len(cli.rows(Watch)) == 4 and len(cli.rows(User)) == 1


def test_import_raises_alerts_through_the_real_engine(cli: Cli, tmp_path: Path) -> None:
    ada = add_user(cli, "Ada", "--platform", "telegram", "--external-id", "100")
    cli.ok("watches", "add", str(ada), "rockies under 40")  # no event yet: any future one
    starts = (cli.now + timedelta(days=12)).isoformat().replace("+00:00", "Z")
    seen = (cli.now - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    csv = tmp_path / "feed.csv"
    csv.write_text(
        "source,external_id,name,category,performers,venue,city,capacity,starts_at,timezone,"
        "observed_at,currency,min_price,median_price,avg_price,max_price,listing_count,"
        "ticket_count\n"
        f"scraper,r1,Rockies at Diamondbacks,mlb,Arizona Diamondbacks|Colorado Rockies,"
        f"Chase Field,Phoenix,48405,{starts},America/Phoenix,{seen},USD,28,,83,473,315,1344\n"
    )
    result = cli.ok("import", str(csv), "--format", "generic")
    assert "accepted    1" in result.output and "alerts      1 opened" in result.output
    [alert] = cli.rows(Alert)
    assert (alert.user_id, alert.kind, alert.price) == (ada, "price_below", 28.0)


# --- help -------------------------------------------------------------------------------


def test_every_admin_command_and_option_has_help(cli: Cli) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    commands: list[tuple[str, Any]] = [("demo", root.commands["demo"])]
    for group in OWN_GROUPS:
        sub = root.commands[group]
        assert isinstance(sub, TyperGroup) and sub.help
        commands += [(f"{group} {name}", command) for name, command in sub.commands.items()]
    assert len(commands) == 13
    for name, command in commands:
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name}: {param.name} has no help"
        assert cli.ok(*name.split(), "--help").stdout.strip(), name


def _all_commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    found: list[tuple[str, Any]] = [("", root)]
    for name, command in root.commands.items():
        found.append((name, command))
        if isinstance(command, TyperGroup):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
    return found


def test_help_names_values_the_same_way_everywhere(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for name, command in _all_commands():
        shown = cli.ok(*name.split(), "--help").stdout
        assert "<bool>" not in shown, name  # a flag takes no value
        for param in command.params:
            if param.param_type_name == "argument":  # ids, URLs and files by their role
                assert param.metavar is not None and param.metavar.isupper(), (name, param)
        assert all(len(line) <= 80 for line in shown.splitlines()), name
    commands = dict(_all_commands())
    options = {
        (name, opt): param.help
        for name, command in commands.items()
        for param in command.params
        for opt in getattr(param, "opts", ())
    }
    assert all(event in options["webhooks add", "--events"] for event in EVENT_TYPES)
    assert "* for all" in options["webhooks add", "--events"]
    assert "30m, 24h, 2d (at most 30d), or 0" in options["webhooks rotate", "--grace"]
    assert "40-20000" in options["train", "--events"] == options["backtest", "--events"]
    backtest = " ".join(cli.ok("backtest", "--help").stdout.replace("│", " ").split())
    assert "reports/backtest.md" not in backtest and "writes backtest.md (--reports)" in backtest
    assert f"[default: {DEFAULT_DATA}]" in backtest
    assert Path(__file__).resolve().parents[3] / "shared" / "data" == DEFAULT_DATA
