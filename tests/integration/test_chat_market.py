"""`hdtickets chat` answers `market` with the forecast and chart the running process gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli.chat import chat_handlers
from bot.settings import load_settings
from core.chat import CommandContext
from core.clock import FakeClock
from core.db.models import Event, MarketSnapshot
from core.users import ensure_user
from tests.integration.engine_helpers import add_event
from tests.integration.test_handlers import World, world

__all__ = ["world"]  # the fixture, shared with test_handlers


async def test_chat_market_has_the_forecast_and_chart(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    async with sessions() as session, session.begin():
        event = Event(
            source="test", external_id="rockies", name="Rockies at Diamondbacks",
            performers=["Colorado Rockies"], venue="Chase Field", city="Phoenix",
            category="mlb", starts_at=clock.now() + timedelta(days=10), timezone="UTC",
            created_at=clock.now(),
        )  # fmt: skip
        session.add(event)
        await session.flush()
        for hours, low in ((30, 45.0), (20, 40.0), (5, 35.0), (2, 28.0)):
            session.add(
                MarketSnapshot(
                    event_id=event.id, source="seatgeek", currency="USD",
                    observed_at=clock.now() - timedelta(hours=hours), min_price=low,
                    avg_price=83.0, max_price=473.0, listing_count=315, ticket_count=1344,
                    ingested_at=clock.now(),
                )
            )  # fmt: skip
        me = await ensure_user(
            session, "console", "local", display_name="you", dm_address="local", now=clock.now()
        )
        me_id = me.id
    settings = load_settings(model_dir=tmp_path / "no-model")
    handlers = await chat_handlers(settings, sessions, clock)

    reply = await handlers.handle_text(CommandContext(me_id, "console", "local"), "market rockies")

    assert not reply.is_error
    assert any("chance" in line for line in reply.lines), reply.lines  # the forecast in words
    assert reply.image is not None and reply.image.startswith(b"\x89PNG")


async def test_the_chat_scores_with_the_configured_weights(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    """A changed watch's kept alerts stay critical where HDT_WEIGHTS make them critical
    (`scoring.keep_critical`): the chat's handlers carry those weights, as the process's do."""
    weights = [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]
    settings = load_settings(model_dir=tmp_path / "no-model", weights=weights)
    handlers = await chat_handlers(settings, sessions, clock)
    assert handlers._weights == tuple(weights)


async def test_market_of_nothing_suggests_something_else_to_type(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    async with sessions() as session, session.begin():
        me = await ensure_user(
            session, "console", "local", display_name="you", dm_address="local", now=clock.now()
        )
        me_id = me.id
    handlers = await chat_handlers(load_settings(model_dir=tmp_path / "no-model"), sessions, clock)

    reply = await handlers.handle_text(CommandContext(me_id, "console", "local"), "market yankees")

    assert reply.is_error
    text = " ".join(reply.lines)
    assert "no upcoming event matches 'yankees'" in text
    assert "e.g. market yankees" not in text  # the example is not what just found nothing
    assert "e.g. market red sox" in text


async def test_market_of_a_nickname_shows_the_team_s_game_and_says_so(world: World) -> None:
    reply = await world.say("market dbacks")

    assert not reply.is_error, reply.text
    assert reply.lines[:2] == (
        "You wrote 'dbacks': read as Arizona Diamondbacks.",
        "Rockies at Diamondbacks — Chase Field, Phoenix",
    )


async def test_market_of_a_nickname_of_two_teams_playing_offers_their_games(
    world: World,
) -> None:
    starts = datetime(2024, 4, 2, 1, 40, tzinfo=UTC)
    async with world.sessions() as session, session.begin():
        stl = await add_event(session, external_id="stl", name="Cardinals at Diamondbacks",
                              performers=("Arizona Diamondbacks", "St. Louis Cardinals"),
                              starts_at=starts)  # fmt: skip
        ari = await add_event(session, external_id="ari", name="Cardinals at 49ers",
                              performers=("San Francisco 49ers", "Arizona Cardinals"),
                              starts_at=starts + timedelta(days=1))  # fmt: skip

    reply = await world.say("market cards")

    assert reply.lines == (
        "'cards' is a nickname of 2 teams (St. Louis Cardinals, Arizona Cardinals) — which one?",
    ), reply.text
    assert [c.command for c in reply.choices] == [f"market #{stl.id}", f"market #{ari.id}"]
