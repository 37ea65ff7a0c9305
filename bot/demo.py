"""The demo: a simulated market and a local person with a few watches.

`make run` with no platform configured runs it: the simulator feeds the engine like a real
source would and alerts print in the terminal, where the same person can chat with the bot.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import func, select

from adapters.console.inbound import CONSOLE_ADDRESS, console_user
from bot.bootstrap import Container
from core.chat import CommandContext
from core.db.models import Watch
from core.domain import Platform
from ml.simulator import MarketSimulator

logger = logging.getLogger(__name__)

DEMO_WATCHES = (
    "watch any yankees under 60",
    "watch any diamondbacks drop 8%",
    "watch any taylor swift under 250 qty 2",
    "watch any nba drop 10%",
)


def demo_source(now: datetime, *, seed: int | None = None) -> MarketSimulator:
    """A lively simulated market: a day of history, then a snapshot per event every 30 min."""
    return MarketSimulator(
        random.Random(seed),
        start=now,
        backfill=timedelta(days=1),
        events=120,
        horizon=timedelta(days=30),
        cadence=timedelta(minutes=30),
        source="demo",
    )


async def seed_demo(container: Container) -> int:
    """Create the local demo person and their watches once; return the person's id."""
    user_id = await console_user(container.sessions, container.clock)
    async with container.sessions() as session:
        existing = await session.scalar(
            select(func.count()).select_from(Watch).where(Watch.user_id == user_id)
        )
    if existing:
        return user_id
    ctx = CommandContext(
        user_id=user_id, platform=Platform.CONSOLE.value, address=CONSOLE_ADDRESS, is_admin=True
    )
    for line in DEMO_WATCHES:
        reply = await container.handlers.handle_text(ctx, line)
        logger.info("demo: %s -> %s", line, reply.lines[0] if reply.lines else "")
    return user_id
