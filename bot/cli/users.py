"""`hdtickets users add|list`: people, optionally with a chat identity to reach them on.

`users add` prints only the new id on stdout, so `USER=$(hdtickets users add Ada)` works;
what was made is described on stderr.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.app import app
from bot.cli.common import examples, fail, in_transaction, print_table, refuse_control_characters
from core.command_values import parse_zone
from core.db.models import Identity, User, Watch
from core.domain import Platform, Role
from core.errors import ValidationError
from core.users import ensure_user, find_identity

users_app = typer.Typer(
    help="People: add one (optionally linked to a chat account) and list them.",
    epilog=examples('hdtickets users add "Ada Lovelace"', "hdtickets users list"),
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

CHAT_PLATFORMS = (
    Platform.CONSOLE.value,
    Platform.TELEGRAM.value,
    Platform.SLACK.value,
    Platform.DISCORD.value,
)
_EXAMPLE = "--platform telegram --external-id 123456789"
_NAME_EXAMPLE = 'hdtickets users add "Ada Lovelace"'


def _check_identity(
    platform: str | None, external_id: str | None, address: str | None, workspace: str
) -> str | None:
    """Validate the identity options; return the platform name (lower case) or None."""
    if platform is None:
        if external_id is not None or address is not None or workspace:
            fail(f"--external-id, --address and --workspace need --platform, e.g. {_EXAMPLE}")
        return None
    name = platform.strip().lower()
    if name not in CHAT_PLATFORMS:
        fail(
            f"unknown platform {platform!r}; use one of {', '.join(CHAT_PLATFORMS)}, "
            f"e.g. {_EXAMPLE}"
        )
    if external_id is None or not external_id.strip():
        fail(f"--platform {name} needs the account id too, e.g. {_EXAMPLE}")
    limits = (("--external-id", external_id, 128), ("--address", address, 256))
    for option, value, limit in (*limits, ("--workspace", workspace, 64)):
        if value is not None and len(value.strip()) > limit:
            fail(f"{option} must be at most {limit} characters, e.g. {_EXAMPLE}")
        if value is not None:  # stored, then printed in `users list` and chat lookups
            refuse_control_characters(value.strip(), option, f"hdtickets users add Ada {_EXAMPLE}")
    return name


@users_app.command(
    "add",
    epilog=examples(
        'hdtickets users add "Ada Lovelace" --admin --tz Europe/London',
        "hdtickets users add Ada --platform telegram --external-id 123456789",
    ),
)
def add(
    name: str = typer.Argument(..., metavar="NAME", help="How to address the person, e.g. Ada."),
    admin: bool = typer.Option(False, "--admin", help="Give the person the admin role."),
    tz: str = typer.Option(
        "UTC", "--tz", metavar="AREA/CITY", help="IANA time zone, e.g. America/New_York."
    ),
    platform: str | None = typer.Option(
        None,
        "--platform",
        metavar="PLATFORM",
        help="Link a chat account: console, telegram, slack or discord.",
    ),
    external_id: str | None = typer.Option(
        None,
        "--external-id",
        metavar="ID",
        help="The account id on --platform, e.g. a Telegram user id.",
    ),
    address: str | None = typer.Option(
        None,
        "--address",
        metavar="DM",
        help="Where direct messages reach them on --platform (default: --external-id).",
    ),
    workspace: str = typer.Option(
        "",
        "--workspace",
        metavar="ID",
        help="Slack team or Discord guild id of the account (default: none).",
    ),
) -> None:
    """Add a person and print their new id (only the id, on stdout)."""
    display = name.strip()
    if not display or len(display) > 200:
        fail(f"a name must be 1-200 characters, e.g. {_NAME_EXAMPLE}")
    refuse_control_characters(display, "a name", _NAME_EXAMPLE)
    try:
        zone = parse_zone(tz.strip(), "--tz America/New_York")
    except ValidationError as exc:
        fail(str(exc))
    kind = _check_identity(platform, external_id, address, workspace)

    async def work(session: AsyncSession, now: datetime) -> int:
        if kind is not None and external_id is not None:
            account = external_id.strip()
            known = await find_identity(session, kind, account, workspace_id=workspace.strip())
            if known is not None:
                fail(
                    f"{kind} account {account} already belongs to user {known.user_id}; "
                    "see hdtickets users list"
                )
            user = await ensure_user(
                session,
                kind,
                account,
                workspace_id=workspace.strip(),
                display_name=display,
                dm_address=(address or account).strip(),
                now=now,
            )
        else:
            user = User(display_name=display, created_at=now)
            session.add(user)
        user.timezone = zone
        user.role = (Role.ADMIN if admin else Role.USER).value
        await session.flush()
        return user.id

    user_id = in_transaction(work)
    linked = f", {kind} account {external_id}" if kind else ""
    typer.echo(
        f"added user {user_id}: {display} ({'admin' if admin else 'user'}, {zone}{linked})",
        err=True,
    )
    typer.echo(str(user_id))


@users_app.command("list", epilog=examples("hdtickets users list"))
def list_users() -> None:
    """List people with their chat accounts and how many active watches they have."""

    async def work(session: AsyncSession, _now: datetime) -> Table:
        users = (await session.execute(select(User).order_by(User.id))).scalars().all()
        accounts: dict[int, list[str]] = {}
        for identity in (await session.execute(select(Identity).order_by(Identity.id))).scalars():
            gone = " (unreachable)" if identity.unreachable_at else ""
            accounts.setdefault(identity.user_id, []).append(
                f"{identity.platform}:{identity.external_id}{gone}"
            )
        counts = dict(
            (
                await session.execute(
                    select(Watch.user_id, func.count())
                    .where(Watch.active.is_(True), Watch.removed_at.is_(None))
                    .group_by(Watch.user_id)
                )
            ).all()
        )
        # Fits 80 columns: short columns never wrap (the creation day is enough there);
        # names, zones and accounts (one a line) wrap rather than being cut.
        table = Table(box=None, pad_edge=False)
        table.add_column("ID", no_wrap=True)
        table.add_column("Name", overflow="fold")
        table.add_column("Role", no_wrap=True)
        table.add_column("Time zone", no_wrap=True)
        table.add_column("Accounts", overflow="fold")
        table.add_column("Watches", no_wrap=True, justify="right")
        table.add_column("Created", no_wrap=True)
        for user in users:
            table.add_row(
                str(user.id),
                user.display_name,
                user.role,
                user.timezone,
                "\n".join(accounts.get(user.id, [])) or "-",
                str(counts.get(user.id, 0)),
                f"{user.created_at:%Y-%m-%d}",
            )
        return table

    print_table(in_transaction(work), "no users yet; add one with hdtickets users add NAME")
