"""Small fixes in pure code: ingest messages and listing URLs, webhook URLs with control
characters, the CLI's leading "/watch", and time-zone examples in the caller's form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.webhook.ssrf import SsrfPolicy, validate_url
from bot.cli.watches import _command_text
from core.command_values import CommandError, parse_zone
from core.domain import EventInfo, Listing, SnapshotIn
from core.errors import ValidationError
from core.ingest.rules import check_snapshot
from core.ingest.schema import parse_item

EVENT = {"external_id": "6100043", "name": "Rockies", "starts_at": "2024-03-31T20:10:00Z"}
NOW = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)
NOT_WEB = "must be an absolute http:// or https:// URL: a host, no spaces"

# --- ingest: a null time says what is wanted ----------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"event": EVENT, "observed_at": None},
            "observed_at: is required: an ISO-8601 time with a UTC offset"
            ' (e.g. "2024-03-20T17:01:00Z")',
        ),
        (
            {"event": EVENT},
            "observed_at: is required: an ISO-8601 time with a UTC offset"
            ' (e.g. "2024-03-20T17:01:00Z")',
        ),
        (
            {"event": EVENT | {"starts_at": None}, "observed_at": "2024-03-20T17:01:00Z"},
            "event.starts_at: is required: an ISO-8601 time with a UTC offset"
            ' (e.g. "2024-03-31T20:10:00Z")',
        ),
        (
            {"event": EVENT, "observed_at": True},
            "observed_at: must be an ISO-8601 time (a string), not true/false"
            ' (e.g. "2024-03-20T17:01:00Z")',
        ),
        (
            {"event": EVENT, "observed_at": 1710954060},
            "observed_at: must be an ISO-8601 time (a string), not a number"
            ' (e.g. "2024-03-20T17:01:00Z")',
        ),
    ],
)
def test_a_missing_or_null_time_says_what_is_wanted(item: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_item(item, "seatgeek")
    assert str(info.value) == message


# --- ingest: a listing's url is a web page ------------------------------------------------


def _snapshot(url: str) -> SnapshotIn:
    return SnapshotIn(
        source="seatgeek",
        event=EventInfo("6100043", "Rockies", datetime(2024, 3, 31, 20, 10, tzinfo=UTC)),
        observed_at=datetime(2024, 3, 20, 17, 1, tzinfo=UTC),
        listings=(Listing("L1", 45.0, quantity=2, url=url),),
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "must be an http:// or https:// URL, not javascript:"),
        ("data:text/html,<b>hi</b>", "must be an http:// or https:// URL, not data:"),
        ("ftp://tickets.example/L1", "must be an http:// or https:// URL, not ftp:"),
        ("tickets.example/L1", NOT_WEB),
        ("https:///L1", NOT_WEB),
        ("https://tickets.example/a b", NOT_WEB),
    ],
)
def test_a_listing_url_must_be_http_or_https(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_snapshot(_snapshot(url), NOW)
    assert str(info.value) == (f'listings[0].url: {reason} (e.g. "https://example.com/listing/L1")')


@pytest.mark.parametrize(
    "url", ["https://tickets.example/L1?seat=5#top", "HTTP://Tickets.Example:8080/L1"]
)
def test_web_listing_urls_pass_unchanged(url: str) -> None:
    item = _snapshot(url)
    assert check_snapshot(item, NOW).listings == item.listings


# --- webhook URLs: no control characters or whitespace ------------------------------------


@pytest.mark.parametrize(
    ("url", "shown", "at"),
    [
        ("https://example.com/a\tb", r"'\t'", 22),
        ("https://example.com/a\nb", r"'\n'", 22),
        ("https://exa\rmple.com/in", r"'\r'", 12),
        ("https://example.com/\x00", r"'\x00'", 21),
        ("https://example.com/a\x7f", r"'\x7f'", 22),
        ("https://example.com/a\u00a0b", r"'\xa0'", 22),
    ],
)
def test_a_webhook_url_with_control_characters_is_refused(url: str, shown: str, at: int) -> None:
    with pytest.raises(ValueError) as info:
        validate_url(url, SsrfPolicy.parse([]))
    assert str(info.value) == (
        f"webhook URL holds a control character or whitespace ({shown}) at character {at};"
        " send it without, e.g. https://hooks.example.com/hdtickets"
    )


def test_a_space_in_a_webhook_path_is_refused_and_one_around_it_trimmed() -> None:
    with pytest.raises(ValueError) as info:
        validate_url("https://example.com/a b", SsrfPolicy.parse([]))
    assert "holds a space at character 22; write it as %20" in str(info.value)
    assert validate_url(" https://example.com/in\n", SsrfPolicy.parse([])) == (
        "https://example.com/in"
    )


# --- the CLI's words for `watches add` ----------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        ["/watch yankees under 80"],
        ["/watch", "yankees", "under", "80"],
        ["watch yankees under 80"],
        ["/WATCH@HDTicketsBot yankees under 80"],
    ],
)
def test_a_leading_watch_typed_by_habit_is_dropped(words: list[str]) -> None:
    assert _command_text(words) == "watch yankees under 80"


def test_names_that_only_start_like_watch_are_kept() -> None:
    assert _command_text(["watchmen under 80"]) == "watch watchmen under 80"


# --- time-zone examples in the caller's form -------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "example", "suggested"),
    [
        ("EST", "--tz America/New_York", "e.g. --tz America/New_York"),
        ("Europe", "--tz America/New_York", "e.g. --tz Europe/London"),
        ("EST", "tz Europe/Berlin", "e.g. tz America/New_York"),
        ("Europe", "tz Europe/Berlin", "e.g. tz Europe/London"),
    ],
)
def test_a_suggested_zone_uses_the_callers_form(typed: str, example: str, suggested: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_zone(typed, example)
    assert str(info.value).endswith(suggested)
