"""`hdtickets watches add|list`: watches on behalf of a person, in the chat grammar.

`watches add 3 "yankees under 80 qty 2"` runs exactly what the chat `watch` command runs
(`CommandHandlers.handle_text`), so the answer is the same: one matching event -> a watch
on it; several -> numbered choices (nothing is added; re-run with `--pick N`); none -> a
watch on the words that matches future events.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Container
from bot.cli.app import app
from bot.cli.common import (
    examples,
    fail,
    in_transaction,
    parse_count,
    parse_id,
    print_table,
    utc,
    with_container,
)
from bot.jobs import WATCH_SYNC_S
from core.chat import CommandContext, Reply
from core.db.models import Event, User, Watch
from core.domain import Platform
from core.errors import ValidationError
from core.handlers_watch import is_currency_code, priced_watch, watch_conditions
from core.history import event_currencies

watches_app = typer.Typer(
    help="Watches: add one for a person (same words as the chat `watch`), list them.",
    epilog=examples(
        'hdtickets watches add 3 "yankees under 80 qty 2"', "hdtickets watches list --user 3"
    ),
    no_args_is_help=True,
)
app.add_typer(watches_app, name="watches")

CLI_ADDRESS = "cli"
AMBIGUOUS = 1
_EXAMPLE = 'hdtickets watches add 3 "yankees under 80 qty 2"'


def cli_wording(message: str, user_id: int) -> str:
    """Rewrite a chat example in `message` ("e.g. watch yankees under 80") as the CLI command."""
    reason, sep, example = message.partition(", e.g. watch ")
    if not sep:
        return message
    return f"{reason}, e.g. hdtickets watches add {user_id} {shlex.quote(example.strip())}"


# "watch", "/watch" or Telegram's "/watch@HDTicketsBot" typed out of chat habit.
_COMMAND_WORD = re.compile(r"^/?watch(?:@\S*)?(?:\s+|$)", re.IGNORECASE)


def _command_text(words: list[str]) -> str:
    line = " ".join(word.strip() for word in words).strip()
    line = _COMMAND_WORD.sub("", line, count=1).strip()
    if not line:
        fail(f"say what to watch, e.g. {_EXAMPLE}")
    return f"watch {line}"


async def _watch(
    container: Container, user_id: int, text: str, pick: int | None, currency: str | None
) -> Reply:
    async with container.sessions() as session:
        if await session.get(User, user_id) is None:
            fail(f"there is no user {user_id}; add one with hdtickets users add NAME")
    ctx = CommandContext(user_id=user_id, platform=Platform.API.value, address=CLI_ADDRESS)
    if currency is None:
        reply = await container.handlers.handle_text(ctx, text)
    else:  # the max in --currency, as if typed with it (`with_currency`)
        try:
            command = priced_watch(text, currency, _EXAMPLE)
        except ValidationError as exc:
            return Reply.error(str(exc))
        reply = await container.handlers.handle(ctx, command)
    if pick is None or not reply.choices:
        return reply
    if pick > len(reply.choices):
        fail(f"--pick must be between 1 and {len(reply.choices)}, e.g. --pick 1")
    choice = reply.choices[pick - 1]
    if choice.command is not None:
        return await container.handlers.handle_text(ctx, choice.command)
    if choice.token is not None:
        return await container.handlers.handle_button(ctx, choice.token)
    return reply


@watches_app.command(
    "add",
    epilog=examples(
        'hdtickets watches add 3 "#12 drop 10%"',
        "hdtickets watches add 3 yankees --pick 1",
        'hdtickets watches add 3 "any arsenal under 80 qty 2" --currency GBP',
    ),
)
def add(
    user_id: Annotated[
        str, typer.Argument(metavar="USER_ID", help="The person's id (see `hdtickets users list`).")
    ],
    what: Annotated[
        list[str],
        typer.Argument(
            metavar="WORDS",
            help='What to watch, as in chat: "yankees under 80 qty 2", "#12 drop 10%", "any nba".',
        ),
    ],
    pick: Annotated[
        str | None,
        typer.Option(
            "--pick",
            metavar="N",
            help="When the words match several events: the number of the choice.",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            metavar="CODE",
            help="The currency of the max price (ISO 4217, e.g. GBP), as if typed with it.",
        ),
    ] = None,
) -> None:
    """Add a watch for a person, exactly as if they had typed `watch ...` in chat."""
    user = parse_id(user_id, "user", _EXAMPLE)
    text = _command_text(what)
    chosen = parse_count(pick, "--pick", 1, 50, "--pick 1") if pick is not None else None
    if currency is not None and not is_currency_code(currency.strip()):
        fail("--currency must be a 3-letter ISO 4217 code, e.g. --currency GBP")
    code = currency.strip() if currency is not None else None
    reply = with_container(lambda container: _watch(container, user, text, chosen, code))
    if reply.is_error:
        fail(cli_wording(reply.lines[0] if reply.lines else "the watch was refused", user))
    for line in reply.lines:
        typer.echo(line)
    if reply.choices:
        for number, choice in enumerate(reply.choices, start=1):
            typer.echo(f"  {number}. {choice.label}")
        again = f"hdtickets watches add {user} {shlex.quote(text[6:])} --pick 1"
        again += f" --currency {code}" if code is not None else ""
        typer.echo(f"nothing was added; choose with --pick N, e.g. {again}", err=True)
        raise typer.Exit(code=AMBIGUOUS)
    typer.echo(
        f"note: a running `python -m bot run` starts matching it within {WATCH_SYNC_S:g} s",
        err=True,
    )


def target(watch: Watch, event: Event | None) -> str:
    """What a watch follows: an event, a whole category, or any event matching words."""
    if event is not None:
        return f"{event.name} (#{event.id}, {utc(event.starts_at)})"
    if watch.category:
        return f"every {watch.category} event"
    return f"any '{watch.label}'"


def conditions(watch: Watch, currency: str | None = None) -> str:
    """A watch's conditions in a few words: "under $80, qty 2, drop 10%"; its max in its
    own currency, else in `currency`, its event's (None reads as USD)."""
    return ", ".join(watch_conditions(watch, currency)) or "-"


def _state(watch: Watch) -> str:
    if watch.removed_at is not None:
        return "removed"
    if not watch.active:
        return "paused"
    return "active"


@watches_app.command(
    "list", epilog=examples("hdtickets watches list", "hdtickets watches list --user 3 --removed")
)
def list_watches(
    user: str | None = typer.Option(
        None, "--user", metavar="ID", help="Only this person's watches."
    ),
    removed: bool = typer.Option(False, "--removed", help="Include removed watches too."),
) -> None:
    """List watches: what each follows, its conditions and whether it is active."""
    owner = parse_id(user, "user", "hdtickets watches list --user 3") if user is not None else None

    async def work(session: AsyncSession, _now: datetime) -> Table:
        if owner is not None and await session.get(User, owner) is None:
            fail(f"there is no user {owner}; see hdtickets users list")
        query = (
            select(Watch, Event, User.display_name)
            .outerjoin(Event, Event.id == Watch.event_id)
            .join(User, User.id == Watch.user_id)
            .order_by(Watch.id)
        )
        if owner is not None:
            query = query.where(Watch.user_id == owner)
        if not removed:
            query = query.where(Watch.removed_at.is_(None))
        # Fits 80 columns like `alerts list`: people, what they watch and its conditions
        # wrap rather than being cut.
        table = Table(box=None, pad_edge=False, caption="times in UTC", caption_justify="left")
        table.add_column("ID", no_wrap=True)
        table.add_column("User", overflow="fold")
        table.add_column("Watching", overflow="fold")
        table.add_column("Conditions", overflow="fold")
        table.add_column("State", no_wrap=True)
        table.add_column("Created", no_wrap=True)
        rows = list(await session.execute(query))
        currencies = await event_currencies(session, {e.id for _, e, _ in rows if e is not None})
        for watch, event, name in rows:
            table.add_row(
                str(watch.id),
                f"{watch.user_id} {name}",
                target(watch, event),
                conditions(watch, currencies.get(event.id) if event is not None else None),
                _state(watch),
                utc(watch.created_at),
            )
        return table

    print_table(in_transaction(work), f"no watches yet; add one with {_EXAMPLE}")
