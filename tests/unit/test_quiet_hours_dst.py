"""Quiet hours and daily digests whose time falls in a DST gap or overlap (core.planning).

Before `wall_instant`, `datetime.combine(day, finish, tzinfo=place)` always took fold=0,
and the result was only kept when `ends > now`:
- fall-back night, quiet 23:00-01:30 America/New_York: during the repeated hour the clock
  reads 01:10 EST (inside the window), yet quiet_until says "not quiet" (the first 01:30,
  EDT, is already past), so alerts ring at 01:10 on the person's clock.
- spring-forward night, quiet 22:00-02:30: an alert at 01:50 EST is held until 02:30 "EST"
  = 03:30 EDT, but from 03:00 EDT quiet_until already says "not quiet": alerts arriving at
  03:05 go out at once while the earlier ones wait until 03:30 (out of order, 30 min late).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from core.delivery_plan import next_digest_at, quiet_until, wall_instant

NY = "America/New_York"


def test_fall_back_repeated_hour_inside_quiet_window_is_quiet() -> None:
    now = datetime(2024, 11, 3, 6, 10, tzinfo=UTC)  # 01:10 EST, the second 01:10
    assert now.astimezone(ZoneInfo(NY)).strftime("%H:%M %Z") == "01:10 EST"
    ends = quiet_until(now, NY, "23:00", "01:30")
    assert ends is not None, "01:10 on the person's clock is inside 23:00-01:30, yet not quiet"
    assert ends.astimezone(ZoneInfo(NY)).strftime("%H:%M %Z") == "01:30 EST"


def test_spring_forward_quiet_end_is_one_instant() -> None:
    held = quiet_until(datetime(2024, 3, 10, 6, 50, tzinfo=UTC), NY, "22:00", "02:30")  # 01:50 EST
    later = datetime(2024, 3, 10, 7, 5, tzinfo=UTC)  # 03:05 EDT
    still = quiet_until(later, NY, "22:00", "02:30")
    assert held is not None
    # Either quiet hours are over at 03:05 for everyone, or they are not for anyone.
    assert (held <= later) == (still is None), (
        f"an alert at 01:50 EST is held until {held.astimezone(ZoneInfo(NY)):%H:%M %Z}, "
        f"but one at 03:05 EDT is sent at once (quiet_until -> {still})"
    )

    assert held == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT, the gap's end


def test_wall_instant_in_ordinary_skipped_and_repeated_times() -> None:
    place = ZoneInfo(NY)
    assert wall_instant(date(2024, 6, 1), time(9, 0), place) == datetime(
        2024, 6, 1, 13, 0, tzinfo=UTC
    )
    assert wall_instant(date(2024, 3, 10), time(2, 30), place) == datetime(
        2024, 3, 10, 7, 0, tzinfo=UTC
    )
    # the first of the two 01:30s of the fall-back night (EDT)
    assert wall_instant(date(2024, 11, 3), time(1, 30), place) == datetime(
        2024, 11, 3, 5, 30, tzinfo=UTC
    )
    # Kathmandu (+05:45) and Lord Howe (half-hour DST) behave too
    assert wall_instant(date(2024, 6, 1), time(9, 0), ZoneInfo("Asia/Kathmandu")) == datetime(
        2024, 6, 1, 3, 15, tzinfo=UTC
    )
    assert wall_instant(
        date(2024, 10, 6), time(2, 15), ZoneInfo("Australia/Lord_Howe")
    ) == datetime(2024, 10, 5, 15, 30, tzinfo=UTC)


def test_a_daily_digest_in_the_repeated_hour_is_never_in_the_past() -> None:
    second_0110 = datetime(2024, 11, 3, 6, 10, tzinfo=UTC)  # 01:10 EST, after 01:30 EDT
    when = next_digest_at(second_0110, NY, "daily@01:30")
    assert when > second_0110
    assert when == datetime(2024, 11, 4, 6, 30, tzinfo=UTC)  # 01:30 EST the next day
    # and in the skipped hour it goes out when the gap ends
    before = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 01:00 EST
    assert next_digest_at(before, NY, "daily@02:30") == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)


def test_an_hourly_digest_after_a_quarter_hour_change_is_never_in_the_past() -> None:
    # Chatham falls back at 03:45 (+13:45 -> +12:45). At 03:49 (+12:45) the hour began at
    # 03:00 +12:45; "03:00" read with the earlier offset is 14:15 UTC, 49 min in the past.
    chatham = ZoneInfo("Pacific/Chatham")
    now = datetime(2024, 4, 6, 15, 4, tzinfo=UTC)
    assert now.astimezone(chatham).strftime("%H:%M %z") == "03:49 +1245"
    when = next_digest_at(now, "Pacific/Chatham", "hourly")
    assert when.astimezone(chatham).strftime("%H:%M %z") == "04:00 +1245"
    assert when == datetime(2024, 4, 6, 15, 15, tzinfo=UTC)
