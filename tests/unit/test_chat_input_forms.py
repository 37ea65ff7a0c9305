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
    ContactAddCommand,
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


@pytest.mark.parametrize(
    ("typed", "price"),
    [
        ("watch knicks under 1.200 €", 1200.0),
        ("watch knicks under €1.200", 1200.0),
        ("watch knicks under 1.200€", 1200.0),
        ("watch knicks under 1.200 EUR", 1200.0),
        ("watch knicks under EUR 1.200", 1200.0),
        ("watch knicks under 1.200 eur", 1200.0),
        ("watch knicks under 12.345 €", 12345.0),
        ("watch knicks under 100.000 €", 100000.0),
        ("watch knicks €1.200", 1200.0),
        # Unchanged: not exactly three digits after the dot, or a decimal comma.
        ("watch knicks under 1.20 €", 1.2),
        ("watch knicks under €1.2", 1.2),
        ("watch knicks under 1.2000 €", 1.2),
        ("watch knicks under 1.200,50 €", 1200.5),
    ],
)
def test_a_euro_price_reads_dots_before_three_digits_as_thousands(typed: str, price: float) -> None:
    # A European writes twelve hundred euros as 1.200 €; a euro amount has two decimals.
    command = parse(typed)
    assert isinstance(command, WatchCommand)
    assert command.what == "knicks"
    assert command.max_price == price
    assert command.currency == "EUR"


@pytest.mark.parametrize(
    ("typed", "price", "currency"),
    [
        ("watch knicks under 1.200", 1.2, None),
        ("watch rockies under 57.999", 58.0, None),
        ("watch knicks under $1.200", 1.2, "USD"),
        ("watch knicks under 1.200 GBP", 1.2, "GBP"),
    ],
)
def test_a_price_not_in_euros_keeps_its_decimal_dot(
    typed: str, price: float, currency: str | None
) -> None:
    command = parse(typed)
    assert isinstance(command, WatchCommand)
    assert command.max_price == price
    assert command.currency == currency


def test_snooze_under_reads_euro_thousands() -> None:
    command = parse("snooze 12 under 1.200 €")
    assert isinstance(command, SnoozeCommand)
    assert command.below == 1200.0


def test_euro_thousands_past_the_largest_price_name_the_limit() -> None:
    with pytest.raises(CommandError) as caught:
        parse("watch knicks under 1.200.000 €")
    assert caught.value.reason == "price must be at most €100,000"


def test_dotted_groups_without_euros_are_still_not_a_number() -> None:
    with pytest.raises(CommandError) as caught:
        parse("watch knicks under 1.200.000")
    assert caught.value.reason == "price must be a number, not '1.200.000'"


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


# --- digits of other scripts in a phone number --------------------------------------------


_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


@pytest.mark.parametrize(
    "typed",
    [
        "+44 7700 900123".translate(_ARABIC_INDIC),  # +٤٤ ٧٧٠٠ ٩٠٠١٢٣
        "+44 7700 900123".translate(_PERSIAN),
        "+44 7700 900123".translate(_DEVANAGARI),
        "+4" + "4 7700 900123".translate(_ARABIC_INDIC),  # one script mixed into the other
        "＋44 7700 900123".translate(_ARABIC_INDIC),  # a fullwidth plus
    ],
)
def test_a_phone_in_other_digits_is_stored_in_ascii(typed: str) -> None:
    command = parse(f"phone {typed}")
    assert command == PhoneCommand("+447700900123")
    assert isinstance(command, PhoneCommand) and command.number.isascii()


def test_an_emergency_contact_in_other_digits_is_stored_in_ascii() -> None:
    command = parse("contact add mum " + "+44 7700 900123".translate(_ARABIC_INDIC))
    assert command == ContactAddCommand(name="mum", number="+447700900123")


def test_a_code_in_other_digits_reads_as_ascii() -> None:
    assert parse("phone " + "123456".translate(_ARABIC_INDIC)) == PhoneCodeCommand("123456")


def test_an_international_00_in_other_digits_suggests_the_ascii_plus() -> None:
    with pytest.raises(CommandError) as caught:
        parse("phone " + "0044 7700 900123".translate(_ARABIC_INDIC))
    assert caught.value.reason == "write the international 00 as +"
    assert caught.value.example == "phone +447700900123"


def test_a_phone_without_a_country_in_other_digits_is_still_refused() -> None:
    with pytest.raises(CommandError) as caught:
        parse("phone " + "7700 900123".translate(_ARABIC_INDIC))
    assert caught.value.reason == "phone numbers use the international form +<country><number>"
