"""Command handlers against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import ActionSigner
from core.chat import CommandContext, MarketInsight, Reply, WatchChange
from core.clock import FakeClock
from core.db.models import (
    Activity,
    Alert,
    Event,
    Identity,
    MarketSnapshot,
    Preference,
    Presence,
    User,
    Watch,
)
from core.domain import (
    ActionKind,
    ChannelKind,
    EventRef,
    Level,
    MarketPoint,
    TriggerKind,
    WatchSpec,
)
from core.handlers import CommandHandlers
from core.render import LEVEL_EMOJI
from core.rules import check, spec_from_row
from core.users import ensure_user

SECRET = b"test-secret"


@dataclass
class RecordingHook:
    calls: list[tuple[WatchSpec | int, WatchChange]] = field(default_factory=list)

    def __call__(self, watch: WatchSpec | int, change: WatchChange) -> None:
        self.calls.append((watch, change))


@dataclass
class StubMarket:
    sentence: str = "72% chance the cheapest price drops 5% within 3 days — wait"

    async def insight(self, event_id: int, *, now: datetime) -> MarketInsight | None:
        return MarketInsight(sentence=self.sentence, chart_png=b"\x89PNG-chart")


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    handlers: CommandHandlers
    hook: RecordingHook
    signer: ActionSigner
    me: CommandContext
    other: CommandContext
    events: dict[str, int]

    async def say(self, text: str, ctx: CommandContext | None = None) -> Reply:
        return await self.handlers.handle_text(ctx or self.me, text)

    async def get(self, model: type, key: object) -> object:
        async with self.sessions() as session:
            return await session.get(model, key)

    async def watches(self) -> list[Watch]:
        async with self.sessions() as session:
            return list((await session.execute(select(Watch).order_by(Watch.id))).scalars())


EVENTS = {
    "rockies": ("Rockies at Diamondbacks", ["Arizona Diamondbacks", "Colorado Rockies"],
                "Chase Field", "Phoenix", "mlb", datetime(2024, 3, 31, 20, 10, tzinfo=UTC)),
    "nyy_bos": ("Yankees at Red Sox", ["New York Yankees", "Boston Red Sox"],
                "Fenway Park", "Boston", "mlb", datetime(2024, 4, 5, 23, 10, tzinfo=UTC)),
    "bos_nyy": ("Red Sox at Yankees", ["Boston Red Sox", "New York Yankees"],
                "Yankee Stadium", "New York", "mlb", datetime(2024, 4, 12, 23, 5, tzinfo=UTC)),
    "past": ("Yankees at Orioles", ["New York Yankees", "Baltimore Orioles"],
             "Camden Yards", "Baltimore", "mlb", datetime(2024, 3, 1, 23, 5, tzinfo=UTC)),
    "bjork": ("Björk: Cornucopia", ["Björk"], "Kia Forum", "Inglewood", "concert",
              datetime(2024, 5, 1, 3, 0, tzinfo=UTC)),
}  # fmt: skip


@pytest.fixture
async def world(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, rng: random.Random
) -> World:
    ids: dict[str, int] = {}
    async with sessions() as session, session.begin():
        for key, (name, performers, venue, city, category, starts) in EVENTS.items():
            event = Event(
                source="test",
                external_id=key,
                name=name,
                performers=performers,
                venue=venue,
                city=city,
                category=category,
                starts_at=starts,
                timezone="UTC",
                created_at=clock.now(),
            )
            session.add(event)
            await session.flush()
            ids[key] = event.id
        me = await ensure_user(
            session, "console", "local", display_name="you", dm_address="local", now=clock.now()
        )
        other = await ensure_user(
            session, "telegram", "42", display_name="Sam", dm_address="42", now=clock.now()
        )
        me_id, other_id = me.id, other.id
    hook = RecordingHook()
    signer = ActionSigner(SECRET)
    handlers = CommandHandlers(sessions, clock, rng, signer, index_hook=hook, market=StubMarket())
    return World(
        sessions,
        clock,
        handlers,
        hook,
        signer,
        CommandContext(me_id, "console", "local", is_admin=True),
        CommandContext(other_id, "telegram", "42"),
        ids,
    )


# --- watch -------------------------------------------------------------------------------


async def test_watch_with_one_match_creates_an_event_watch(world: World) -> None:
    reply = await world.say("watch rockies under 40")

    assert not reply.is_error, reply.text
    [row] = await world.watches()
    assert (row.event_id, row.max_price, row.user_id) == (
        world.events["rockies"],
        40.0,
        world.me.user_id,
    )
    assert row.triggers == [TriggerKind.PRICE_BELOW.value] and row.active and row.terms == []
    assert f"watch #{row.id}" in reply.lines[0] and "Rockies at Diamondbacks" in reply.lines[0]
    assert "under $40." in reply.lines[1]
    [(spec, change)] = world.hook.calls
    assert change is WatchChange.CREATED
    assert isinstance(spec, WatchSpec) and spec.id == row.id and spec.max_price == 40.0
    pause, remove = reply.all_buttons()
    now = world.clock.now()
    assert world.signer.verify(pause.token or "", now=now).action is ActionKind.PAUSE_WATCH
    assert world.signer.verify(remove.token or "", now=now).target_id == row.id


async def test_ambiguous_watch_offers_choices_and_never_guesses(world: World) -> None:
    reply = await world.say("watch yankees under 80 qty 2")

    assert await world.watches() == [] and world.hook.calls == []
    assert "matches 2 upcoming events" in reply.lines[0]  # the past game is left out
    commands = [c.command for c in reply.choices]
    assert commands == [
        f"watch #{world.events['nyy_bos']} under 80 qty 2",
        f"watch #{world.events['bos_nyy']} under 80 qty 2",
        "watch any yankees under 80 qty 2",
    ]
    assert "Fenway Park" in reply.choices[0].label

    picked = await world.say(commands[1] or "")
    [row] = await world.watches()
    assert (row.event_id, row.quantity, row.max_price) == (world.events["bos_nyy"], 2, 80.0)
    assert "Red Sox at Yankees" in picked.lines[0]


async def test_watch_any_and_unknown_names_make_term_watches(world: World) -> None:
    any_reply = await world.say("watch any yankees under 80")
    none_reply = await world.say("watch Taylor Swift under 300 zone floor")

    first, second = await world.watches()
    assert (first.event_id, first.terms, first.max_price) == (None, ["yankees"], 80.0)
    assert (second.event_id, second.terms, second.zones) == (None, ["taylor swift"], ["floor"])
    assert "none on sale right now" in none_reply.lines[0]
    assert "any event matching 'yankees'" in any_reply.lines[0]
    assert [change for _, change in world.hook.calls] == [WatchChange.CREATED] * 2


async def test_watch_a_category_and_default_drop_trigger(world: World) -> None:
    reply = await world.say("watch MLB")

    [row] = await world.watches()
    assert (row.category, row.terms, row.event_id) == ("mlb", [], None)
    assert row.triggers == [TriggerKind.DROP_PCT.value] and row.drop_pct == 10.0
    assert "every upcoming mlb event" in reply.lines[0]
    assert "drops 10% or more" in reply.lines[1] and "under <price>" in reply.lines[1]


async def test_unicode_name_matches_and_emoji_only_is_refused(world: World) -> None:
    reply = await world.say("watch björk under 150")
    [row] = await world.watches()
    assert row.event_id == world.events["bjork"], reply.text

    refused = await world.say("watch 🎤🎤")
    assert refused.is_error and "e.g. watch yankees under 80" in refused.text
    assert len(await world.watches()) == 1


async def test_watching_the_same_event_again_updates_it(world: World) -> None:
    await world.say("watch rockies under 40")
    reply = await world.say("watch rockies under 35 drop 20%")

    [row] = await world.watches()
    assert row.max_price == 35.0 and row.drop_pct == 20.0
    assert sorted(row.triggers) == ["drop_pct", "price_below"]
    assert reply.lines[0].startswith("Updated")
    assert [c for _, c in world.hook.calls] == [WatchChange.CREATED, WatchChange.UPDATED]


async def test_watch_by_id_of_a_past_event_is_refused(world: World) -> None:
    reply = await world.say(f"watch #{world.events['past']}")
    assert reply.is_error and "no upcoming event" in reply.text
    assert await world.watches() == []


# --- watches, unwatch, pause, resume -------------------------------------------------


async def test_list_unwatch_pause_resume_with_ownership(world: World) -> None:
    await world.say("watch rockies under 40")
    await world.say("watch any red sox", world.other)
    mine, theirs = await world.watches()

    listing = await world.say("watches")
    assert listing.lines[0] == "Your watches:" and len(listing.lines) == 2
    assert listing.lines[1].startswith(f"#{mine.id} Rockies at Diamondbacks")
    assert len(listing.buttons) == 1

    for command in ("unwatch", "pause", "resume"):
        refused = await world.say(f"{command} {theirs.id}")
        assert refused.is_error and f"no watch #{theirs.id}" in refused.text
    untouched = await world.get(Watch, theirs.id)
    assert isinstance(untouched, Watch) and untouched.active and untouched.removed_at is None

    world.hook.calls.clear()
    assert "Paused" in (await world.say(f"pause {mine.id}")).text
    assert "already paused" in (await world.say(f"pause {mine.id}")).text
    assert "paused (resume" in (await world.say("watches")).lines[1]
    assert "Resumed" in (await world.say(f"resume {mine.id}")).text
    assert (await world.say(f"resume {mine.id}")).text == f"Watch #{mine.id} is already active."
    assert [(w.active, c) for w, c in world.hook.calls if isinstance(w, WatchSpec)] == [
        (False, WatchChange.UPDATED),
        (True, WatchChange.UPDATED),
    ]

    removed = await world.say(f"unwatch {mine.id}")
    assert "Removed watch" in removed.text
    assert world.hook.calls[-1] == (mine.id, WatchChange.REMOVED)
    row = await world.get(Watch, mine.id)
    assert isinstance(row, Watch) and not row.active and row.removed_at == world.clock.now()
    assert "empty" in (await world.say("watches")).text
    assert (await world.say(f"unwatch {mine.id}")).is_error


async def test_group_watches_need_an_admin_and_stay_in_the_group(world: World) -> None:
    member = CommandContext(world.me.user_id, "telegram", "-100", is_group=True, is_admin=False)
    admin = CommandContext(world.other.user_id, "telegram", "-100", is_group=True, is_admin=True)

    refused = await world.say("watch rockies under 40", member)
    assert refused.is_error and "admins" in refused.text and await world.watches() == []

    await world.say("watch rockies under 40", admin)
    [row] = await world.watches()
    assert (row.destination_channel, row.destination_address) == ("telegram", "-100")
    assert len((await world.say("watches", member)).lines) == 2  # members can look
    assert (await world.say(f"pause {row.id}", member)).is_error
    assert "empty" in (await world.say("watches", world.other)).text  # not their DM list


async def test_pause_all_and_resume_all_change_every_watch_of_this_chat(world: World) -> None:
    """Going away for a week: one command pauses every watch, one brings them back."""
    await world.say("watch rockies under 40")
    await world.say("watch any red sox")
    await world.say("watch any yankees", world.other)
    mine = [w for w in await world.watches() if w.user_id == world.me.user_id]
    theirs = [w for w in await world.watches() if w.user_id == world.other.user_id]
    await world.say(f"pause {mine[0].id}")
    world.hook.calls.clear()

    paused = await world.say("pause all")
    assert not paused.is_error
    assert paused.text == (
        f"Paused 1 watch (#{mine[1].id}; #{mine[0].id} was already paused);"
        " resume all turns them back on."
    ), paused.text
    assert [w.active for w in await world.watches() if w.user_id == world.me.user_id] == [
        False,
        False,
    ]
    assert all(w.active for w in await world.watches() if w.id in {t.id for t in theirs})
    assert [(w.id, c) for w, c in world.hook.calls if isinstance(w, WatchSpec)] == [
        (mine[1].id, WatchChange.UPDATED)
    ]
    assert (await world.say("pause all")).text == "All 2 of your watches are already paused."
    assert (await world.say("pause all", world.other)).text.startswith("Paused 1 watch (#")

    resumed = await world.say("resume all")
    assert resumed.text == f"Resumed 2 watches (#{mine[0].id}, #{mine[1].id}).", resumed.text
    assert [w.active for w in await world.watches()] == [True, True, False]
    assert (await world.say("resume all")).text == "All 2 of your watches are already active."

    await world.say(f"unwatch {mine[0].id}")
    await world.say(f"unwatch {mine[1].id}")
    empty = await world.say("pause all")
    assert empty.text == "Your watch list is empty, e.g. watch yankees under 80"


async def test_pause_all_closes_open_alerts_and_needs_a_group_admin(world: World) -> None:
    alert_id = await _open_alert(world, world.me, "watch rockies under 40")
    reply = await world.say("pause all")
    assert reply.text.endswith("resume all turns them back on. 1 open alert closed."), reply.text
    ended = await world.get(Alert, alert_id)
    assert isinstance(ended, Alert) and (ended.status, ended.reason) == ("resolved", "watch paused")

    member = CommandContext(world.me.user_id, "telegram", "-100", is_group=True, is_admin=False)
    admin = CommandContext(world.other.user_id, "telegram", "-100", is_group=True, is_admin=True)
    await world.say("watch any red sox", admin)
    refused = await world.say("pause all", member)
    assert refused.is_error and "admins" in refused.text
    group = await world.say("pause all", admin)
    assert group.text.startswith("Paused 1 watch (#"), group.text
    assert (await world.say("resume all", admin)).text.startswith("Resumed 1 watch (#")
    assert "empty" in (await world.say("pause all", world.other)).text  # not their DM list


# --- settings ------------------------------------------------------------------------


async def test_tz_gmt_says_it_does_not_move_for_summer(world: World) -> None:
    """A British fan typing GMT would be an hour off all summer: told the place to say."""
    for typed in ("tz GMT", "tz Etc/GMT", "tz greenwich"):
        reply = await world.say(typed)
        assert not reply.is_error
        assert reply.lines[1].startswith("GMT stays GMT in summer: in the UK or Ireland say"), (
            reply.text
        )
    london = await world.say("tz Europe/London")
    assert len(london.lines) == 1 and "Europe/London" in london.text


async def test_quiet_tz_and_prefs(world: World) -> None:
    assert "22:00-07:00" in (await world.say("quiet 22:00-07:00")).text
    bad = await world.say("quiet 25:00-07:00")
    assert bad.is_error and bad.lines == (
        "'25:00' is not a time of day (00:00 to 23:59), e.g. quiet 22:00-07:00",
    )
    tz = await world.say("tz europe/berlin")
    assert "Europe/Berlin" in tz.text and "13:00" in tz.text  # 12:00 UTC in March
    assert (await world.say("tz Europe/Berln")).text.endswith("e.g. tz America/New_York")
    user = await world.get(User, world.me.user_id)
    assert isinstance(user, User)
    assert (user.quiet_start, user.quiet_end, user.timezone) == ("22:00", "07:00", "Europe/Berlin")

    await world.say("prefs digest daily")
    order = await world.say("prefs channels console telegram")
    assert order.text == (  # this person has only the console: it says so
        "Channel order: console, telegram (then any other). You have no telegram account"
        " linked yet, so alerts go to console for now."
    )
    async with world.sessions() as session, session.begin():
        session.add(Identity(user_id=world.me.user_id, platform="telegram", external_id="7",
                             dm_address="7"))  # fmt: skip
    linked = await world.say("prefs channels console telegram")
    assert linked.text == "Channel order: console, telegram (then any other)."
    await world.say("prefs level telegram high")
    await world.say("prefs wake on")
    pref = await world.get(Preference, world.me.user_id)
    assert isinstance(pref, Preference)
    assert pref.digest_schedule == "daily" and pref.wake_for_critical
    assert pref.channel_order == ["console", "telegram"]
    assert pref.min_level_per_channel == {"telegram": 4}
    shown = (await world.say("prefs")).text
    assert "channels: console, telegram" in shown and "telegram high" in shown
    assert "quiet hours: 22:00-07:00 · time zone: Europe/Berlin" in shown
    await world.say("prefs level medium")
    pref = await world.get(Preference, world.me.user_id)
    assert isinstance(pref, Preference) and pref.min_level_per_channel["telegram"] == 3
    assert set(pref.min_level_per_channel) == {kind.value for kind in ChannelKind}
    assert "level: medium and above everywhere" in (await world.say("prefs")).text
    assert (await world.say("quiet off")).text == "Quiet hours are off."


async def test_quiet_and_tz_alone_say_what_is_set_and_how_to_change_it(world: World) -> None:
    assert (await world.say("quiet")).lines == (
        "Quiet hours are off. Set them with e.g. quiet 22:00-07:00",
    )
    assert (await world.say("tz")).lines == (
        "Your time zone is UTC (it is 12:00 there now). Set yours with e.g. tz America/New_York",
    )
    await world.say("tz Europe/Berlin")
    await world.say("quiet 22:00-07:00")
    assert (await world.say("quiet")).lines == (
        "Quiet hours 22:00-07:00 (Europe/Berlin): alerts below critical wait until 07:00."
        " Change them with e.g. quiet 23:00-06:00, or quiet off",
    )
    assert (await world.say("/tz")).lines == (
        "Your time zone is Europe/Berlin (it is 13:00 there now)."
        " Change it with e.g. tz America/New_York",
    )
    user = await world.get(User, world.me.user_id)  # looking changed nothing
    assert isinstance(user, User)
    assert (user.quiet_start, user.quiet_end, user.timezone) == ("22:00", "07:00", "Europe/Berlin")


async def test_prefs_says_where_alerts_go_now(world: World) -> None:
    """The channel order names platforms the person may have no account on (the default
    lists them all): the list says which linked chat alerts go to."""
    shown = (await world.say("prefs")).text
    assert "channels: telegram, slack, discord, console (default)" in shown
    assert "alerts go to: console" in shown.splitlines()
    async with world.sessions() as session, session.begin():
        session.add(Identity(user_id=world.me.user_id, platform="telegram", external_id="7",
                             dm_address="7"))  # fmt: skip
    shown = (await world.say("prefs")).text
    assert "alerts go to: telegram; critical ones to all of telegram, console" in shown


async def test_start_greets_a_new_person_before_the_commands(world: World) -> None:
    """Telegram's first message is /start: a greeting and a first step, then the list."""
    reply = await world.say("/start")
    assert reply.lines[0].startswith("👋 Hi! I watch ticket prices"), reply.lines
    assert "e.g. watch knicks under 80" in reply.lines[1]
    assert reply.lines[2:] == (await world.say("help")).lines
    assert not (await world.say("help")).lines[0].startswith("👋")


async def test_later_features_say_not_yet_and_help_lists_everything(world: World) -> None:
    # Without a Twilio account (no PhoneKeys) phone commands say so in one line.
    assert "not set up" in (await world.say("phone +14155550123")).text
    assert "not set up" in (await world.say("contact add Sam +14155550123")).text
    assert "coming with account linking" in (await world.say("link")).text
    assert len((await world.say("help")).lines) > 15
    assert (await world.say("help snooze")).lines[-1] == "Example: snooze 12 2h"


# --- buttons and presence --------------------------------------------------------------


async def test_button_tokens_valid_forged_expired_and_not_yours(world: World) -> None:
    await world.say("watch rockies under 40")
    [row] = await world.watches()
    now = world.clock.now()
    nonce = b"\x00\x01\x02\x03"
    valid = world.signer.sign(ActionKind.PAUSE_WATCH, row.id, now=now, nonce=nonce)
    forged = ActionSigner(b"another key").sign(
        ActionKind.REMOVE_WATCH, row.id, now=now, nonce=nonce
    )
    tampered = valid[:-2] + ("AA" if valid[-2:] != "AA" else "BB")
    expired = world.signer.sign(
        ActionKind.REMOVE_WATCH, row.id, now=now - timedelta(days=8), nonce=nonce
    )

    for token in (forged, tampered, expired, "garbage!"):
        reply = await world.handlers.handle_button(world.me, token)
        assert (
            reply.is_error
            and reply.text.startswith("Sorry,")
            and "Nothing was changed" in reply.text
        )
    assert "expired" in (await world.handlers.handle_button(world.me, expired)).text
    still = await world.get(Watch, row.id)
    assert isinstance(still, Watch) and still.active and still.removed_at is None

    not_yours = await world.handlers.handle_button(world.other, valid)
    assert not_yours.is_error
    assert "Paused" in (await world.handlers.handle_button(world.me, valid)).text
    paused = await world.get(Watch, row.id)
    assert isinstance(paused, Watch) and not paused.active


async def test_every_command_and_press_records_activity(world: World) -> None:
    await world.say("watches")
    await world.say("wach yankees")  # bad input still shows the person is here
    world.clock.advance(minutes=3)
    await world.handlers.handle_button(world.me, "forged")
    async with world.sessions() as session:
        kinds = list(
            (
                await session.execute(
                    select(Activity.kind)
                    .where(Activity.user_id == world.me.user_id)
                    .order_by(Activity.id)
                )
            ).scalars()
        )
        presence = await session.get(Presence, (world.me.user_id, "console"))
    assert kinds == ["command", "message", "button"]
    assert presence is not None and presence.last_seen_at == world.clock.now()


# --- market --------------------------------------------------------------------------


async def test_market_shows_latest_snapshot_and_forecast(world: World) -> None:
    event_id = world.events["rockies"]
    async with world.sessions() as session, session.begin():
        for hours, low in ((5, 35.0), (2, 28.0)):
            session.add(
                MarketSnapshot(
                    event_id=event_id, source="seatgeek", currency="USD",
                    observed_at=world.clock.now() - timedelta(hours=hours),
                    min_price=low, median_price=None, avg_price=83.0, max_price=473.0,
                    listing_count=315, ticket_count=1344, ingested_at=world.clock.now(),
                )
            )  # fmt: skip
    reply = await world.say("market rockies")

    assert reply.lines[0] == "Rockies at Diamondbacks — Chase Field, Phoenix"
    assert "(in 11 days 8 h)" in reply.lines[1]
    assert reply.lines[2] == "Cheapest $28 · median — · highest $473"
    assert reply.lines[3] == "1,344 tickets left in 315 listings (as of 2 h ago, seatgeek)"
    assert reply.lines[4] == "Cheapest over the last 3 h: █▁ $35 → $28 (low $28)"
    assert reply.lines[5].startswith("72% chance") and reply.image == b"\x89PNG-chart"

    choices = await world.say("market red sox")
    assert [c.command for c in choices.choices] == [
        f"market #{world.events['nyy_bos']}",
        f"market #{world.events['bos_nyy']}",
    ]
    assert [c.label for c in choices.choices] == [  # venue and city tell them apart
        "Yankees at Red Sox — Fenway Park, Boston, Fri 5 Apr 23:10 UTC",
        "Red Sox at Yankees — Yankee Stadium, New York, Fri 12 Apr 23:05 UTC",
    ]
    assert "No market data yet." in (await world.say(choices.choices[0].command or "")).lines
    async with world.sessions() as session, session.begin():
        for hours in (30, 3):
            session.add(
                MarketSnapshot(
                    event_id=world.events["nyy_bos"], source="seatgeek", currency="USD",
                    observed_at=world.clock.now() - timedelta(hours=hours), min_price=45.0,
                    ingested_at=world.clock.now(),
                )
            )  # fmt: skip
    sticky = await world.say(choices.choices[0].command or "")
    assert "Cheapest over the last 1 day 3 h: unchanged at $45" in sticky.lines
    assert "Tickets left not reported (as of 3 h ago, seatgeek)" in sticky.lines  # no "?"
    assert (await world.say("market cricket")).is_error


async def _snapshots(world: World, *rows: tuple[timedelta, float | None, int]) -> int:
    """Snapshots of the Rockies game: (observed this long from now, cheapest, tickets)."""
    event_id = world.events["rockies"]
    async with world.sessions() as session, session.begin():
        for offset, low, tickets in rows:
            session.add(
                MarketSnapshot(
                    event_id=event_id, source="seatgeek", currency="USD",
                    observed_at=world.clock.now() + offset, min_price=low,
                    max_price=None if low is None else low * 10, ticket_count=tickets,
                    ingested_at=world.clock.now(),
                )
            )  # fmt: skip
    return event_id


async def test_market_headline_is_never_a_snapshot_from_the_future(world: World) -> None:
    """Ingest allows a sender's clock 5 min ahead; a stamp beyond that is not the news."""
    await _snapshots(
        world,
        (timedelta(hours=-5), 35.0, 1500),
        (timedelta(hours=-2), 28.0, 1344),
        (timedelta(days=1), 5.0, 9),  # stamped a day ahead
    )
    reply = await world.say("market rockies")

    assert reply.lines[2:5] == (
        "Cheapest $28 · median — · highest $280",
        "1,344 tickets left (as of 2 h ago, seatgeek)",
        "Cheapest over the last 3 h: █▁ $35 → $28 (low $28)",
    ), reply.text

    await _snapshots(world, (timedelta(minutes=2), 30.0, 1200))  # within the clock skew
    reply = await world.say("market rockies")
    assert reply.lines[2:4] == (
        "Cheapest $30 · median — · highest $300",
        "1,200 tickets left (as of just now, seatgeek)",
    ), reply.text
    assert "$5" not in reply.text


async def test_market_says_when_the_newest_snapshot_has_no_price(world: World) -> None:
    """Its counts are shown as its own; the price is the last one, with its time."""
    await _snapshots(
        world,
        (timedelta(hours=-5), 35.0, 1500),
        (timedelta(hours=-3), 31.0, 1400),
        (timedelta(hours=-1), None, 900),
    )
    reply = await world.say("market rockies")

    assert reply.lines[2:6] == (
        "No prices in the latest snapshot",
        "900 tickets left (as of 1 h ago, seatgeek)",
        "Last priced at Wed 20 Mar 09:00 UTC (3 h ago): cheapest $31",
        "Cheapest over the last 2 h: █▁ $35 → $31 (low $31)",
    ), reply.text


async def test_market_with_no_price_ever_says_so(world: World) -> None:
    await _snapshots(world, (timedelta(hours=-1), None, 900))
    reply = await world.say("market rockies")
    assert reply.lines[2:5] == (
        "No prices in the latest snapshot",
        "900 tickets left (as of 1 h ago, seatgeek)",
        "No price reported yet.",
    ), reply.text


@pytest.mark.parametrize(
    ("typed", "second"),
    [
        ("yankees friday", "'yankees' matches 2 upcoming events on friday — which one?"),
        ("yankees apr 5", "'yankees' matches 1 upcoming event on apr 5 — this one?"),
        ("ny yankees", "'yankees' matches 2 upcoming events — which one?"),
    ],
)
async def test_market_narrows_words_that_match_nothing_as_watch_does(
    world: World, typed: str, second: str
) -> None:
    reply = await world.say(f"market {typed}")

    assert not reply.is_error, reply.text
    assert reply.lines == (f"No upcoming event matches '{typed}'.", second)
    assert reply.choices[0].command == f"market #{world.events['nyy_bos']}"


async def test_market_of_a_misspelt_name_asks_about_the_right_spelling(world: World) -> None:
    reply = await world.say("market yankes")

    assert reply.lines == ("No upcoming event matches 'yankes'; did you mean 'yankees'?",)
    assert [c.command for c in reply.choices] == ["market yankees"]


# --- alerts --------------------------------------------------------------------------


async def _open_alert(world: World, ctx: CommandContext, text: str, level: int = 4) -> int:
    await world.say(text, ctx)
    async with world.sessions() as session, session.begin():
        watch = (
            (
                await session.execute(
                    select(Watch).where(Watch.user_id == ctx.user_id).order_by(Watch.id.desc())
                )
            )
            .scalars()
            .first()
        )
        assert watch is not None and watch.event_id is not None
        alert = Alert(
            dedup_key=f"{watch.id}:{watch.event_id}:price_below", watch_id=watch.id,
            user_id=ctx.user_id, event_id=watch.event_id, kind="price_below", score=0.7,
            level=level, factors=[], price=28.0, status="open", reason="cheapest $28 under $40",
            opened_at=world.clock.now(), updated_at=world.clock.now(),
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return alert.id


async def test_alerts_list_and_actions(world: World) -> None:
    mine = await _open_alert(world, world.me, "watch rockies under 40")
    theirs = await _open_alert(world, world.other, f"watch #{world.events['nyy_bos']} under 90", 5)
    fresh = await world.say("alerts")
    assert fresh.lines[1].endswith(" · cheapest $28 under $40 · just now")  # not "0 s ago"

    world.clock.advance(minutes=5)
    listing = await world.say("alerts")
    assert listing.lines == (
        "Open alerts:",
        f"#{mine} {LEVEL_EMOJI[Level.HIGH]} high · Rockies at Diamondbacks (Phoenix, Sun 31 Mar)"
        " · $28 · "
        "cheapest $28 under $40 · 5 min ago",
    )
    ack, snooze = listing.all_buttons()
    now = world.clock.now()
    assert world.signer.verify(ack.token or "", now=now).action is ActionKind.ACK
    assert world.signer.verify(snooze.token or "", now=now).target_id == mine

    for text in (f"ack {theirs}", f"mute {theirs}", f"snooze {theirs} 2h", f"bought {theirs}"):
        refused = await world.say(text)
        assert refused.is_error and f"no alert #{theirs}" in refused.text
    other_alert = await world.get(Alert, theirs)
    assert isinstance(other_alert, Alert) and other_alert.status == "open"

    acked = await world.say(f"ack {mine}")
    assert not acked.is_error and acked.text == (
        f"Acknowledged alert #{mine} (Rockies at Diamondbacks); no more reminders for it"
        " unless it becomes critical."
    )
    row = await world.get(Alert, mine)
    assert isinstance(row, Alert) and row.status == "acknowledged"
    assert row.acked_via is not None and "console" in row.acked_via


async def test_snooze_button_and_typed_snooze_under_a_price(world: World) -> None:
    first = await _open_alert(world, world.me, "watch rockies under 40")
    token = world.signer.sign(ActionKind.SNOOZE, first, now=world.clock.now(), nonce=b"abcd")
    reply = await world.handlers.handle_button(world.me, token)
    assert not reply.is_error and "Snoozed alert" in reply.text and "13:00" in reply.text
    row = await world.get(Alert, first)
    assert isinstance(row, Alert) and row.status == "snoozed"
    assert row.snoozed_until == world.clock.now() + timedelta(hours=1)

    refused = await world.say(f"snooze {first} under 30")  # not under the current $28
    assert refused.is_error and "e.g. snooze" in refused.text
    cheaper = await world.say(f"snooze {first} under 25")
    assert cheaper.text.endswith("until it is under $25.") and not cheaper.is_error
    row = await world.get(Alert, first)
    assert isinstance(row, Alert) and row.snooze_below == 25.0 and row.snoozed_until is None
    listed = (await world.say("alerts")).lines[1]
    assert listed.endswith(" — snoozed until under $25"), listed


async def test_mute_pauses_the_event_watch_and_tells_the_index(world: World) -> None:
    alert_id = await _open_alert(world, world.me, "watch rockies under 40")
    world.hook.calls.clear()

    reply = await world.say(f"mute {alert_id}")

    assert "Muted Rockies at Diamondbacks" in reply.text and not reply.is_error
    [(spec, change)] = world.hook.calls
    assert change is WatchChange.UPDATED and isinstance(spec, WatchSpec) and not spec.active
    row = await world.get(Alert, alert_id)
    assert isinstance(row, Alert) and row.status == "resolved"
    again = await world.say(f"mute {alert_id}")
    assert again.is_error and "\n" not in again.text
    async with world.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Alert))
    assert count == 1


async def test_ensure_user_finds_the_same_person_and_refreshes_the_identity(world: World) -> None:
    async with world.sessions() as session, session.begin():
        again = await ensure_user(
            session,
            "telegram",
            "42",
            display_name="Sam B",
            dm_address="4242",
            now=world.clock.now(),
        )
        same_id_elsewhere = await ensure_user(
            session, "telegram", "42", workspace_id="team", display_name="Sam",
            dm_address=None, now=world.clock.now(),
        )  # fmt: skip
    assert again.id == world.other.user_id
    assert same_id_elsewhere.id not in (world.other.user_id, world.me.user_id)
    async with world.sessions() as session:
        identity = (
            await session.execute(
                select(Identity).where(Identity.external_id == "42", Identity.workspace_id == "")
            )
        ).scalar_one()
        users = await session.scalar(select(func.count()).select_from(User))
    assert (identity.dm_address, identity.display_name) == ("4242", "Sam B")
    assert users == 3


# --- QA findings (session 8) ---------------------------------------------------------


async def test_watching_again_keeps_what_was_not_restated_and_says_it_resumed(
    world: World,
) -> None:
    await world.say("watch rockies under 40 qty 4 zone field level")
    [row] = await world.watches()
    await world.say(f"pause {row.id}")

    reply = await world.say("watch rockies drop 20%")

    [row] = await world.watches()
    assert (row.max_price, row.quantity, row.zones, row.drop_pct) == (
        40.0,
        4,
        ["field level"],
        20.0,
    )
    assert row.active and sorted(row.triggers) == ["drop_pct", "price_below"]
    assert reply.lines[0].endswith("(it was paused; resumed)."), reply.lines
    assert "under $40" in reply.lines[1] and "drops 20%" in reply.lines[1]


async def test_a_picked_choice_keeps_the_price_to_the_cent(world: World) -> None:
    reply = await world.say("watch yankees under 12,345.67")
    assert reply.choices, reply.text
    assert all("under 12345.67" in c.command for c in reply.choices[:-1]), reply.choices
    await world.say(reply.choices[0].command)
    [row] = await world.watches()
    assert row.max_price == 12345.67


async def test_group_members_cannot_mute_or_buy_the_groups_watch(world: World) -> None:
    member = CommandContext(world.me.user_id, "telegram", "-100", is_group=True, is_admin=False)
    admin = CommandContext(world.other.user_id, "telegram", "-100", is_group=True, is_admin=True)
    alert_id = await _open_alert(world, admin, "watch rockies under 40")

    for text in (f"bought {alert_id}", f"mute {alert_id}"):
        refused = await world.say(text, member)
        assert refused.is_error and "admins" in refused.text, refused.text
    [row] = await world.watches()
    assert row.active and not row.muted_event_ids
    assert not (await world.say(f"ack {alert_id}", member)).is_error  # anyone may ack
    assert not (await world.say(f"bought {alert_id}", admin)).is_error


async def test_search_ignores_accents_both_ways(world: World) -> None:
    reply = await world.say("watch bjork under 150")
    [row] = await world.watches()
    assert row.event_id == world.events["bjork"], reply.text
    market = await world.say("market BJORK cornucopia")
    assert market.lines[0].startswith("Björk: Cornucopia"), market.text


async def test_acting_twice_says_why_and_what_to_do(world: World) -> None:
    alert_id = await _open_alert(world, world.me, "watch rockies under 40")
    await world.say(f"bought {alert_id}")
    again = await world.say(f"bought {alert_id}")
    assert again.is_error and again.text == (
        f"alert {alert_id} is already resolved (bought via console);"
        " type alerts to see the open ones"
    )


async def test_alerts_says_when_it_shows_only_the_most_urgent(world: World) -> None:
    async with world.sessions() as session, session.begin():
        watch = Watch(
            user_id=world.me.user_id, label="rockies", event_id=world.events["rockies"], terms=[],
            triggers=["price_below"], max_price=40.0, quantity=1, zones=[],
            created_at=world.clock.now(),
        )  # fmt: skip
        session.add(watch)
        await session.flush()
        now = world.clock.now()
        session.add_all(
            Alert(
                dedup_key=f"{watch.id}:{n}", watch_id=watch.id, user_id=world.me.user_id,
                event_id=world.events["rockies"], kind="price_below", score=0.5,
                level=1 + n % 5, factors=[], price=30.0, status="open",
                opened_at=now, updated_at=now,
            )
            for n in range(25)
        )  # fmt: skip
    listing = await world.say("alerts")
    assert listing.lines[0] == "Open alerts (the 20 most urgent of 25; alerts 2 for the next page):"
    assert len(listing.lines) == 21
    rest = await world.say("alerts 2")
    assert rest.lines[0] == "Open alerts 21–25 of 25, most urgent first:"
    assert len(rest.lines) == 6
    shown = {line.split()[0] for line in (*listing.lines[1:], *rest.lines[1:])}
    assert len(shown) == 25  # every alert once, none twice
    past = await world.say("alerts 3")
    assert past.is_error and "only 2 pages" in past.text and "alerts 2" in past.text


async def test_committed_commands_wake_delivery(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, rng: random.Random
) -> None:
    woken: list[str] = []
    handlers = CommandHandlers(
        sessions, clock, rng, ActionSigner(SECRET), on_commit=lambda: woken.append("wake")
    )
    async with sessions() as session, session.begin():
        me = await ensure_user(
            session, "console", "x", display_name="x", dm_address="x", now=clock.now()
        )
    ctx = CommandContext(me.id, "console", "x")
    await handlers.handle_text(ctx, "tz America/Denver")
    assert woken == ["wake"]
    await handlers.handle_text(ctx, "tz Mars/Olympus")  # refused: nothing committed to send
    await handlers.handle_text(ctx, "watch")
    assert woken == ["wake"]


async def test_removing_pausing_or_changing_a_watch_ends_its_open_alerts(world: World) -> None:
    for command, reason in (
        ("unwatch {w}", "watch removed"),
        ("pause {w}", "watch paused"),
        ("watch rockies under 20", "watch changed"),
    ):
        alert_id = await _open_alert(world, world.me, "watch rockies under 40")
        alert = await world.get(Alert, alert_id)
        assert isinstance(alert, Alert)
        reply = await world.say(command.format(w=alert.watch_id))
        assert "Its open alert closed." in reply.text, reply.text
        ended = await world.get(Alert, alert_id)
        assert isinstance(ended, Alert) and (ended.status, ended.reason) == ("resolved", reason)
        async with world.sessions() as session, session.begin():  # start the next case afresh
            await session.execute(update(Watch).values(active=False, removed_at=world.clock.now()))


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ("watch rockies under 30", True),  # $28 is still under the new max
        ("watch rockies under 45", True),
        ("watch rockies under 25", False),  # no longer holds
        ("watch rockies under 40 qty 4", False),  # other seats: the $28 was for 1 ticket
        ("watch rockies under 40 zone 112", False),
    ],
)
async def test_changing_a_watch_keeps_the_alerts_that_still_hold(
    world: World, change: str, kept: bool
) -> None:
    """Closing every alert of a changed watch lost its snooze, and the next snapshot
    opened the still-true ones again as new alerts (told twice)."""
    alert_id = await _open_alert(world, world.me, "watch rockies under 40")
    snoozed_until = world.clock.now() + timedelta(hours=5)
    async with world.sessions() as session, session.begin():
        await session.execute(
            update(Alert).where(Alert.id == alert_id).values(snoozed_until=snoozed_until)
        )
    reply = await world.say(change)
    alert = await world.get(Alert, alert_id)
    assert isinstance(alert, Alert)
    if kept:
        assert alert.status == "open" and alert.snoozed_until == snoozed_until
        assert "closed" not in reply.text, reply.text
    else:
        assert (alert.status, alert.reason) == ("resolved", "watch changed")
        assert "Its open alert closed." in reply.text, reply.text


async def test_a_kept_alert_quotes_the_new_max_at_once(world: World) -> None:
    """The engine rewrites a reason only when the price moves: after `watch rockies under
    30` a kept alert said "at or under your max $40" in `alerts` (and in its escalation
    texts) until a snapshot moved the price."""
    alert_id = await _open_alert(world, world.me, "watch rockies under 40")
    [watch] = await world.watches()
    point = MarketPoint(world.events["rockies"], world.clock.now(), 28.0, None, None, None, 3, 9)
    event = EventRef(world.events["rockies"], "Rockies at Diamondbacks", EVENTS["rockies"][5])
    match = check(spec_from_row(watch), TriggerKind.PRICE_BELOW, event, point, None)
    assert match is not None and "your max $40" in match.reason  # as the engine words it
    async with world.sessions() as session, session.begin():
        await session.execute(update(Alert).where(Alert.id == alert_id).values(reason=match.reason))

    await world.say("watch rockies under 30")

    alert = await world.get(Alert, alert_id)
    assert isinstance(alert, Alert) and alert.status == "open"
    assert alert.reason == "cheapest $28 is at or under your max $30"
    assert " · cheapest $28 is at or under your max $30 · " in (await world.say("alerts")).lines[1]


async def test_mute_and_bought_say_the_watch_is_paused_and_how_to_resume(world: World) -> None:
    muted = await _open_alert(world, world.me, "watch rockies under 40")
    [watch] = await world.watches()
    reply = await world.say(f"mute {muted}")
    assert reply.text.endswith(
        f"Watch #{watch.id} is paused: resume {watch.id} to hear about it again."
    ), reply.text
    assert "paused" in (await world.say("watches")).text

    await world.say(f"resume {watch.id}")
    bought = await _open_alert(world, world.me, "watch rockies under 40")
    reply = await world.say(f"bought {bought}")
    assert reply.text.startswith(f"Marked alert #{bought} as bought")
    assert f"resume {watch.id} to hear about it again." in reply.text, reply.text

    # A watch of many events only mutes this one: nothing is paused, nothing said of it.
    await world.say("watch any yankees under 90")
    *_, term = await world.watches()
    async with world.sessions() as session, session.begin():
        alert = Alert(
            dedup_key="term", watch_id=term.id, user_id=world.me.user_id,
            event_id=world.events["nyy_bos"], kind="price_below", score=0.7, level=3,
            factors=[], price=80.0, status="open", opened_at=world.clock.now(),
            updated_at=world.clock.now(),
        )  # fmt: skip
        session.add(alert)
    reply = await world.say(f"mute {alert.id}")
    assert reply.text.startswith("Muted Yankees at Red Sox") and "paused" not in reply.text
