"""`hdtickets alerts list|show|ack|snooze|resolve`: alerts, their reasons and timelines.

State changes go through `core.alerts`, the same code a chat button or the REST API
runs: the alert's fence is bumped, pending chat messages are cancelled, earlier messages
are edited in place by the running process, webhooks are told and the timeline records it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.alert_view import level_text, render_alert, timeline
from bot.cli.app import app
from bot.cli.common import (
    console,
    examples,
    fail,
    in_transaction,
    parse_count,
    parse_id,
    print_table,
    utc,
)
from core.alerts import apply_action, resolve
from core.api_views import ALERT_STATUSES, filter_alerts
from core.command_values import check_currency, parse_duration, parse_price
from core.db.models import (
    Alert,
    AuditEntry,
    Event,
    Notification,
    User,
    Watch,
)
from core.domain import ActionKind
from core.errors import ValidationError
from core.formatting import money
from core.history import event_currencies

alerts_app = typer.Typer(
    help="Alerts: list, show one with its timeline, acknowledge, snooze, resolve.",
    epilog=examples(
        "hdtickets alerts list --status open",
        "hdtickets alerts show 12",
        "hdtickets alerts snooze 12 --for 2h",
    ),
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")

VIA = "cli"
_ID_HELP = "Alert id from `hdtickets alerts list`."


@alerts_app.command(
    "list",
    epilog=examples(
        "hdtickets alerts list", "hdtickets alerts list --status open --user 3 --limit 20"
    ),
)
def list_alerts(
    status: str | None = typer.Option(
        None,
        "--status",
        metavar="STATUS",
        help=f"Only this status: {', '.join(ALERT_STATUSES)} (active = not closed).",
    ),
    user: str | None = typer.Option(
        None, "--user", metavar="ID", help="Only this person's alerts."
    ),
    limit: str = typer.Option(
        "50", "--limit", metavar="N", help="At most this many, newest first (1-1000)."
    ),
) -> None:
    """List alerts, newest first, as a table."""
    wanted = status.strip().lower() if status is not None else None
    if wanted is not None and wanted not in ALERT_STATUSES:
        fail(
            f"unknown status {status!r}; use one of {', '.join(ALERT_STATUSES)}, e.g. --status open"
        )
    owner = parse_id(user, "user", "--user 3") if user is not None else None
    count = parse_count(limit, "--limit", 1, 1000, "--limit 20")

    async def work(session: AsyncSession, _now: datetime) -> Table:
        query = (
            select(Alert, Event.name, User.display_name)
            .join(Event, Event.id == Alert.event_id)
            .join(User, User.id == Alert.user_id)
            .order_by(Alert.id.desc())
            .limit(count)
        )
        if owner is not None and await session.get(User, owner) is None:
            fail(f"there is no user {owner}; see hdtickets users list")
        query = filter_alerts(query, wanted, owner)
        # Fits 80 columns: one space between columns, short columns never wrap, the
        # kind and the event wrap (the event takes what is left), a long name is cut, the
        # score is in `alerts show`, and the year is left out of the opening time, which
        # goes whole onto its own line before it would ever be cut.
        table = Table(
            box=None,
            pad_edge=False,
            collapse_padding=True,
            caption="times in UTC",
            caption_justify="left",
        )
        for name in ("ID", "Level", "Status"):
            table.add_column(name, no_wrap=True)
        table.add_column("Kind", overflow="fold")
        table.add_column("Event", ratio=1, min_width=10, overflow="fold")
        table.add_column("Price", no_wrap=True, justify="right")
        table.add_column("User", max_width=14, overflow="ellipsis", no_wrap=True)
        table.add_column("Opened", min_width=5)
        rows = (await session.execute(query)).all()
        currencies = await event_currencies(session, {alert.event_id for alert, _, _ in rows})
        for alert, event_name, user_name in rows:
            currency = currencies.get(alert.event_id)
            table.add_row(
                str(alert.id),
                level_text(alert.level),
                alert.status,
                alert.kind,
                event_name,
                money(alert.price, currency) if alert.price is not None else "-",
                f"{alert.user_id} {user_name}",
                f"{alert.opened_at:%m-%d %H:%M}",
            )
        return table

    print_table(
        in_transaction(work),
        "no alerts match; alerts open when a snapshot meets a watch's conditions",
    )


@alerts_app.command("show", epilog=examples("hdtickets alerts show 12"))
def show(alert_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP)) -> None:
    """Show one alert: factors and reasons, forecast, and its timeline of sends and changes."""
    key = parse_id(alert_id, "alert", "hdtickets alerts show 12")

    async def work(session: AsyncSession, _now: datetime) -> object:
        alert = await session.get(Alert, key)
        if alert is None:
            fail(f"there is no alert {key}; see hdtickets alerts list")
        audits = await session.execute(select(AuditEntry).where(AuditEntry.alert_id == key))
        sends = await session.execute(select(Notification).where(Notification.alert_id == key))
        currencies = await event_currencies(session, [alert.event_id])
        return render_alert(
            alert,
            await session.get(Event, alert.event_id),
            await session.get(Watch, alert.watch_id),
            await session.get(User, alert.user_id),
            timeline(audits.scalars(), sends.scalars()),
            currencies.get(alert.event_id),
        )

    console().print(in_transaction(work))


def cli_wording(message: str, alert_id: int) -> str:
    """Rewrite a chat example in `message` ("e.g. snooze 3 2h") as the CLI command."""
    command = f"hdtickets alerts snooze {alert_id}"
    message = re.sub(
        rf"e\.g\. snooze {alert_id} under (\S+)", rf"e.g. {command} --under \1", message
    )
    message = re.sub(rf"e\.g\. snooze {alert_id} (\d\S*)", rf"e.g. {command} --for \1", message)
    if "e.g." not in message:
        message += f"; see hdtickets alerts show {alert_id}"
    return message


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    snoozed_until: datetime | None
    snooze_below: float | None
    currency: str | None  # the event's: its prices and `snooze_below` are in it


async def _amount(session: AsyncSession, key: int, event_id: int, below: float) -> float:
    """`--under` as a plain amount in alert `key`'s event currency, as the chat's
    `snooze ID under` takes it: `--under £20` on a dollar event is refused, not read as $20
    (and a typed `Price` never reaches the JSON payloads, which store floats only).

    Raises:
        ValidationError: the price was typed in another currency than the event's.
    """
    priced_in = (await event_currencies(session, [event_id])).get(event_id)
    typed = getattr(below, "currency", None)  # a `Price` says what was typed
    check_currency(typed, below, priced_in, f"snooze {key} under")
    return float(below)


def _act(
    key: int, action: ActionKind, *, delay: timedelta | None = None, below: float | None = None
) -> _Outcome:
    """Apply `action` to alert `key` on behalf of its owner, via the CLI."""

    async def work(session: AsyncSession, now: datetime) -> _Outcome:
        found = (
            await session.execute(select(Alert.user_id, Alert.event_id).where(Alert.id == key))
        ).first()
        if found is None:
            fail(f"there is no alert {key}; see hdtickets alerts list")
        owner, event_id = found
        try:
            amount = None if below is None else await _amount(session, key, event_id, below)
            alert = await apply_action(
                session,
                key,
                action,
                user_id=owner,
                via=VIA,
                now=now,
                snooze_until=now + delay if delay is not None else None,
                snooze_below=amount,
            )
        except ValidationError as exc:
            fail(cli_wording(str(exc), key))
        currencies = await event_currencies(session, [alert.event_id])
        return _Outcome(
            alert.status, alert.snoozed_until, alert.snooze_below, currencies.get(alert.event_id)
        )

    return in_transaction(work)


@alerts_app.command("ack", epilog=examples("hdtickets alerts ack 12"))
def ack(alert_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP)) -> None:
    """Acknowledge an alert for its owner: escalation stops, sent messages are updated."""
    key = parse_id(alert_id, "alert", "hdtickets alerts ack 12")
    _act(key, ActionKind.ACK)
    typer.echo(f"alert {key} acknowledged")


@alerts_app.command(
    "snooze",
    epilog=examples("hdtickets alerts snooze 12 --for 2h", "hdtickets alerts snooze 12 --under 40"),
)
def snooze(
    alert_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP),
    duration: str | None = typer.Option(
        None, "--for", metavar="DURATION", help="How long: 30m, 2h, 1d (default 1h)."
    ),
    under: str | None = typer.Option(
        None,
        "--under",
        metavar="PRICE",
        help="Instead: wake when the price is under this, e.g. 40.",
    ),
) -> None:
    """Snooze an alert for a while, or until the price is under a given amount."""
    key = parse_id(alert_id, "alert", "hdtickets alerts snooze 12 --for 2h")
    if duration is not None and under is not None:
        fail("give --for or --under, not both, e.g. hdtickets alerts snooze 12 --for 2h")
    try:
        delay = parse_duration(duration, "--for 2h") if duration is not None else None
        below = parse_price(under, "--under 40") if under is not None else None
    except ValidationError as exc:
        fail(str(exc))
    if below is not None:
        outcome = _act(key, ActionKind.SNOOZE_CHEAPER, below=below)
        price = money(outcome.snooze_below or below, outcome.currency)
        typer.echo(f"alert {key} snoozed until the price is under {price}")
        return
    outcome = _act(key, ActionKind.SNOOZE, delay=delay or timedelta(hours=1))
    typer.echo(f"alert {key} snoozed until {utc(outcome.snoozed_until)} UTC")


@alerts_app.command(
    "resolve",
    epilog=examples(
        "hdtickets alerts resolve 12", 'hdtickets alerts resolve 12 --reason "sold out"'
    ),
)
def resolve_command(
    alert_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP),
    reason: str = typer.Option(
        "resolved by an admin",
        "--reason",
        metavar="TEXT",
        help="Why, recorded on the alert and its timeline.",
    ),
) -> None:
    """Resolve an alert: it closes, pending sends are cancelled, webhooks are told."""
    key = parse_id(alert_id, "alert", "hdtickets alerts resolve 12")
    text = " ".join(reason.split())
    if not text or len(text) > 500:
        fail('--reason must be 1-500 characters, e.g. --reason "sold out"')

    async def work(session: AsyncSession, now: datetime) -> None:
        alert = await session.get(Alert, key, with_for_update=True)
        if alert is None:
            fail(f"there is no alert {key}; see hdtickets alerts list")
        try:
            await resolve(session, alert, f"{text} (via {VIA})", now)
        except ValidationError as exc:
            fail(cli_wording(str(exc), key))

    in_transaction(work)
    typer.echo(f"alert {key} resolved: {text}")
