"""Input forms people really type in chat (QA pass): quiet-hour ranges written with "to",
4-digit or dotted times; European decimal commas in prices; "?" for help; fullwidth
digits from East Asian keyboards. Each is parsed through `core.commands.parse`."""

from __future__ import annotations

import pytest

from core.command_help import help_lines
from core.commands import (
    AckCommand,
    AlertsCommand,
    CommandError,
    HelpCommand,
    PhoneCodeCommand,
    PhoneCommand,
    QuietCommand,
    SnoozeCommand,
    UnwatchCommand,
    WatchCommand,
    parse,
)

# --- quiet hours ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "quiet 22:00 to 07:00",
        "quiet 22:00 TO 07:00",
        "quiet 22:00 until 07:00",
        "quiet 22:00 till 07:00",
        "quiet 2200-0700",
        "quiet 2200 to 0700",
        "quiet 22.00-07.00",
        "quiet 22.00 - 07.00",
        "quiet 22:00–07:00",  # an en dash
        "quiet 22:00 – 07:00",
        "quiet 10pm to 7am",
        "quiet ２２：００－０７：００",  # fullwidth, from an East Asian keyboard
        "quiet 22:00～07:00",  # fullwidth tilde, the Japanese range mark
    ],
)
def test_quiet_reads_the_ranges_people_type(typed: str) -> None:
    assert parse(typed) == QuietCommand("22:00", "07:00")


def test_quiet_reads_a_four_digit_time_with_minutes() -> None:
    assert parse("quiet 2230-0615") == QuietCommand("22:30", "06:15")


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("quiet 2500-0700", "'2500' is not a time of day (00:00 to 23:59)"),
        ("quiet 2261-0700", "'2261' is not a time of day (00:00 to 23:59)"),
        ("quiet 22.75-07.00", "'22.75' is not a time of day (00:00 to 23:59)"),
        ("quiet 22-", "quiet hours are a range like 22:00-07:00, or off"),
        ("quiet 22 to", "quiet hours are a range like 22:00-07:00, or off"),
        ("quiet to 07:00", "quiet hours are a range like 22:00-07:00, or off"),
        ("quiet 22:00 to 07:00 to 09:00", "quiet hours are a range like 22:00-07:00, or off"),
        ("quiet 220-0700", "'220' is not a time like 22:00"),
        ("quiet 22000-0700", "'22000' is not a time like 22:00"),
        ("quiet tonight", "quiet hours are a range like 22:00-07:00, or off"),
    ],
)
def test_quiet_still_refuses_nonsense(typed: str, reason: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(typed)
    assert caught.value.reason == reason
    assert caught.value.example == "quiet 22:00-07:00"


def test_quiet_help_names_the_other_forms() -> None:
    text = "\n".join(help_lines("quiet"))
    assert "22:00 to 07:00" in text
    assert "2200-0700" in text


# --- prices with a decimal comma --------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "price", "currency"),
    [
        ("watch knicks under 80,50", 80.5, None),
        ("watch knicks under 1.200,50 €", 1200.5, "EUR"),
        ("watch knicks under 1.200,50€", 1200.5, "EUR"),
        ("watch knicks under €80,50", 80.5, "EUR"),
        ("watch knicks under 80,50 EUR", 80.5, "EUR"),
        ("watch knicks under 1200,05", 1200.05, None),
        # Unchanged: a comma before three digits groups thousands.
        ("watch knicks under 1,200", 1200.0, None),
        ("watch knicks under ¥7,000", 7000.0, "JPY"),
        ("watch knicks under $1,200.50", 1200.5, "USD"),
        ("watch knicks under 80.50", 80.5, None),
        ("watch knicks under £80", 80.0, "GBP"),
        ("watch knicks under 80 GBP", 80.0, "GBP"),
    ],
)
def test_a_price_reads_a_decimal_comma_only_when_nothing_else_fits(
    typed: str, price: float, currency: str | None
) -> None:
    command = parse(typed)
    assert isinstance(command, WatchCommand)
    assert command.what == "knicks"
    assert command.max_price == price
    assert command.currency == currency


def test_snooze_under_reads_a_decimal_comma() -> None:
    command = parse("snooze 12 under 59,90")
    assert isinstance(command, SnoozeCommand)
    assert command.below == 59.9


@pytest.mark.parametrize("price", ["80,5", "1,2345", "1,20,50", "1.200,5", "1,200,50", ",50"])
def test_a_comma_that_reads_no_one_way_asks_for_a_dot(price: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(f"watch knicks under {price}")
    assert caught.value.reason == (
        f"price must be a number, not '{price}'; write cents with a dot, like 80.50"
    )


def test_a_price_without_a_comma_keeps_its_reason() -> None:
    with pytest.raises(CommandError) as caught:
        parse("watch knicks under eighty")
    assert caught.value.reason == "price must be a number, not 'eighty'"


# --- "?" for help -----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["?", "/?", "？"])
def test_a_question_mark_alone_is_help(typed: str) -> None:
    assert parse(typed) == HelpCommand()


def test_a_question_mark_before_a_command_is_its_help() -> None:
    assert parse("? watch") == HelpCommand("watch")


# --- fullwidth digits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("unwatch ３", UnwatchCommand(3)),
        ("unwatch ＃１２", UnwatchCommand(12)),
        ("ack １２", AckCommand(12)),
        ("ｕｎｗａｔｃｈ 3", UnwatchCommand(3)),
        ("alerts ２", AlertsCommand(page=2)),
        ("phone １２３４５６", PhoneCodeCommand("123456")),
        ("phone ＋１４１５５５５０１２３", PhoneCommand("+14155550123")),
    ],
)
def test_fullwidth_digits_read_as_numbers(typed: str, expected: object) -> None:
    assert parse(typed) == expected


def test_fullwidth_digits_in_watch_options() -> None:
    command = parse("watch knicks under ８０ qty ２ drop １５％")
    assert isinstance(command, WatchCommand)
    assert (command.max_price, command.quantity, command.drop_pct) == (80.0, 2, 15.0)


def test_snooze_reads_a_fullwidth_duration() -> None:
    command = parse("snooze １２ ２ｈ")
    assert isinstance(command, SnoozeCommand)
    assert command.alert_id == 12
    assert command.duration is not None
    assert command.duration.total_seconds() == 7200


def test_a_watch_name_keeps_the_characters_typed() -> None:
    # Names are stored and shown as typed: only the number readers are normalised.
    command = parse("watch ｋｎｉｃｋｓ ２０２６ under ８０")
    assert isinstance(command, WatchCommand)
    assert command.what == "ｋｎｉｃｋｓ ２０２６"
    assert command.max_price == 80.0


def test_digits_of_other_scripts_are_still_refused() -> None:
    # NFKC leaves Arabic-Indic digits as they are: still not an id.
    with pytest.raises(CommandError):
        parse("unwatch ٣")
