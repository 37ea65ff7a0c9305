"""`hdtickets chat`: talk to the bot in this terminal, with no chat platform configured."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

import typer

from bot.cli.app import app
from bot.cli.common import examples, one_line_errors
from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from core.handlers import CommandHandlers
    from core.ports import Clock


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
    from core.clock import SystemClock
    from core.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        clock = SystemClock()
        handlers = await chat_handlers(settings, sessions, clock)
        await ConsoleChat(handlers, sessions, clock, channel=ConsoleChannel()).run()
    finally:
        await engine.dispose()


async def chat_handlers(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> CommandHandlers:
    """The command handlers of this chat, with the market insight (forecast and chart)
    and the factor weights the running process gives: the same model `bot.bootstrap.build`
    loads (`load_predictor`: a damaged model directory is passed over there too)."""
    from bot.bootstrap import load_predictor
    from bot.insight import MarketInsights
    from core.actions import ActionSigner
    from core.handlers import CommandHandlers
    from ml.predictor import SHIPPED_MODEL

    predictor = await load_predictor(sessions, settings.model_dir, SHIPPED_MODEL)
    return CommandHandlers(
        sessions,
        clock,
        random.Random(),
        ActionSigner(settings.secret_key_bytes()),
        market=MarketInsights(sessions, predictor),
        weights=tuple(settings.weights),
    )
