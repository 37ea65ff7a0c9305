"""`hdtickets tokens create|list|revoke`: bearer API tokens with scopes.

`tokens create` prints only the plain token on stdout (it is stored as a hash and shown
this once), so `TOKEN=$(hdtickets tokens create --name scraper --scopes ingest)` works.
"""

from __future__ import annotations

import shlex
from datetime import datetime

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.app import app
from bot.cli.common import (
    examples,
    fail,
    in_transaction,
    parse_id,
    print_table,
    refuse_control_characters,
    utc,
)
from core.db.models import ApiToken, User
from core.errors import ValidationError
from core.tokens import Scope, create_token, parse_scopes, revoke_token

tokens_app = typer.Typer(
    help="API tokens for the REST API and ingest: create, list, revoke.",
    epilog=examples(
        "hdtickets tokens create --name feed --scopes ingest",
        "hdtickets tokens list",
        "hdtickets tokens revoke 3",
    ),
    no_args_is_help=True,
)
app.add_typer(tokens_app, name="tokens")

_SCOPES = ", ".join(scope.value for scope in Scope)
_NAME_EXAMPLE = '--name "seatgeek scraper"'


@tokens_app.command(
    "create",
    epilog=examples(
        'hdtickets tokens create --name "seatgeek scraper" --scopes ingest',
        "hdtickets tokens create --name ada --scopes read,write --user 3",
    ),
)
def create(
    name: str = typer.Option(
        ...,
        "--name",
        metavar="NAME",
        help='A label to recognise the token by, e.g. "seatgeek scraper".',
    ),
    scopes: str = typer.Option(
        ...,
        "--scopes",
        metavar="SCOPES",
        help=f"Comma-separated, from {_SCOPES}; e.g. ingest,read.",
    ),
    user: str | None = typer.Option(
        None,
        "--user",
        metavar="ID",
        help="Owner user id; needed by read and write (default: none, an ingest-only token).",
    ),
) -> None:
    """Create a token and print it (only the token, on stdout; it is shown this once)."""
    try:
        granted = parse_scopes(scopes)
    except ValidationError as exc:
        fail(str(exc))
    label = name.strip()
    if not label or len(label) > 120:
        fail(f"--name must be 1-120 characters, e.g. {_NAME_EXAMPLE}")
    refuse_control_characters(label, "--name", _NAME_EXAMPLE)
    owner = parse_id(user, "user", "--user 3") if user is not None else None
    personal = [s.value for s in granted if s in (Scope.READ, Scope.WRITE)]
    if owner is None and personal and Scope.ADMIN not in granted:
        # The API answers 403 to every read or write of a token of no person.
        fail(
            f"a {','.join(personal)} token needs --user ID: a token of no person may only"
            " ingest (or be admin),"
            f" e.g. hdtickets tokens create --name {shlex.quote(label)} --scopes"
            f" {','.join(s.value for s in granted)} --user 3"
        )

    async def work(session: AsyncSession, now: datetime) -> str:
        if owner is not None and await session.get(User, owner) is None:
            fail(f"there is no user {owner}; add one with hdtickets users add NAME")
        return await create_token(session, owner, label, [s.value for s in granted], now)

    token = in_transaction(work)
    whose = f"user {owner}" if owner is not None else "no user"
    typer.echo(
        f"created API token {label!r} ({','.join(s.value for s in granted)}; {whose}); "
        "store it now, it is not shown again",
        err=True,
    )
    typer.echo(token)


@tokens_app.command("list", epilog=examples("hdtickets tokens list"))
def list_tokens() -> None:
    """List tokens (never the tokens themselves): scopes, owner, last use, revocation."""

    async def work(session: AsyncSession, _now: datetime) -> Table:
        rows = (await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars()
        # Fits 80 columns: names and scopes wrap rather than being cut; a revocation
        # time goes under the word "revoked".
        table = Table(box=None, pad_edge=False, caption="times in UTC", caption_justify="left")
        table.add_column("ID", no_wrap=True)
        table.add_column("Name", overflow="fold")
        table.add_column("Scopes", overflow="fold")
        table.add_column("User", no_wrap=True)
        table.add_column("Created", no_wrap=True)
        table.add_column("Last used", no_wrap=True)
        table.add_column("State", no_wrap=True)
        for row in rows:
            state = f"revoked\n{utc(row.revoked_at)}" if row.revoked_at else "active"
            table.add_row(
                str(row.id),
                row.name,
                ",".join(str(s) for s in row.scopes or ()),
                str(row.user_id) if row.user_id is not None else "-",
                utc(row.created_at),
                utc(row.last_used_at),
                state,
            )
        return table

    print_table(
        in_transaction(work),
        "no API tokens; create one with hdtickets tokens create --name N --scopes ingest",
    )


@tokens_app.command("revoke", epilog=examples("hdtickets tokens revoke 3"))
def revoke(
    token_id: str = typer.Argument(..., metavar="ID", help="Token id from `tokens list`."),
) -> None:
    """Revoke a token; requests carrying it are refused from now on."""
    key = parse_id(token_id, "token", "hdtickets tokens revoke 3")

    async def work(session: AsyncSession, now: datetime) -> tuple[str, datetime | None]:
        before = await session.get(ApiToken, key)
        if before is None:
            fail(f"there is no API token {key}; see hdtickets tokens list")
        earlier = before.revoked_at
        row = await revoke_token(session, key, now)
        return row.name, earlier

    name, earlier = in_transaction(work)
    if earlier is not None:
        typer.echo(f"API token {key} ({name}) was already revoked at {utc(earlier)} UTC")
    else:
        typer.echo(f"API token {key} ({name}) revoked")
