"""A watch on one event confirms its max in the event's currency (QA: a watch on a London
game, priced in pounds, confirmed "under $80"); a watch on words keeps the default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.db.models import Alert, Event, MarketSnapshot, Watch
from core.domain import WatchSpec
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


async def test_a_price_typed_in_the_events_currency_is_taken(derby: World) -> None:
    # QA: "watch bjork under £80" was refused: "price must be a number, not '£80'"
    for text in ("watch arsenal under £80", "watch arsenal £80", "watch arsenal under 80 GBP"):
        reply = await derby.say(text)
        assert not reply.is_error, reply.text
        assert reply.lines[1] == "I'll alert you when a ticket can be had under £80.", reply.text
    [row] = await derby.watches()
    assert row.event_id == derby.events["derby"] and row.max_price == 80.0


@pytest.mark.parametrize("price", ["$80", "€80", "80$", "USD 80"])
async def test_a_price_in_another_currency_than_the_events_is_refused(
    derby: World, price: str
) -> None:
    # QA: "watch arsenal under $80" on a game priced in pounds was saved as £80
    reply = await derby.say(f"watch arsenal under {price}")

    event_id = derby.events["derby"]
    assert reply.is_error, reply.text
    assert reply.text.startswith("that event is priced in £ (GBP), not "), reply.text
    assert reply.text.endswith(f"e.g. watch #{event_id} under £80"), reply.text
    assert await derby.watches() == []


async def test_a_dollar_price_on_an_event_without_prices_yet_is_taken(derby: World) -> None:
    reply = await derby.say("watch celtic under $80")  # no snapshot yet: prices read as USD

    assert not reply.is_error and "under $80." in reply.lines[1], reply.text


async def test_a_watch_on_words_keeps_the_amount_of_any_currency(derby: World) -> None:
    reply = await derby.say("watch any arsenal under £80")

    [row] = await derby.watches()
    assert not reply.is_error and row.event_id is None and row.max_price == 80.0, reply.text
    assert "under £80." in reply.lines[1], reply.text  # said as typed, not "$80"


async def test_choices_keep_the_currency_typed(world: World) -> None:
    reply = await world.say("watch yankees under £80 qty 2")  # several USD games

    assert reply.choices, reply.text
    assert reply.choices[0].command.endswith(" under £80 qty 2"), reply.choices[0].command
    picked = await world.say(reply.choices[0].command)
    assert picked.is_error and "priced in $ (USD), not £ (GBP)" in picked.text, picked.text


async def _pound_alert(world: World) -> int:
    await world.say("watch arsenal under 200")
    [watch] = await world.watches()
    async with world.sessions() as session, session.begin():
        alert = Alert(
            dedup_key=f"{watch.id}:{watch.event_id}:price_below", watch_id=watch.id,
            user_id=world.me.user_id, event_id=watch.event_id, kind="price_below", score=0.7,
            level=4, factors=[], price=95.0, status="open", reason="cheapest £95 under £200",
            opened_at=world.clock.now(), updated_at=world.clock.now(),
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return alert.id


async def test_snooze_under_a_price_in_the_events_currency(derby: World) -> None:
    alert_id = await _pound_alert(derby)

    refused = await derby.say(f"snooze {alert_id} under $80")  # was read as £80
    assert refused.is_error, refused.text
    assert refused.text == (
        f"that event is priced in £ (GBP), not $ (USD), e.g. snooze {alert_id} under £80"
    )
    row = await derby.get(Alert, alert_id)
    assert isinstance(row, Alert) and row.status == "open" and row.snooze_below is None

    taken = await derby.say(f"snooze {alert_id} under £80")  # was "price must be a number"
    assert not taken.is_error and taken.text.endswith("until it is under £80."), taken.text
    row = await derby.get(Alert, alert_id)
    assert isinstance(row, Alert) and row.snooze_below == 80.0


# --- a watch's own currency (`watches.currency`) ------------------------------------------


async def test_a_watch_on_words_keeps_the_currency_typed_and_lists_it(derby: World) -> None:
    await derby.say("watch any arsenal under £80")
    await derby.say("watch any rockies under ¥7,000")
    await derby.say("watch any celtic under 70")

    arsenal, rockies, celtic = await derby.watches()
    assert [w.currency for w in (arsenal, rockies, celtic)] == ["GBP", "JPY", None]
    lines = (await derby.say("watches")).lines
    assert lines[1].endswith("· under £80 — active"), lines  # was "$80"
    assert lines[2].endswith("· under ¥7,000 — active"), lines
    assert lines[3].endswith("· under $70 — active"), lines  # none typed: the default
    published = [w for w, _ in derby.hook.calls if isinstance(w, WatchSpec)]
    assert [w.currency for w in published] == ["GBP", "JPY", None]  # what the engine matches


async def test_restating_a_watch_on_words_keeps_or_changes_its_currency(derby: World) -> None:
    await derby.say("watch any arsenal under £80")
    await derby.say("watch any arsenal qty 2")  # no price said: the max and its currency stay
    [row] = await derby.watches()
    assert (row.max_price, row.currency, row.quantity) == (80.0, "GBP", 2)

    await derby.say("watch any arsenal under 90")  # a bare number: each event's currency
    [row] = await derby.watches()
    assert (row.max_price, row.currency) == (90.0, None)


async def test_a_watch_on_one_event_keeps_the_events_currency(derby: World) -> None:
    await derby.say("watch arsenal under 80")
    await derby.say("watch celtic under 80")  # no prices yet
    await derby.say("watch rockies drop 10%")

    arsenal, celtic, rockies = await derby.watches()
    assert (arsenal.currency, celtic.currency, rockies.currency) == ("GBP", None, None)
    await derby.say("watch celtic under $80")  # the dollars typed: kept
    assert (await derby.watches())[1].currency == "USD"


async def _words_alert(world: World, text: str) -> tuple[int, int]:
    """A watch on words (`text`) with an open price alert at £95 on the London game."""
    await world.say(text)
    [watch] = await world.watches()
    async with world.sessions() as session, session.begin():
        alert = Alert(
            dedup_key=f"{watch.id}:{world.events['derby']}:price_below", watch_id=watch.id,
            user_id=world.me.user_id, event_id=world.events["derby"], kind="price_below",
            score=0.7, level=4, factors=[], price=95.0, status="open",
            reason="cheapest £95 is at or under your max £200", opened_at=world.clock.now(),
            updated_at=world.clock.now(),
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return watch.id, alert.id


async def test_a_new_currency_closes_the_alerts_priced_in_the_old_one(derby: World) -> None:
    _, alert_id = await _words_alert(derby, "watch any arsenal under 200")

    kept = await derby.say("watch any arsenal under 150")  # the same currency, still under
    assert "closed" not in kept.text, kept.text
    row = await derby.get(Alert, alert_id)
    assert isinstance(row, Alert) and row.status == "open"

    changed = await derby.say("watch any arsenal under ¥15,000")  # 95 is not under ¥15,000
    assert "Its open alert closed." in changed.text, changed.text
    row = await derby.get(Alert, alert_id)
    assert isinstance(row, Alert) and (row.status, row.reason) == ("resolved", "watch changed")
    [watch] = await derby.watches()
    assert (watch.max_price, watch.currency) == (15000.0, "JPY")


async def test_an_event_watch_from_before_currencies_keeps_its_alerts(derby: World) -> None:
    alert_id = await _pound_alert(derby)
    [watch] = await derby.watches()
    async with derby.sessions() as session, session.begin():
        row = await session.get(Watch, watch.id)
        assert row is not None and row.currency == "GBP"
        row.currency = None  # as migration 0009 left it: read in the event's currency

    reply = await derby.say("watch arsenal under 200")

    assert "closed" not in reply.text, reply.text  # its max meant pounds all along
    alert = await derby.get(Alert, alert_id)
    assert isinstance(alert, Alert) and alert.status == "open"
    assert (await derby.watches())[0].currency == "GBP"


async def test_a_euro_price_with_a_thousands_dot_is_said_back_in_full(derby: World) -> None:
    reply = await derby.say("watch any celtic under 1.200 €")  # twelve hundred euros

    rows = await derby.watches()
    assert len(rows) == 1, reply.text
    [row] = rows
    assert row.max_price == 1200.0 and row.currency == "EUR", reply.text
    assert reply.lines[1] == "I'll alert you when a ticket can be had under €1,200.", reply.text
