"""Plumbing shared by the admin commands: one-line errors, ids, a database or a container.

Every command turns bad input into one line on stderr ("error: <reason>, e.g. <example>")
and exit code 2, never a traceback. Work runs either in one committed transaction against
HDT_DATABASE_URL (`in_transaction`) or with the services of `bot.bootstrap.build`
(`with_container`), whose engine is the same one `python -m bot run` uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Container, build
from bot.settings import Settings, load_settings
from core.clock import SystemClock
from core.db.engine import make_engine, make_sessionmaker
from core.errors import NotFoundError, ValidationError
from core.metrics import NullMetrics

BAD_INPUT = 2
MAX_ID = 2**48 - 1
T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Print `message` as one line on stderr and exit with code 2 (bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=BAD_INPUT)


def parse_id(text: str, noun: str, example: str) -> int:
    """Parse a row id given as "12" or "#12"; anything else fails with `example`."""
    value = text.strip().removeprefix("#")
    if not (value.isascii() and value.isdigit() and len(value) <= 15 and 1 <= int(value) <= MAX_ID):
        fail(f"{noun} id must be a positive whole number, not {text!r}, e.g. {example}")
    return int(value)


def parse_count(text: str, name: str, low: int, high: int, example: str) -> int:
    """Parse a whole number between `low` and `high` for option `name`."""
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 15 and low <= int(value) <= high):
        fail(f"{name} must be a whole number from {low} to {high}, not {text!r}, e.g. {example}")
    return int(value)


def utc(value: datetime | None) -> str:
    """A timestamp for tables: "2024-03-20 12:00" (UTC), or "-" when absent."""
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def console() -> Console:
    """A rich console on stdout (plain text when it is not a terminal)."""
    return Console(highlight=False, soft_wrap=False)


def print_table(table: Table, empty: str) -> None:
    """Print `table` on stdout, or the one line `empty` when it has no rows."""
    if not table.row_count:
        typer.echo(empty)
        return
    console().print(table)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, turning refusals into one line and a non-zero exit."""
    try:
        return asyncio.run(main)
    except (ValidationError, NotFoundError) as exc:
        fail(str(exc))
    except DBAPIError as exc:
        typer.echo(
            f"error: database error: {str(exc.orig).splitlines()[0] if exc.orig else exc}; "
            "has `hdtickets migrate` been run?",
            err=True,
        )
        raise typer.Exit(code=1) from None
    except OSError as exc:
        typer.echo(f"error: cannot reach the database (HDT_DATABASE_URL): {exc}", err=True)
        raise typer.Exit(code=1) from None


def in_transaction(work: Callable[[AsyncSession, datetime], Awaitable[T]]) -> T:
    """Run `work(session, now)` in one transaction against HDT_DATABASE_URL; commit on success."""
    settings = load_settings()

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session, SystemClock().now())
        finally:
            await engine.dispose()

    return run(main())


def with_container(
    work: Callable[[Container], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Run `work` with the process's services (no channels: the running process sends)."""
    settings = settings if settings is not None else load_settings()

    async def main() -> T:
        container = await build(settings, metrics=NullMetrics(), channels={})
        try:
            return await work(container)
        finally:
            await container.aclose()

    return run(main())
