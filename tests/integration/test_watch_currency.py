"""A watch on one event confirms its max in the event's currency (QA: a watch on a London
game, priced in pounds, confirmed "under $80"); a watch on words keeps the default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.db.models import Event, MarketSnapshot
from tests.integration.test_handlers import World, world

__all__ = ["world"]  # the fixture, shared with test_handlers


@pytest.fixture
async def derby(world: World) -> World:
    """A London game whose snapshots are in pounds, and one not priced yet."""
    now = world.clock.now()
    async with world.sessions() as session, session.begin():
        for key, name, city in (
            ("derby", "Arsenal v Tottenham", "London"),
            ("unpriced", "Celtic v Rangers", "Glasgow"),
        ):
            event = Event(
                source="test", external_id=key, name=name, performers=[], venue=None,
                city=city, category="football", starts_at=datetime(2024, 4, 6, 14, 0, tzinfo=UTC),
                timezone="Europe/London", created_at=now,
            )  # fmt: skip
            session.add(event)
            await session.flush()
            world.events[key] = event.id
        session.add(
            MarketSnapshot(
                event_id=world.events["derby"], source="feed", currency="GBP",
                observed_at=now - timedelta(hours=1), min_price=95.0, median_price=None,
                avg_price=120.0, max_price=400.0, listing_count=40, ticket_count=200,
                ingested_at=now,
            )
        )  # fmt: skip
    return world


async def test_a_watch_on_a_pound_event_confirms_its_max_in_pounds(derby: World) -> None:
    reply = await derby.say("watch arsenal under 80")

    [row] = await derby.watches()
    assert row.event_id == derby.events["derby"], reply.text
    assert reply.lines[1] == "I'll alert you when a ticket can be had under £80.", reply.text
    assert "$" not in reply.text


async def test_the_watch_list_shows_the_max_in_the_events_currency(derby: World) -> None:
    await derby.say("watch arsenal under 80")
    await derby.say("watch rockies under 40")
    await derby.say("watch any arsenal under 70")

    lines = (await derby.say("watches")).lines
    assert lines[1].endswith("· under £80 — active"), lines
    assert lines[2].endswith("· under $40 — active"), lines
    assert lines[3].endswith("· under $70 — active"), lines  # words span currencies


async def test_a_watch_on_words_keeps_the_default_currency(derby: World) -> None:
    reply = await derby.say("watch any arsenal under 80")

    [row] = await derby.watches()
    assert row.event_id is None
    assert "under $80." in reply.lines[1], reply.text


async def test_an_event_without_prices_yet_reads_as_dollars(derby: World) -> None:
    reply = await derby.say("watch celtic under 80")

    [row] = await derby.watches()
    assert row.event_id == derby.events["unpriced"]
    assert "under $80." in reply.lines[1], reply.text


async def test_a_bare_number_offered_as_the_price_of_one_event_is_in_its_currency(
    derby: World,
) -> None:
    reply = await derby.say("watch arsenal 80")

    assert reply.choices[0].command == "watch arsenal under 80", reply.text
    assert reply.choices[0].label == "'arsenal' under £80"
