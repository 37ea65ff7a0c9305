"""Plumbing shared by the admin commands: one-line errors, ids, a database or a container.

Every command turns bad input into one line on stderr ("error: <reason>, e.g. <example>")
and exit code 2, never a traceback; a database that cannot be reached, opened or is not
migrated is one line and exit code 1. Work runs either in one committed transaction
against HDT_DATABASE_URL (`in_transaction`) or with the services of `bot.bootstrap.build`
(`with_container`), whose engine is the same one `python -m bot run` uses.

Stored text (names, labels, reasons, URLs) is printed exactly as stored: `console()` reads
no rich markup or emoji codes in it.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from alembic.util.exc import CommandError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Container, build
from bot.settings import Settings, load_settings
from core.clock import SystemClock
from core.db.engine import (
    READ_ONLY_ADVICE,
    database_read_only,
    make_engine,
    make_sessionmaker,
)
from core.errors import NotFoundError, ValidationError
from core.formatting import clip
from core.metrics import NullMetrics

BAD_INPUT = 2
NO_DATABASE = 1
MAX_ID = 2**48 - 1
T = TypeVar("T")

# Text that would break a table or a terminal: control characters (new lines, escape
# codes) and the Unicode line and paragraph separators.
_NOT_PRINTABLE = {"Cc", "Zl", "Zp"}


def fail(message: str) -> NoReturn:
    """Print `message` as one line on stderr and exit with code 2 (bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=BAD_INPUT)


def examples(*invocations: str) -> str:
    """A command's help epilog: "Examples:" and then each invocation on a line of its own.

    The leading new line keeps the invocations indented: typer dedents an epilog the way
    `inspect.cleandoc` does, which would otherwise strip the indent they all share.
    Typer reads an epilog as rich markup, so any "[" in an invocation is escaped.
    """
    return "\n".join(["", "Examples:", *(f"  {escape(line)}" for line in invocations)])


def parse_id(text: str, noun: str, example: str) -> int:
    """Parse a row id given as "12" or "#12"; anything else fails with `example` (a whole
    number too large for any row: there is no such row, as the chat says)."""
    value = text.strip().removeprefix("#")
    digits = value.lstrip("0") if value.isascii() and value.isdigit() else ""
    if not digits:
        fail(f"{noun} id must be a positive whole number, not {text!r}, e.g. {example}")
    if len(digits) > 15 or int(digits) > MAX_ID:  # a whole number, too large for any row
        fail(f"there is no {noun} {clip(digits, 20)}, e.g. {example}")
    return int(digits)


def parse_count(text: str, name: str, low: int, high: int, example: str) -> int:
    """Parse a whole number between `low` and `high` for option `name`."""
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 15 and low <= int(value) <= high):
        fail(f"{name} must be a whole number from {low} to {high}, not {text!r}, e.g. {example}")
    return int(value)


def refuse_control_characters(text: str, what: str, example: str) -> None:
    """Fail when `text` holds a new line, tab, escape code or other control character."""
    for char in text:
        if unicodedata.category(char) in _NOT_PRINTABLE:
            fail(f"{what} must be one line of printable text (it holds {char!r}), e.g. {example}")


def utc(value: datetime | None) -> str:
    """A timestamp for tables: "2024-03-20 12:00" (UTC), or "-" when absent."""
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), plain text when it is not a terminal.

    Strings are printed as they are: no markup ("[b]"), emoji codes (":fire:") or
    highlighting is read in them, so stored text shows exactly as stored.
    """
    return Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False, emoji=False)


def print_table(table: Table, empty: str) -> None:
    """Print `table` on stdout, or the one line `empty` when it has no rows."""
    if not table.row_count:
        typer.echo(empty)
        return
    console().print(table)


def _database_fault(exc: DBAPIError) -> str:
    """One line for a database error, with what to do about it."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
    lowered = reason.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"database error: {reason}; has `hdtickets migrate` been run?"
    if database_read_only(exc):  # SQLite: the file or its folder is read-only
        return f"database error: {reason}; {READ_ONLY_ADVICE}"
    return f"database error: {reason}; check HDT_DATABASE_URL"


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn refusals and database faults raised inside into one line on stderr and an exit."""
    try:
        yield
    except (ValidationError, NotFoundError) as exc:
        fail(str(exc))
    except DBAPIError as exc:
        typer.echo(f"error: {_database_fault(exc)}", err=True)
        raise typer.Exit(code=NO_DATABASE) from None
    except CommandError as exc:  # Alembic: e.g. a revision this code does not know
        reason = str(exc).splitlines()[0]
        typer.echo(
            f"error: database schema: {reason}; was it migrated by a newer hdtickets?", err=True
        )
        raise typer.Exit(code=NO_DATABASE) from None
    except OSError as exc:
        typer.echo(f"error: cannot reach the database (HDT_DATABASE_URL): {exc}", err=True)
        raise typer.Exit(code=NO_DATABASE) from None


def database_problem(url: str) -> str | None:
    """Why the database at `url` surely cannot be opened (an SQLite file whose folder
    does not exist), or None.

    Connecting there fails anyway, and saying so before the first connection leaves no
    driver thread behind to report on a closed event loop.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # the driver says what is wrong with it
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    folder = Path(parsed.database).parent
    if folder.is_dir():
        return None
    return (
        f"no database at {parsed.database}: the folder {folder} does not exist; "
        "run `hdtickets migrate` (it creates it) or fix HDT_DATABASE_URL"
    )


def check_database(url: str) -> None:
    """Exit with one line (code 1) when `database_problem(url)` finds one."""
    problem = database_problem(url)
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=NO_DATABASE)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, turning refusals into one line and a non-zero exit."""
    with one_line_errors():
        return asyncio.run(main)


def in_transaction(work: Callable[[AsyncSession, datetime], Awaitable[T]]) -> T:
    """Run `work(session, now)` in one transaction against HDT_DATABASE_URL; commit on success."""
    settings = load_settings()
    check_database(settings.database_url)

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session, SystemClock().now())
        finally:
            await engine.dispose()

    return run(main())


async def require_schema(url: str) -> None:
    """Raise DBAPIError ("no such table: alembic_version") when the database at `url` was
    never migrated.

    `bot.bootstrap.build` fails half-way on such a database and leaves its engine open;
    asking first, on an engine closed right after, keeps that from happening.
    """
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1 FROM alembic_version"))
    finally:
        await engine.dispose()


def with_container(
    work: Callable[[Container], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Run `work` with the process's services (no channels: the running process sends)."""
    settings = settings if settings is not None else load_settings()
    check_database(settings.database_url)

    async def main() -> T:
        await require_schema(settings.database_url)
        container = await build(settings, metrics=NullMetrics(), channels={})
        try:
            return await work(container)
        finally:
            await container.aclose()

    return run(main())
