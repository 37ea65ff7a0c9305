"""The admin CLI (typer). Each command builds what it needs through bot.bootstrap."""

from __future__ import annotations

import typer

from bot.settings import load_settings

app = typer.Typer(
    help="HDTickets Alerts: ticket-market alerts for chat platforms.", no_args_is_help=True
)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from bot.migrate import upgrade_blocking

    settings = load_settings()
    upgrade_blocking(settings.database_url)
    typer.echo("database is up to date")
