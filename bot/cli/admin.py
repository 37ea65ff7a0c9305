"""Schema and administration commands."""

from __future__ import annotations

import typer

from bot.cli.app import app
from bot.settings import load_settings


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from bot.migrate import upgrade_blocking

    settings = load_settings()
    upgrade_blocking(settings.database_url)
    typer.echo("database is up to date")
