"""The demo: a simulated market and a local person with a few watches.

`make run` with no platform configured runs it: the simulator feeds the engine like a real
source would and alerts print in the terminal, where the same person can chat with the bot.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.inbound import CONSOLE_ADDRESS, console_user
from bot.bootstrap import Container
from core.chat import CommandContext
from core.db.models import MarketSnapshot, Watch
from core.domain import Platform
from ml.simulator import MarketSimulator
from ml.simulator_catalog import season_categories

logger = logging.getLogger(__name__)


# (league, watch) in order of preference: the demo person watches two teams of leagues
# in season, a concert, and one league or, out of every season, concerts.
_TEAM_WATCHES = (
    ("mlb", "watch any yankees under 60"),
    ("mlb", "watch any diamondbacks drop 8%"),
    ("nba", "watch any knicks under 90"),
    ("nhl", "watch any bruins drop 8%"),
    ("nfl", "watch any chiefs under 150"),
)
_LEAGUE_WATCHES = (("nba", "watch any nba drop 10%"), ("nhl", "watch any nhl drop 10%"))


def demo_watches(day: date) -> tuple[str, ...]:
    """The demo person's watches: teams that play in a market started on `day` (it has
    only the leagues in season throughout, `demo_source`)."""
    leagues = season_categories(day, day + DEMO_HORIZON)
    teams = [watch for league, watch in _TEAM_WATCHES if league in leagues][:2]
    teams += ["watch any theatre under 120"] * (2 - len(teams))  # early October
    league = next((w for name, w in _LEAGUE_WATCHES if name in leagues), None)
    return (
        *teams,
        "watch any taylor swift under 250 qty 2",
        league or "watch any concert drop 10%",
    )


DEMO_SOURCE = "demo"
DEMO_HORIZON = timedelta(days=30)
# A market older than this is replaced: half its events have started, the rest go on.
DEMO_KEPT = timedelta(days=14)
DEMO_MARKET_FILE = "demo-market.json"


def demo_source(now: datetime, *, seed: int | None = None) -> MarketSimulator:
    """A lively simulated market: a day of history, then a snapshot per event every 30 min,
    of the leagues in season when it starts (and concerts and shows)."""
    return MarketSimulator(
        random.Random(seed),
        start=now,
        backfill=timedelta(days=1),
        events=120,
        horizon=DEMO_HORIZON,
        cadence=timedelta(minutes=30),
        categories=season_categories(now.date(), (now + DEMO_HORIZON).date()),
        source=DEMO_SOURCE,
    )


async def demo_market(
    sessions: async_sessionmaker[AsyncSession], now: datetime, state_dir: Path
) -> MarketSimulator:
    """The demo's market: the one an earlier run started (its seed and start are kept in
    `state_dir`, so it has the same events), past the snapshots it already stored; a new
    one when there is none or it is older than `DEMO_KEPT`.

    A new market every run left the last one's events in the database beside the new
    ones, frozen at their last price: two of each team in `watch` and `market` choices.
    """
    path = state_dir / DEMO_MARKET_FILE
    saved = _saved_market(path)
    if saved is None or not now - DEMO_KEPT < saved[1] <= now:
        seed = random.getrandbits(32)
        _save_market(path, seed, now)
        return demo_source(now, seed=seed)
    source = demo_source(saved[1], seed=saved[0])
    async with sessions() as session:
        newest = await session.scalar(
            select(func.max(MarketSnapshot.observed_at)).where(MarketSnapshot.source == DEMO_SOURCE)
        )
    if newest is not None:
        source.skip_to(newest)  # stored by an earlier run: not polled again
    return source


def _saved_market(path: Path) -> tuple[int, datetime] | None:
    """(seed, start) of the demo market an earlier run saved, or None."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        seed, start = int(saved["seed"]), datetime.fromisoformat(saved["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (seed, start) if start.tzinfo is not None else None


def _save_market(path: Path, seed: int, start: datetime) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"seed": seed, "start": start.isoformat()}), encoding="utf-8")
    except OSError as exc:  # the demo still runs; the next run starts another market
        logger.warning("demo: could not keep the market in %s: %s", path, exc)


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
    for line in demo_watches(container.clock.now().date()):
        reply = await container.handlers.handle_text(ctx, line)
        logger.info("demo: %s -> %s", line, reply.lines[0] if reply.lines else "")
    return user_id
