"""`hdtickets webhooks …`: outbound webhook endpoints — add, list, rotate, test, enable, remove.

Secrets are shown once, when made (`add`, `rotate`), and stored encrypted with
HDT_SECRET_KEY (adapters.webhook.secrets). `test` only queues a notification; the running
process (`python -m bot run`) delivers it. `remove` keeps the endpoint's row and delivery
history (bot.webhook_admin.remove_endpoint); to every command a removed endpoint is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.cli.app import app
from bot.cli.common import examples, fail, in_transaction, parse_id, print_table
from bot.keycheck import secret_key_problem
from bot.settings import load_settings
from bot.webhook_admin import (
    EVENT_TYPES,
    EVENTS_EXAMPLE,
    NewEndpoint,
    add_endpoint,
    check_not_twice,
    live_secrets,
    parse_events,
    parse_grace,
    queue_test,
    remove_endpoint,
    rotate_secret,
)
from core.db.models import User, WebhookEndpoint
from core.errors import ValidationError
from core.redaction import hide_credentials

webhooks_app = typer.Typer(
    help="Outbound webhook endpoints: add, list, rotate secrets, send a test.",
    epilog=examples(
        "hdtickets webhooks add https://hooks.example.com/hdt",
        "hdtickets webhooks list",
        "hdtickets webhooks rotate 3 --grace 24h",
    ),
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")

_GRACE_EXAMPLE = "--grace 24h"
_ID_HELP = "Endpoint id from `hdtickets webhooks list`."
T = TypeVar("T")


def _parse_events(text: str) -> list[str]:
    try:
        return parse_events(text.split(","), f"--events {EVENTS_EXAMPLE}")
    except ValidationError as exc:
        fail(str(exc))


def _parse_grace(text: str) -> timedelta:
    try:
        return parse_grace(text, _GRACE_EXAMPLE)
    except ValidationError as exc:
        fail(str(exc))


def _endpoint_id(text: str, command: str) -> int:
    return parse_id(text, "endpoint", f"hdtickets webhooks {command} 3")


def _with_secrets(work: Callable[[AsyncSession, datetime, SecretBox], Awaitable[T]]) -> T:
    """`in_transaction`, with the box that encrypts endpoint secrets (HDT_SECRET_KEY)."""
    settings = load_settings()
    box = SecretBox(settings.secret_key_bytes())

    async def checked(session: AsyncSession, now: datetime) -> T:
        if (problem := await secret_key_problem(session, settings)) is not None:
            fail(problem)  # a secret added now would be unreadable to the running bot
        return await work(session, now, box)

    return in_transaction(checked)


def _with_key_checked(work: Callable[[AsyncSession, datetime], Awaitable[T]]) -> T:
    """`in_transaction` for commands that store no secret: the key is checked as in
    `_with_secrets` (the running bot must be able to sign), but none is made."""
    settings = load_settings()

    async def checked(session: AsyncSession, now: datetime) -> T:
        if (problem := await secret_key_problem(session, settings, make_key=False)) is not None:
            fail(problem)
        return await work(session, now)

    return in_transaction(checked)


async def _endpoint(
    session: AsyncSession, endpoint_id: int, *, lock: bool = False
) -> WebhookEndpoint:
    """The endpoint, not removed; `lock`: read for update (see `rotate`)."""
    endpoint = await session.get(
        WebhookEndpoint, endpoint_id, with_for_update=lock, populate_existing=lock
    )
    if endpoint is None or endpoint.removed_at is not None:
        fail(f"no webhook endpoint {endpoint_id}; see hdtickets webhooks list")
    return endpoint


@webhooks_app.command(
    "add",
    epilog=examples(
        "hdtickets webhooks add https://hooks.example.com/hdt",
        "hdtickets webhooks add https://ops.example.com/hdt --events alert.triggered",
        "hdtickets webhooks add https://ada.example.com/hdt --user 3",
    ),
)
def add(
    url: str = typer.Argument(
        ..., metavar="URL", help="Endpoint URL, e.g. https://hooks.example.com/hdt"
    ),
    events: str = typer.Option(
        "*",
        "--events",
        metavar="EVENTS",
        help=f"Comma-separated, from {', '.join(EVENT_TYPES)}; or * for all.",
    ),
    user: str | None = typer.Option(
        None, "--user", metavar="ID", help="Owner user id (default: none)."
    ),
) -> None:
    """Add an endpoint and print its signing secret (shown only once)."""
    try:
        policy = SsrfPolicy.parse(load_settings().webhook_allow_hosts)
    except ValueError as exc:
        fail(str(exc))
    types = _parse_events(events)
    owner = parse_id(user, "user", "--user 3") if user is not None else None

    async def work(session: AsyncSession, now: datetime, box: SecretBox) -> NewEndpoint:
        return await add_endpoint(session, box, policy, url, types, owner, now)

    added = _with_secrets(work)
    endpoint_id, clean_url, secret = added.endpoint.id, added.endpoint.url, added.secret
    typer.echo(f"webhook endpoint {endpoint_id} added: {clean_url}")
    typer.echo(f"  events: {', '.join(types)}")
    typer.echo(f"  signing secret (shown once, store it now): {secret}")


def _events_text(types: list[str]) -> str:
    """ "all", or one alert event a line without its "alert." prefix."""
    if set(types) >= set(EVENT_TYPES):
        return "all"
    return "\n".join(name.removeprefix("alert.") for name in types) or "-"


def _status(endpoint: WebhookEndpoint, now: datetime) -> str:
    """Whether it is active (or why not), then how many secrets sign and recent failures."""
    lines = ["active"]
    if not endpoint.active:
        lines = [f"disabled ({hide_credentials(endpoint.disabled_reason or 'by an admin')})"]
    secrets = live_secrets(list(endpoint.secrets or []), now)
    lines.append(f"{secrets} secret{'' if secrets == 1 else 's'}")
    if endpoint.consecutive_failures:
        failures = endpoint.consecutive_failures
        lines.append(f"{failures} failure{'' if failures == 1 else 's'}")
    return "\n".join(lines)


@webhooks_app.command("list", epilog=examples("hdtickets webhooks list"))
def list_endpoints() -> None:
    """List endpoints (never their secrets); a user name or password in a URL shows as ***."""

    async def work(session: AsyncSession, now: datetime) -> Table:
        query = (
            select(WebhookEndpoint, User.display_name)
            .outerjoin(User, User.id == WebhookEndpoint.user_id)
            .where(WebhookEndpoint.removed_at.is_(None))
            .order_by(WebhookEndpoint.id)
        )
        # Fits 80 columns like the other lists: the URL takes what the short columns
        # leave and wraps rather than being cut; only the owner's name may be shortened.
        table = Table(box=None, pad_edge=False)
        table.add_column("ID", no_wrap=True)
        table.add_column("URL", overflow="fold")
        table.add_column("User", max_width=12, overflow="ellipsis", no_wrap=True)
        table.add_column("Events", no_wrap=True)
        table.add_column("Status", max_width=20, overflow="fold")
        for endpoint, name in await session.execute(query):
            owner = "-" if endpoint.user_id is None else f"{endpoint.user_id} {name or ''}"
            table.add_row(
                str(endpoint.id),
                hide_credentials(endpoint.url),
                owner.strip(),
                _events_text(list(endpoint.event_types or [])),
                _status(endpoint, now),
            )
        return table

    print_table(
        _with_key_checked(work), "no webhook endpoints; add one with hdtickets webhooks add URL"
    )


@webhooks_app.command(
    "rotate",
    epilog=examples("hdtickets webhooks rotate 3", "hdtickets webhooks rotate 3 --grace 2d"),
)
def rotate(
    endpoint_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP),
    grace: str = typer.Option(
        "24h",
        "--grace",
        metavar="DURATION",
        help="How long older secrets stay valid: 30m, 24h, 2d (at most 30d), or 0.",
    ),
) -> None:
    """Add a new signing secret; older ones keep signing for the grace period."""
    key = _endpoint_id(endpoint_id, "rotate")
    period = _parse_grace(grace)

    async def work(session: AsyncSession, now: datetime, box: SecretBox) -> tuple[str, datetime]:
        endpoint = await _endpoint(session, key, lock=True)  # rotations take turns
        return rotate_secret(endpoint, box, now, period), now + period

    secret, until = _with_secrets(work)
    typer.echo(f"webhook endpoint {key}: new signing secret (shown once): {secret}")
    if not period:
        typer.echo("  older secrets stop signing now; only the new one signs")
        return
    typer.echo(
        f"  older secrets stay valid until {until:%Y-%m-%d %H:%M} UTC; "
        "until then every request carries one signature per secret"
    )


@webhooks_app.command("test", epilog=examples("hdtickets webhooks test 3"))
def test(endpoint_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP)) -> None:
    """Queue a "test" notification to the endpoint (the running process sends it)."""
    key = _endpoint_id(endpoint_id, "test")

    async def work(session: AsyncSession, now: datetime) -> tuple[int, str]:
        endpoint = await _endpoint(session, key)
        return await queue_test(session, endpoint, now), endpoint.url

    notification_id, url = _with_key_checked(work)
    typer.echo(
        f"queued test notification {notification_id} to webhook endpoint {key} "
        f"({hide_credentials(url)}); the running process (python -m bot run) delivers it"
    )


@webhooks_app.command("enable", epilog=examples("hdtickets webhooks enable 3"))
def enable(endpoint_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP)) -> None:
    """Re-activate an endpoint that was disabled (e.g. after it answered 410 Gone)."""
    key = _endpoint_id(endpoint_id, "enable")

    async def work(session: AsyncSession, _now: datetime) -> None:
        endpoint = await _endpoint(session, key)
        await check_not_twice(session, endpoint.url, endpoint.user_id, other_than=key)
        endpoint.active = True
        endpoint.disabled_reason = None
        endpoint.consecutive_failures = 0

    _with_key_checked(work)
    typer.echo(f"webhook endpoint {key} is active")


@webhooks_app.command("remove", epilog=examples("hdtickets webhooks remove 3"))
def remove(endpoint_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP)) -> None:
    """Remove an endpoint and cancel its queued notifications (sent ones stay in history)."""
    key = _endpoint_id(endpoint_id, "remove")

    async def work(session: AsyncSession, now: datetime) -> int:
        return await remove_endpoint(session, await _endpoint(session, key), now)

    cancelled = _with_key_checked(work)
    typer.echo(
        f"webhook endpoint {key} removed; {cancelled} queued notification"
        f"{'' if cancelled == 1 else 's'} cancelled"
    )
