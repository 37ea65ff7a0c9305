"""`hdtickets chat`: talk to the bot in this terminal, with no chat platform configured."""

from __future__ import annotations

import asyncio
import random

import typer

from bot.cli.app import app
from bot.cli.common import examples, one_line_errors
from bot.settings import Settings, load_settings


@app.command(epilog=examples("hdtickets chat"))
def chat() -> None:
    """Chat with the bot here as the local person "you" (watch, alerts, market, help...)."""
    from bot.migrate import upgrade_blocking

    settings = load_settings()
    with one_line_errors():
        upgrade_blocking(settings.database_url)
    try:
        asyncio.run(_chat(settings))
    except KeyboardInterrupt:
        typer.echo("")


async def _chat(settings: Settings) -> None:
    from adapters.console.channel import ConsoleChannel
    from adapters.console.inbound import ConsoleChat
    from core.actions import ActionSigner
    from core.clock import SystemClock
    from core.db.engine import make_engine, make_sessionmaker
    from core.handlers import CommandHandlers

    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        clock = SystemClock()
        handlers = CommandHandlers(
            sessions, clock, random.Random(), ActionSigner(settings.secret_key_bytes())
        )
        await ConsoleChat(handlers, sessions, clock, channel=ConsoleChannel()).run()
    finally:
        await engine.dispose()
