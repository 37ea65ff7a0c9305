"""Schema and administration commands."""

from __future__ import annotations

import typer

from bot.cli.app import app
from bot.cli.common import check_database, examples, one_line_errors, require_schema
from bot.settings import load_settings


@app.command(epilog=examples("hdtickets migrate"))
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from bot.migrate import upgrade_blocking

    settings = load_settings()
    with one_line_errors():
        upgrade_blocking(settings.database_url)
    typer.echo("database is up to date")


@app.command(epilog=examples("hdtickets run", "hdtickets run --no-chat"))
def run(
    chat: bool | None = typer.Option(
        None,
        "--chat/--no-chat",
        help="Talk to the bot in this terminal (default: in demo mode, when a TTY).",
    ),
) -> None:
    """Run the bot process: web app, delivery workers, scheduler and channels."""
    import asyncio

    from bot.logs import configure_logging
    from bot.migrate import upgrade_blocking
    from bot.process import check_port, run_process

    settings = load_settings()
    configure_logging(settings)
    check_database(settings.database_url)
    check_port(settings)
    # An unreachable, unmigrated or foreign database stops start-up in one line.
    with one_line_errors():
        if settings.database_url.startswith("sqlite"):
            # The embedded database migrates itself; PostgreSQL migrates in the release phase.
            upgrade_blocking(settings.database_url)
        asyncio.run(require_schema(settings.database_url))
    asyncio.run(run_process(settings, chat=chat))
