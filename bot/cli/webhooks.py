"""`hdtickets webhooks …`: outbound webhook endpoints — add, list, rotate, test, enable, remove.

Secrets are shown once, when made (`add`, `rotate`), and stored encrypted with
HDT_SECRET_KEY (adapters.webhook.secrets). `test` only queues a notification; the running
process (`python -m bot run`) delivers it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NoReturn, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.webhook.secrets import SecretBox, rotate_entries
from adapters.webhook.ssrf import SsrfPolicy
from bot.cli.app import app
from bot.settings import load_settings
from bot.webhook_admin import (
    EVENT_TYPES,
    EVENTS_EXAMPLE,
    NewEndpoint,
    add_endpoint,
    live_secrets,
    parse_events,
    queue_test,
)
from core.clock import SystemClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import WebhookEndpoint
from core.errors import HDTicketsError, ValidationError

webhooks_app = typer.Typer(
    help="Outbound webhook endpoints: add, list, rotate secrets, send a test.",
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _parse_events(text: str) -> list[str]:
    try:
        return parse_events(text.split(","), f"--events {EVENTS_EXAMPLE}")
    except ValidationError as exc:
        _fail(str(exc))


def _parse_grace(text: str) -> timedelta:
    if text.strip() == "0":
        return timedelta(0)
    match = _DURATION.match(text.strip().lower())
    if match is None:
        _fail(f"grace period {text!r} is not a duration; e.g. --grace 24h (or 30m, 2d, 0)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _with_session(work: Callable[[AsyncSession, datetime, SecretBox], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction against HDT_DATABASE_URL."""
    settings = load_settings()
    box = SecretBox(settings.secret_key_bytes())

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session, SystemClock().now(), box)
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def _endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        _fail(f"no webhook endpoint {endpoint_id}; see `hdtickets webhooks list`")
    return endpoint


@webhooks_app.command("add")
def add(
    url: str = typer.Argument(..., help="Endpoint URL, e.g. https://hooks.example.com/hdt"),
    events: str = typer.Option(",".join(EVENT_TYPES), "--events", help="Comma-separated."),
    user: int | None = typer.Option(None, "--user", help="Owner user id (default: none)."),
) -> None:
    """Add an endpoint and print its signing secret (shown only once)."""
    try:
        policy = SsrfPolicy.parse(load_settings().webhook_allow_hosts)
    except ValueError as exc:
        _fail(str(exc))
    types = _parse_events(events)

    async def work(session: AsyncSession, now: datetime, box: SecretBox) -> NewEndpoint:
        try:
            return await add_endpoint(session, box, policy, url, types, user, now)
        except HDTicketsError as exc:
            _fail(str(exc))

    added = _with_session(work)
    endpoint_id, clean_url, secret = added.endpoint.id, added.endpoint.url, added.secret
    typer.echo(f"webhook endpoint {endpoint_id} added: {clean_url}")
    typer.echo(f"  events: {', '.join(types)}")
    typer.echo(f"  signing secret (shown once, store it now): {secret}")


@webhooks_app.command("list")
def list_endpoints() -> None:
    """List endpoints (never their secrets)."""

    async def work(session: AsyncSession, now: datetime, _box: SecretBox) -> list[str]:
        rows = (
            await session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        ).scalars()
        lines = []
        for e in rows:
            state = "active" if e.active else f"disabled ({e.disabled_reason or 'by an admin'})"
            lines.append(
                f"{e.id:>4}  {state:<8}  user={e.user_id if e.user_id is not None else '-'}  "
                f"secrets={live_secrets(list(e.secrets or []), now)}  "
                f"failures={e.consecutive_failures}  events={','.join(e.event_types or [])}  "
                f"{e.url}"
            )
        return lines

    lines = _with_session(work)
    if not lines:
        typer.echo("no webhook endpoints; add one with `hdtickets webhooks add URL`")
    for line in lines:
        typer.echo(line)


@webhooks_app.command("rotate")
def rotate(
    endpoint_id: int = typer.Argument(..., help="Endpoint id from `webhooks list`."),
    grace: str = typer.Option("24h", "--grace", help="How long older secrets stay valid."),
) -> None:
    """Add a new signing secret; older ones keep signing for the grace period."""
    period = _parse_grace(grace)

    async def work(session: AsyncSession, now: datetime, box: SecretBox) -> tuple[str, datetime]:
        endpoint = await _endpoint(session, endpoint_id)
        entries, secret = rotate_entries(list(endpoint.secrets or []), box, now, period)
        endpoint.secrets = entries
        return secret, now + period

    secret, until = _with_session(work)
    typer.echo(f"webhook endpoint {endpoint_id}: new signing secret (shown once): {secret}")
    typer.echo(
        f"  older secrets stay valid until {until:%Y-%m-%d %H:%M} UTC; "
        "until then every request carries one signature per secret"
    )


@webhooks_app.command("test")
def test(endpoint_id: int = typer.Argument(..., help="Endpoint id from `webhooks list`.")) -> None:
    """Queue a "test" notification to the endpoint (the running process sends it)."""

    async def work(session: AsyncSession, now: datetime, _box: SecretBox) -> tuple[int, str]:
        endpoint = await _endpoint(session, endpoint_id)
        try:
            return await queue_test(session, endpoint, now), endpoint.url
        except ValidationError as exc:
            _fail(str(exc))

    notification_id, url = _with_session(work)
    typer.echo(
        f"queued test notification {notification_id} to webhook endpoint {endpoint_id} "
        f"({url}); the running process (python -m bot run) delivers it"
    )


@webhooks_app.command("enable")
def enable(
    endpoint_id: int = typer.Argument(..., help="Endpoint id from `webhooks list`."),
) -> None:
    """Re-activate an endpoint that was disabled (e.g. after it answered 410 Gone)."""

    async def work(session: AsyncSession, _now: datetime, _box: SecretBox) -> None:
        endpoint = await _endpoint(session, endpoint_id)
        endpoint.active = True
        endpoint.disabled_reason = None
        endpoint.consecutive_failures = 0

    _with_session(work)
    typer.echo(f"webhook endpoint {endpoint_id} is active")


@webhooks_app.command("remove")
def remove(
    endpoint_id: int = typer.Argument(..., help="Endpoint id from `webhooks list`."),
) -> None:
    """Delete an endpoint and its queued notifications."""

    async def work(session: AsyncSession, _now: datetime, _box: SecretBox) -> None:
        await session.delete(await _endpoint(session, endpoint_id))

    _with_session(work)
    typer.echo(f"webhook endpoint {endpoint_id} removed")
