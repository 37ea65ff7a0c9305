"""The chat command grammar: good input parses to the right value; bad input to one line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.command_help import SPECS, help_lines
from core.commands import (
    AckCommand,
    AlertsCommand,
    BoughtCommand,
    ChannelOrder,
    CommandError,
    ContactAddCommand,
    DigestSchedule,
    ForgetLearning,
    HelpCommand,
    LinkCommand,
    MarketCommand,
    MinLevel,
    MuteCommand,
    PauseCommand,
    PhoneCodeCommand,
    PhoneCommand,
    PrefsCommand,
    QuietCommand,
    ResumeCommand,
    SnoozeCommand,
    TzCommand,
    UnwatchCommand,
    WakeForCritical,
    WatchCommand,
    WatchesCommand,
    command_name,
    parse,
)
from core.domain import ChannelKind, Level

LINK_CODE_ERROR = (
    "a link code is the one word of 4 or more letters and digits that link gives, e.g. link K7P2QX"
)

GOOD = [
    ("watch yankees under 80", WatchCommand("yankees", max_price=80.0)),
    ("/watch Yankees under $80", WatchCommand("Yankees", max_price=80.0, currency="USD")),
    ("/watch@HDTicketsBot yankees $80.50 qty 2", WatchCommand("yankees", 80.5, 2, currency="USD")),
    ("WATCH Red Sox UNDER 80 QTY 4", WatchCommand("Red Sox", 80.0, 4)),
    ("  watch    red   sox   under   80  ", WatchCommand("red sox", 80.0)),
    ("watch yankees under 1,250", WatchCommand("yankees", 1250.0)),
    ("watch\tyankees\r\nunder 80", WatchCommand("yankees", 80.0)),  # whitespace, not control
    ("watch yankees under 80$", WatchCommand("yankees", 80.0, currency="USD")),
    (
        "watch yankees zone field level drop 15%",
        WatchCommand("yankees", zone="field level", drop_pct=15.0),
    ),
    ("watch yankees drop 15 %", WatchCommand("yankees", drop_pct=15.0)),
    ("watch yankees drop 12.5", WatchCommand("yankees", drop_pct=12.5)),
    ("watch yankees section 112 under 90", WatchCommand("yankees", 90.0, zone="112")),
    ("watch #12 under 80", WatchCommand("#12", 80.0, event_id=12)),
    ("watch any rockies under 40", WatchCommand("rockies", 40.0, any_event=True)),
    ('watch "under the sea" under 50', WatchCommand("under the sea", 50.0)),
    ("watch “Under Pressure” qty 2", WatchCommand("Under Pressure", quantity=2)),
    ("watch under the sea", WatchCommand("under the sea")),
    ("watch Björk 🎤 under 120", WatchCommand("Björk 🎤", 120.0)),
    ("watch Sigur Rós", WatchCommand("Sigur Rós")),
    ("watch Guns N' Roses under 90", WatchCommand("Guns N' Roses", 90.0)),
    ("watch yankees under 80!", WatchCommand("yankees", 80.0)),  # the end of a sentence
    ("watch yankees under $80.", WatchCommand("yankees", 80.0, currency="USD")),
    ("watch yankees qty 2?", WatchCommand("yankees", quantity=2)),
    ("watch yankees drop 15%!!", WatchCommand("yankees", drop_pct=15.0)),
    ("watch yankees zone bleachers.", WatchCommand("yankees", zone="bleachers")),
    ("watch yankees under 80 !", WatchCommand("yankees", 80.0)),
    ("watch yankees!", WatchCommand("yankees")),
    ("watch Panic! at the Disco", WatchCommand("Panic! at the Disco")),
    ("market #12.", MarketCommand("#12", event_id=12)),
    ("watches", WatchesCommand()),
    ("/list", WatchesCommand()),
    ("unwatch 3", UnwatchCommand(3)),
    ("unwatch #3", UnwatchCommand(3)),
    ("remove 3", UnwatchCommand(3)),
    ("pause 3", PauseCommand(3)),
    ("pause all", PauseCommand(None)),
    ("resume ALL", ResumeCommand(None)),
    ("quiet", QuietCommand(None, None, show=True)),
    ("tz", TzCommand(None)),
    ("Resume 3", ResumeCommand(3)),
    ("alerts", AlertsCommand()),
    ("alerts 2", AlertsCommand(page=2)),
    ("ack 12", AckCommand(12)),
    ("/acknowledge 12", AckCommand(12)),
    ("snooze 12", SnoozeCommand(12, timedelta(hours=1))),
    ("snooze 12 30m", SnoozeCommand(12, timedelta(minutes=30))),
    ("snooze 12 2h", SnoozeCommand(12, timedelta(hours=2))),
    ("snooze 12 1d", SnoozeCommand(12, timedelta(days=1))),
    ("snooze 12 for 2 hours", SnoozeCommand(12, timedelta(hours=2))),
    ("snooze 12 under $60", SnoozeCommand(12, None, 60.0)),
    # QA: a price in another currency than $ parses and carries what was typed
    ("watch bjork under £80", WatchCommand("bjork", 80.0, currency="GBP")),
    ("watch bjork £80 qty 2", WatchCommand("bjork", 80.0, 2, currency="GBP")),
    ("watch bjork under 80€", WatchCommand("bjork", 80.0, currency="EUR")),
    ("watch bjork under ¥7,000", WatchCommand("bjork", 7000.0, currency="JPY")),
    ("watch bjork under GBP 80 qty 2", WatchCommand("bjork", 80.0, 2, currency="GBP")),
    ("watch bjork under 80 gbp", WatchCommand("bjork", 80.0, currency="GBP")),
    # codes without a symbol of ours: a Blue Jays game priced in Canadian dollars
    ("watch blue jays under 80 CAD", WatchCommand("blue jays", 80.0, currency="CAD")),
    ("watch blue jays under cad 80 qty 2", WatchCommand("blue jays", 80.0, 2, currency="CAD")),
    ("watch wallabies under AUD120", WatchCommand("wallabies", 120.0, currency="AUD")),
    ("snooze 2 under £200", SnoozeCommand(2, None, 200.0)),
    ("snooze 2 under 200 EUR", SnoozeCommand(2, None, 200.0)),
    ("mute 12", MuteCommand(12)),
    ("bought 12", BoughtCommand(12)),
    ("market yankees red sox", MarketCommand("yankees red sox")),
    ("market #7", MarketCommand("#7", event_id=7)),
    ("market any yankees", MarketCommand("yankees")),  # as a watch says it
    ('watch "any" under 50', WatchCommand("any", 50.0)),  # a name, quoted
    ("prefs", PrefsCommand()),
    (
        "prefs channels telegram, console",
        PrefsCommand(ChannelOrder((ChannelKind.TELEGRAM, ChannelKind.CONSOLE))),
    ),
    ("prefs level high", PrefsCommand(MinLevel(Level.HIGH))),
    ("prefs level telegram 4", PrefsCommand(MinLevel(Level.HIGH, ChannelKind.TELEGRAM))),
    ("prefs digest DAILY", PrefsCommand(DigestSchedule("daily"))),
    ("prefs wake on", PrefsCommand(WakeForCritical(True))),
    ("prefs wake-for-critical off", PrefsCommand(WakeForCritical(False))),
    ("quiet 22:00-07:00", QuietCommand("22:00", "07:00")),
    ("quiet 22:30 - 7", QuietCommand("22:30", "07:00")),
    ("quiet 23–6", QuietCommand("23:00", "06:00")),
    ("quiet off", QuietCommand(None, None)),
    ("tz America/New_York", TzCommand("America/New_York")),
    ("tz utc", TzCommand("UTC")),
    ("watch rockies 40$", WatchCommand("rockies", 40.0, currency="USD")),
    ("watch rockies under 57.999", WatchCommand("rockies", 58.0)),
    ('watch "under the sea" under 50', WatchCommand("under the sea", 50.0)),
    ("watch under the sea", WatchCommand("under the sea")),
    ("prefs level critical console", PrefsCommand(MinLevel(Level.CRITICAL, ChannelKind.CONSOLE))),
    ("prefs level console critical", PrefsCommand(MinLevel(Level.CRITICAL, ChannelKind.CONSOLE))),
    ("tz europe/london", TzCommand("Europe/London")),
    ("tz UTC", TzCommand("UTC")),
    ("phone +1 (415) 555-0123", PhoneCommand("+14155550123")),
    ("phone 123 456", PhoneCodeCommand("123456")),  # the texted code, typed in two groups
    ("phone 123456", PhoneCodeCommand("123456")),
    ("contact add Sam Smith +44 20 7946 0958", ContactAddCommand("Sam Smith", "+442079460958")),
    ("link", LinkCommand()),
    ("link K7P2QX", LinkCommand("K7P2QX")),
    ("/start K7P2QX", LinkCommand("K7P2QX")),
    ("/start", HelpCommand(welcome=True)),
    ("start", HelpCommand(welcome=True)),
    ("help", HelpCommand()),
    ("help /Snooze", HelpCommand("snooze")),
    ("help me please", HelpCommand()),
    ("help watch now", HelpCommand("watch")),
    ("tickets watch yankees under 80", WatchCommand("yankees", 80.0)),
    ("/tickets", HelpCommand()),
    ("@HDTicketsBot watch yankees", WatchCommand("yankees")),
    (
        "@HDTicketsBot /watch@HDTicketsBot yankees $80",
        WatchCommand("yankees", 80.0, currency="USD"),
    ),
    ("<@U024BE7LH> watch yankees under 80", WatchCommand("yankees", 80.0)),
    ("@bot tickets alerts", AlertsCommand()),
    ("watch any " + "x" * 200, WatchCommand("x" * 200, any_event=True)),
    (
        'watch "any mad max ' + "x" * 189 + '" under 5',
        WatchCommand("mad max " + "x" * 189, 5.0, any_event=True),
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t for t, _ in GOOD])
def test_parses(text: str, expected: object) -> None:
    assert parse(text) == expected


BAD = [
    ("", "say a command, e.g. help"),
    ("   ", "say a command, e.g. help"),
    (
        "wach yankees",
        "unknown command 'wach' (did you mean watch?), e.g. watch yankees under 80 qty 2",
    ),
    ("/snoze 3 2h", "unknown command 'snoze' (did you mean snooze?), e.g. snooze 12 2h"),
    ("xyzzy", "unknown command 'xyzzy'; type help for the list, e.g. help"),
    ("🎟️", "unknown command '🎟️'; type help for the list, e.g. help"),
    ("watch", "say what to watch, e.g. watch yankees under 80 qty 2"),
    ("watch    ", "say what to watch, e.g. watch yankees under 80 qty 2"),
    ("watch yankees under", "'under' needs a price after it, e.g. watch yankees under 80"),
    # QA: an option word with nothing after it says so, instead of naming the watch
    ("watch under", "'under' needs a price after it, e.g. watch yankees under 80"),
    ("watch qty", "'qty' needs a number of tickets after it, e.g. watch yankees qty 2"),
    ("watch Drop", "'Drop' needs a percentage after it, e.g. watch yankees Drop 15%"),
    (
        "watch yankees under 50 qty",
        "'qty' needs a number of tickets after it, e.g. watch yankees qty 2",
    ),
    ("watch yankees qty -2", "quantity must be between 1 and 50, e.g. watch yankees qty 2"),
    ("watch yankees under £-3", "price must be at least £0.01, e.g. watch yankees under 80 qty 2"),
    (
        "watch yankees under $£80",
        "price must be a number, not '$£80', e.g. watch yankees under 80 qty 2",
    ),
    ("snooze 2 under GBP 80 now", "snooze under takes one price, e.g. snooze 12 under 60"),
    (
        "watch blue jays under $80 CAD",
        "the price says USD and then 'CAD'; give one currency, e.g. watch blue jays under 80 CAD",
    ),
    (
        "watch yankees under eighty",
        "price must be a number, not 'eighty', e.g. watch yankees under 80 qty 2",
    ),
    ("watch yankees under -5", "price must be at least $0.01, e.g. watch yankees under 80 qty 2"),
    ("watch yankees under 0", "price must be at least $0.01, e.g. watch yankees under 80 qty 2"),
    (
        "watch yankees under 1000000",
        "price must be at most $100,000, e.g. watch yankees under 80 qty 2",
    ),
    (
        "watch yankees under 1e9",
        "price must be a number, not '1e9', e.g. watch yankees under 80 qty 2",
    ),
    (  # 80,50 reads as a decimal comma (test_chat_input_forms); one digit after it does not
        "watch yankees under 80,5",
        "price must be a number, not '80,5'; write cents with a dot, like 80.50,"
        " e.g. watch yankees under 80 qty 2",
    ),
    (
        "watch yankees under ٨٠",
        "price must be a number, not '٨٠', e.g. watch yankees under 80 qty 2",
    ),
    ("watch yankees under 80 under 90", "price is given twice, e.g. watch yankees under 80 qty 2"),
    ("watch yankees qty", "'qty' needs a number of tickets after it, e.g. watch yankees qty 2"),
    ("watch yankees qty two", "quantity must be a whole number, e.g. watch yankees qty 2"),
    ("watch yankees qty 0", "quantity must be between 1 and 50, e.g. watch yankees qty 2"),
    ("watch yankees qty 500", "quantity must be between 1 and 50, e.g. watch yankees qty 2"),
    ("watch yankees drop lots", "drop must be a percentage like 10%, e.g. watch yankees drop 15%"),
    ("watch yankees drop 0%", "drop must be between 1% and 95%, e.g. watch yankees drop 15%"),
    ("watch yankees drop 150%", "drop must be between 1% and 95%, e.g. watch yankees drop 15%"),
    ("watch yankees drop nan", "drop must be a percentage like 10%, e.g. watch yankees drop 15%"),
    ("watch yankees zone", "'zone' needs a zone after it, e.g. watch yankees zone field level"),
    (
        "watch yankees under 80 please",
        "unexpected 'please' after the name, e.g. watch yankees under 80 qty 2",
    ),
    ('watch "yankees under 80', 'a quote is not closed, e.g. watch "under the sea" under 50'),
    ("watch #abc", "event id must be a number, e.g. watch #12 under 80"),
    ("watch any", "say what to watch after any, e.g. watch any yankees under 80"),
    ("watch ANY under 50", "say what to watch after any, e.g. watch any yankees under 80"),
    (
        "watch " + "x" * 201,
        "that name is too long (at most 200 characters), e.g. watch yankees under 80 qty 2",
    ),
    (
        "watch any " + "x" * 201,
        "that name is too long (at most 200 characters), e.g. watch yankees under 80 qty 2",
    ),
    ("watches 3", "watches takes nothing after it, e.g. watches"),
    ("alerts all", "alerts takes a page number only, e.g. alerts 2"),
    ("alerts 0", "pages are numbered 1 to 1000, e.g. alerts 2"),
    ("unwatch", "which watch? give its number, e.g. unwatch 3"),
    ("unwatch three", "watch id must be a number, e.g. unwatch 3"),
    ("unwatch 3 4", "give one watch number only, e.g. unwatch 3"),
    ("unwatch -3", "watch id must be a number, e.g. unwatch 3"),
    ("unwatch 0", "there is no watch 0, e.g. unwatch 3"),
    ("unwatch 99999999999999999999999", "there is no watch with that id, e.g. unwatch 3"),
    ("pause 1.5", "watch id must be a number, e.g. pause 3"),
    ("resume", "which watch? give its number, e.g. resume 3"),
    ("ack", "which alert? give its number, e.g. ack 12"),
    ("ack twelve", "alert id must be a number, e.g. ack 12"),
    ("ack ١٢", "alert id must be a number, e.g. ack 12"),
    ("mute", "which alert? give its number, e.g. mute 12"),
    ("bought x", "alert id must be a number, e.g. bought 12"),
    ("snooze", "which alert? give its number, e.g. snooze 12 2h"),
    ("snooze x 2h", "alert id must be a number, e.g. snooze 12 2h"),
    ("snooze 12 5x", "'5x' is not a duration like 30m, 2h or 1d, e.g. snooze 12 2h"),
    ("snooze 12 0m", "a snooze must last at least 1 minute, e.g. snooze 12 2h"),
    ("snooze 12 90d", "a snooze can last at most 30 days, e.g. snooze 12 2h"),
    ("snooze 12 tomorrow", "'tomorrow' is not a duration like 30m, 2h or 1d, e.g. snooze 12 2h"),
    ("snooze 12 under", "a price is missing, e.g. snooze 12 under 60"),
    ("snooze 12 under cheap", "price must be a number, not 'cheap', e.g. snooze 12 under 60"),
    ("snooze 12 under 60 70", "snooze under takes one price, e.g. snooze 12 under 60"),
    ("market", "say which event, e.g. market yankees red sox"),
    ("market #x", "event id must be a number, e.g. market #12"),
    (
        "prefs colour blue",
        "unknown setting 'colour'; use channels, level, digest, wake or learning,"
        " e.g. prefs digest daily",
    ),
    ("prefs digest", "prefs digest needs a value, e.g. prefs digest daily"),
    ("prefs digest weekly", "digest is hourly or daily, e.g. prefs digest daily"),
    ("prefs digest daily now", "prefs digest takes one value, e.g. prefs digest daily"),
    ("prefs wake maybe", "'maybe' is not on or off, e.g. prefs wake on"),
    ("prefs level 9", "'9' is not a level (1-5 or low..critical), e.g. prefs level high"),
    ("prefs level urgent", "'urgent' is not a level (1-5 or low..critical), e.g. prefs level high"),
    # A channel with its level left out is not "'sms' is not a level".
    ("prefs level SMS", "say the level for sms, e.g. prefs level sms high"),
    (
        "prefs channels telgram",
        "unknown channel 'telgram' (known: console, webhook, telegram, slack, discord, sms, "
        "voice), e.g. prefs channels telegram,console",
    ),
    ("quiet 22:00", "quiet hours are a range like 22:00-07:00, or off, e.g. quiet 22:00-07:00"),
    ("quiet 25:00-07:00", "'25:00' is not a time of day (00:00 to 23:59), e.g. quiet 22:00-07:00"),
    ("quiet 22:61-07:00", "'22:61' is not a time of day (00:00 to 23:59), e.g. quiet 22:00-07:00"),
    ("quiet ten-seven", "'ten' is not a time like 22:00, e.g. quiet 22:00-07:00"),
    ("quiet 7-7", "quiet hours must start and end at different times, e.g. quiet 22:00-07:00"),
    ("quiet 1-2-3", "quiet hours are a range like 22:00-07:00, or off, e.g. quiet 22:00-07:00"),
    # A missing end (or both) is not a range: never "'' is not a time".
    ("quiet 22:00-", "quiet hours are a range like 22:00-07:00, or off, e.g. quiet 22:00-07:00"),
    ("quiet -07:00", "quiet hours are a range like 22:00-07:00, or off, e.g. quiet 22:00-07:00"),
    ("quiet -", "quiet hours are a range like 22:00-07:00, or off, e.g. quiet 22:00-07:00"),
    ("tz Mars/Olympus", "unknown time zone 'Mars/Olympus', e.g. tz America/New_York"),
    (
        "tz America/NewYork",
        "unknown time zone 'America/NewYork' (did you mean America/New_York?), "
        "e.g. tz America/New_York",
    ),
    ("tz ../../etc/passwd", "unknown time zone '../../etc/passwd', e.g. tz America/New_York"),
    ("tz New York", "give one time zone as Area/City, e.g. tz America/New_York"),
    (
        "tz EST",
        "'EST' is an abbreviation; say the place, which knows its daylight saving,"
        " e.g. tz America/New_York",
    ),
    (
        "tz pst",
        "'pst' is an abbreviation; say the place, which knows its daylight saving,"
        " e.g. tz America/Los_Angeles",
    ),
    ("tz America", "'America' is a region; add the city, e.g. tz America/New_York"),
    ("tz Europe", "'Europe' is a region; add the city, e.g. tz Europe/London"),
    (
        "tz GMT+5",
        "'GMT+5' is an offset; say the place, which knows its daylight saving,"
        " e.g. tz America/New_York",
    ),
    ("tz localtime", "unknown time zone 'localtime', e.g. tz America/New_York"),
    ("tz Factory", "unknown time zone 'Factory', e.g. tz America/New_York"),
    ("tz posixrules", "unknown time zone 'posixrules', e.g. tz America/New_York"),
    ("tz " + "a" * 300, f"unknown time zone '{'a' * 40}…', e.g. tz America/New_York"),
    ("snooze 3 1000000000d", "a snooze can last at most 30 days, e.g. snooze 12 2h"),
    ("snooze 3 99999999999999999999w", "a snooze can last at most 30 days, e.g. snooze 12 2h"),
    (
        "watch rockies under 0.001",
        "price must be at least $0.01, e.g. watch yankees under 80 qty 2",
    ),
    ("watch under 80", "say what to watch before its options, e.g. watch yankees under 80 qty 2"),
    ("watch $80", "say what to watch before its options, e.g. watch yankees under 80 qty 2"),
    ("watch qty 2", "say what to watch before its options, e.g. watch yankees under 80 qty 2"),
    ("watch drop 10%", "say what to watch before its options, e.g. watch yankees under 80 qty 2"),
    (
        'watch "" under 50',
        "say what to watch before its options, e.g. watch yankees under 80 qty 2",
    ),
    (
        "watch Mad Max under 50",
        "'Max' reads as an option; put a name that holds it in quotes,"
        ' e.g. watch "mad max" under 50',
    ),
    (
        "watch rockies zone " + "x" * 201,
        "that zone is too long (at most 200 characters), e.g. watch yankees zone field level",
    ),
    ("prefs channels ,", "say at least one channel, e.g. prefs channels telegram,console"),
    ("/", "say a command after the /, e.g. help"),
    ("@bot", "say a command after @bot, e.g. help"),
    ("phone", "give your number, e.g. phone +14155550123"),
    (
        "phone 555-0123",
        "phone numbers use the international form +<country><number>, e.g. phone +14155550123",
    ),
    (
        "contact Sam +14155550123",
        "use contact add <name> <number>, e.g. contact add Sam +14155550123",
    ),
    (
        "contact add +14155550123",
        "contact add needs a name and a number, e.g. contact add Sam +14155550123",
    ),
    ("contact add Sam", "contact add needs a name and a number, e.g. contact add Sam +14155550123"),
    ("link no way", LINK_CODE_ERROR),
    ("link ab", LINK_CODE_ERROR),
    ("phone 0044 20 7946 0958", "write the international 00 as +, e.g. phone +442079460958"),
    (
        "contact add Sam 0044 20 7946 0958",
        "write the international 00 as +, e.g. contact add Sam +442079460958",
    ),
    ("help wtch", "no command 'wtch' (did you mean watch?), e.g. help watch"),
    ("help me", "no command 'me', e.g. help watch"),
    ("watch yan\x00kees", "that message holds a NUL or a broken character, e.g. help"),
    ("watch \ud83c under 50", "that message holds a NUL or a broken character, e.g. help"),
    # An escape code would be stored in the name and replayed to every terminal showing it.
    (
        "watch re\x1b[2Jd under 40",
        "that message holds a control character (an escape code?), e.g. help",
    ),
    (
        "contact add Sam\x07 +14155550123",
        "that message holds a control character (an escape code?), e.g. help",
    ),
    ("watch \x9bred", "that message holds a control character (an escape code?), e.g. help"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[ascii(t) for t, _ in BAD])
def test_bad_input_gets_one_line_and_an_example(text: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert caught.value.example and caught.value.reason
    # The example offered must itself parse: people copy it.
    for example in caught.value.example.split(" or "):
        parse(example)


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_command_has_help_and_a_working_example(spec: object) -> None:
    from core.command_help import CommandSpec

    assert isinstance(spec, CommandSpec)
    parse(spec.example)
    assert command_name(spec.example) == spec.name
    lines = help_lines(spec.name)
    assert lines[:3] == [spec.usage, spec.summary, f"Example: {spec.example}"]
    assert any(line.startswith(spec.usage) for line in help_lines())


def test_command_name_strips_slash_bot_and_slack_prefix() -> None:
    assert command_name("/Watch@HDTBot yankees") == "watch"
    assert command_name("tickets alerts") == "alerts"
    assert command_name("remove 3") == "unwatch"
    assert command_name("@HDTBot /ack 3") == "ack"
    assert command_name("@HDTBot") == ""
    assert command_name("") == ""


@pytest.mark.parametrize(
    ("text", "currency"),
    [("snooze 2 under £200", "GBP"), ("snooze 2 under ¥7000", "JPY"), ("snooze 2 under 80", None)],
)
def test_snooze_under_carries_the_currency_typed(text: str, currency: str | None) -> None:
    command = parse(text)
    assert isinstance(command, SnoozeCommand)
    assert getattr(command.below, "currency", "not a Price") == currency


def test_prefs_learning_takes_reset_only() -> None:
    assert parse("prefs learning reset") == PrefsCommand(ForgetLearning())
    assert parse("prefs learned forget") == PrefsCommand(ForgetLearning())
    with pytest.raises(CommandError) as caught:
        parse("prefs learning off")
    assert str(caught.value) == (
        "prefs learning takes reset (forget what was learned), e.g. prefs learning reset"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ack 12\u200b", AckCommand(12)),
        ("\ufeffwatch mlb\u200b", WatchCommand("mlb")),
        ("watch yan\u200dkees under 80\u2060", WatchCommand("yankees", 80.0)),
        ("mute\u200c 3", MuteCommand(3)),
    ],
)
def test_pasted_zero_width_characters_are_dropped_before_any_word_is_read(
    text: str, expected: object
) -> None:
    assert parse(text) == expected
