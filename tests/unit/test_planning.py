"""Planning: dedup, cooldown, hysteresis, resolve hold, quiet hours, digests, channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.delivery_plan import (
    Recipient,
    WebhookTarget,
    choose_destinations,
    next_digest_at,
    plan_delivery,
    quiet_until,
)
from core.domain import ChannelKind, Level, TriggerKind, WatchSpec
from core.planning import (
    AlertState,
    EngineConfig,
    RecentResolve,
    cooldown_of,
    dedup_key,
    plan_clear,
    plan_open,
    plan_update,
)
from core.policy import DEFAULT_POLICY, StepTarget, freeze, steps_for
from core.routing import Destination

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
CONFIG = EngineConfig(hysteresis_pct=2.0, resolve_hold_s=900)
WATCH = WatchSpec(id=3, user_id=7, event_id=1, max_price=40.0, cooldown_s=3600)
TG = Destination(ChannelKind.TELEGRAM, "tg-1")
SLACK = Destination(ChannelKind.SLACK, "D42")
DISCORD = Destination(ChannelKind.DISCORD, "c-9")
GROUP = Destination(ChannelKind.TELEGRAM, "-100777")
PERSON = Recipient(user_id=7, destinations=(SLACK, TG, DISCORD))


def state(**fields: object) -> AlertState:
    values: dict[str, object] = {
        "status": "open",
        "notified_level": Level.MEDIUM,
        "last_notified_at": NOW,
        "last_notified_price": 30.0,
    }
    values.update(fields)
    return AlertState(**values)  # type: ignore[arg-type]


def test_dedup_key() -> None:
    assert dedup_key(3, 1, TriggerKind.PRICE_BELOW) == "3:1:price_below"


# --- open -------------------------------------------------------------------------------


def test_open_without_history() -> None:
    assert plan_open(WATCH, TriggerKind.PRICE_BELOW, 39.9, Level.MEDIUM, None, CONFIG, NOW) is None


def test_min_level_filters() -> None:
    watch = WatchSpec(id=3, user_id=7, event_id=1, max_price=40.0, min_level=Level.HIGH)
    reason = plan_open(watch, TriggerKind.PRICE_BELOW, 30.0, Level.MEDIUM, None, CONFIG, NOW)
    assert reason is not None and "minimum high" in reason
    assert plan_open(watch, TriggerKind.PRICE_BELOW, 30.0, Level.HIGH, None, CONFIG, NOW) is None


def test_flapping_price_reopens_only_below_the_band_within_the_cooldown() -> None:
    """40 * (1 - 2%) = 39.20: a price flapping around $40 opens once per cooldown."""
    recent = RecentResolve(NOW - timedelta(minutes=5), 39.0)
    decisions = {
        price: plan_open(WATCH, TriggerKind.PRICE_BELOW, price, Level.MEDIUM, recent, CONFIG, NOW)
        for price in (39.99, 39.5, 39.21, 39.2, 38.0)
    }
    assert [p for p, why in decisions.items() if why is None] == [39.2, 38.0]
    assert "hysteresis" in (decisions[39.5] or "")
    later = NOW + timedelta(hours=1)
    assert (
        plan_open(WATCH, TriggerKind.PRICE_BELOW, 39.99, Level.MEDIUM, recent, CONFIG, later)
        is None
    )


def test_the_engine_cooldown_is_a_floor() -> None:
    short = WatchSpec(id=3, user_id=7, event_id=1, max_price=40.0, cooldown_s=60)
    assert cooldown_of(short, CONFIG) == 3600
    assert cooldown_of(short, EngineConfig(cooldown_s=0)) == 60
    later = NOW + timedelta(minutes=2)
    assert not plan_update(state(), short, Level.MEDIUM, 20.0, CONFIG, later).notify
    assert plan_update(state(), short, Level.MEDIUM, 20.0, EngineConfig(cooldown_s=0), later).notify


def test_non_price_kinds_wait_for_the_cooldown_after_a_resolve() -> None:
    recent = RecentResolve(NOW - timedelta(minutes=5), None)
    reason = plan_open(WATCH, TriggerKind.LOW_INVENTORY, 30.0, Level.HIGH, recent, CONFIG, NOW)
    assert reason is not None and reason.startswith("cooldown")


# --- update -----------------------------------------------------------------------------


def test_rising_level_notifies_even_within_the_cooldown() -> None:
    plan = plan_update(state(), WATCH, Level.HIGH, 30.0, CONFIG, NOW + timedelta(minutes=1))
    assert plan.notify and "rose to high" in plan.reason


def test_level_flapping_does_not_notify_twice() -> None:
    notified_high = state(notified_level=Level.HIGH)
    assert not plan_update(notified_high, WATCH, Level.HIGH, 30.0, CONFIG, NOW).notify
    assert not plan_update(notified_high, WATCH, Level.MEDIUM, 30.0, CONFIG, NOW).notify


def test_price_move_needs_the_band_and_the_cooldown() -> None:
    soon, later = NOW + timedelta(minutes=30), NOW + timedelta(hours=1)
    assert not plan_update(state(), WATCH, Level.MEDIUM, 25.0, CONFIG, soon).notify
    assert not plan_update(state(), WATCH, Level.MEDIUM, 29.5, CONFIG, later).notify
    assert not plan_update(state(), WATCH, Level.MEDIUM, 35.0, CONFIG, later).notify
    moved = plan_update(state(), WATCH, Level.MEDIUM, 29.0, CONFIG, later)
    assert moved.notify and moved.reason == "price fell from $30 to $29"
    euros = plan_update(state(), WATCH, Level.MEDIUM, 29.0, CONFIG, later, currency="EUR")
    assert euros.reason == "price fell from €30 to €29"


def test_acknowledged_and_snoozed_alerts_update_silently() -> None:
    acked = plan_update(state(status="acknowledged"), WATCH, Level.HIGH, 10.0, CONFIG, NOW)
    assert not acked.notify and not acked.wake
    snoozed = state(status="snoozed", snoozed_until=NOW + timedelta(minutes=5))
    assert not plan_update(snoozed, WATCH, Level.CRITICAL, 10.0, CONFIG, NOW).notify


def test_an_acknowledged_alert_is_told_once_when_it_rises_to_critical() -> None:
    acked = state(status="acknowledged", notified_level=Level.HIGH)
    plan = plan_update(acked, WATCH, Level.CRITICAL, 10.0, CONFIG, NOW)
    assert (plan.notify, plan.wake) == (True, False)
    assert plan.reason == "level rose to critical since you acknowledged it"
    told = state(status="acknowledged", notified_level=Level.CRITICAL)
    assert not plan_update(told, WATCH, Level.CRITICAL, 10.0, CONFIG, NOW).notify
    paused = plan_update(acked, WATCH, Level.CRITICAL, 10.0, CONFIG, NOW, watch_snoozed=True)
    assert not paused.notify


def test_snoozed_alert_wakes_by_time_or_price() -> None:
    by_time = state(status="snoozed", snoozed_until=NOW)
    plan = plan_update(by_time, WATCH, Level.MEDIUM, 30.0, CONFIG, NOW)
    assert plan.wake and plan.notify and plan.reason == "snooze over"
    by_price = state(status="snoozed", snooze_below=25.0)
    assert not plan_update(by_price, WATCH, Level.MEDIUM, 26.0, CONFIG, NOW).wake
    woke = plan_update(by_price, WATCH, Level.MEDIUM, 25.0, CONFIG, NOW)
    assert woke.wake and woke.notify


def test_watch_snooze_and_min_level_keep_updates_silent() -> None:
    assert not plan_update(
        state(), WATCH, Level.CRITICAL, 1.0, CONFIG, NOW, watch_snoozed=True
    ).notify
    picky = WatchSpec(id=3, user_id=7, event_id=1, max_price=40.0, min_level=Level.CRITICAL)
    assert not plan_update(state(), picky, Level.HIGH, 1.0, CONFIG, NOW).notify


# --- resolve ----------------------------------------------------------------------------


def test_resolve_needs_the_condition_false_for_the_hold_time() -> None:
    series = [  # (minutes, holds)
        (0, True),
        (1, False),
        (5, True),
        (6, False),
        (20, False),
        (21, False),
    ]
    since = None
    resolved_at = None
    for minute, holds in series:
        now = NOW + timedelta(minutes=minute)
        plan = plan_clear(
            since, holds, hard_reason=None, soft_reason="price back", config=CONFIG, now=now
        )
        since = plan.clear_since
        if plan.resolve:
            resolved_at = minute
            break
    assert resolved_at == 21  # false since minute 6; 15 minutes later


def test_hard_reasons_resolve_at_once() -> None:
    plan = plan_clear(
        None, True, hard_reason="event started", soft_reason="x", config=CONFIG, now=NOW
    )
    assert plan.resolve and plan.reason == "event started"


# --- quiet hours and digests -----------------------------------------------------------


NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("local", "start", "end", "until"),
    [
        (
            datetime(2024, 3, 20, 23, 30, tzinfo=NY),
            "22:00",
            "07:00",
            datetime(2024, 3, 21, 7, 0, tzinfo=NY),
        ),
        (
            datetime(2024, 3, 20, 3, 0, tzinfo=NY),
            "22:00",
            "07:00",
            datetime(2024, 3, 20, 7, 0, tzinfo=NY),
        ),
        (datetime(2024, 3, 20, 7, 0, tzinfo=NY), "22:00", "07:00", None),
        (datetime(2024, 3, 20, 21, 59, tzinfo=NY), "22:00", "07:00", None),
        (
            datetime(2024, 3, 20, 13, 0, tzinfo=NY),
            "12:00",
            "14:00",
            datetime(2024, 3, 20, 14, 0, tzinfo=NY),
        ),
        (datetime(2024, 3, 20, 14, 0, tzinfo=NY), "12:00", "14:00", None),
        (datetime(2024, 3, 20, 3, 0, tzinfo=NY), None, "07:00", None),
        (datetime(2024, 3, 20, 3, 0, tzinfo=NY), "07:00", "07:00", None),
        (datetime(2024, 3, 20, 3, 0, tzinfo=NY), "bad", "07:00", None),
    ],
)
def test_quiet_hours_in_the_persons_zone(
    local: datetime, start: str | None, end: str, until: datetime | None
) -> None:
    assert quiet_until(local.astimezone(UTC), "America/New_York", start, end) == until


def test_quiet_hours_across_a_dst_change() -> None:
    # 2024-03-10: New York springs forward at 02:00; quiet hours end at 07:00 EDT (11:00 UTC).
    now = datetime(2024, 3, 10, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert quiet_until(now, "America/New_York", "22:00", "07:00") == datetime(
        2024, 3, 10, 11, 0, tzinfo=UTC
    )


def test_same_instant_is_quiet_in_one_zone_and_not_another() -> None:
    now = datetime(2024, 3, 20, 4, 0, tzinfo=UTC)  # 00:00 New York, 13:00 Tokyo
    assert quiet_until(now, "America/New_York", "22:00", "07:00") is not None
    assert quiet_until(now, "Asia/Tokyo", "22:00", "07:00") is None
    assert quiet_until(now, "Not/AZone", "03:00", "05:00") == datetime(
        2024, 3, 20, 5, 0, tzinfo=UTC
    )


def test_next_digest_at() -> None:
    assert next_digest_at(NOW + timedelta(minutes=17), "UTC", "hourly") == NOW + timedelta(hours=1)
    assert next_digest_at(NOW, "UTC", "hourly") == NOW + timedelta(hours=1)
    # India is UTC+05:30: the local hour boundary is at half past in UTC.
    assert next_digest_at(NOW, "Asia/Kolkata", "hourly") == datetime(
        2024, 3, 20, 12, 30, tzinfo=UTC
    )
    assert next_digest_at(NOW, "UTC", "daily") == datetime(2024, 3, 21, 9, 0, tzinfo=UTC)
    assert next_digest_at(NOW, "UTC", "daily@18:30") == datetime(2024, 3, 20, 18, 30, tzinfo=UTC)


# --- channels ---------------------------------------------------------------------------


def test_channel_choice_by_level() -> None:
    assert choose_destinations(Level.CRITICAL, PERSON) == [SLACK, TG, DISCORD]
    for level in (Level.HIGH, Level.MEDIUM, Level.NORMAL, Level.LOW):
        assert choose_destinations(level, PERSON) == [SLACK]


def test_group_watches_go_to_the_group() -> None:
    assert choose_destinations(Level.MEDIUM, PERSON, GROUP) == [GROUP]
    assert choose_destinations(Level.CRITICAL, PERSON, GROUP) == [GROUP, SLACK, TG, DISCORD]


def test_min_level_per_channel_skips_to_the_next_channel() -> None:
    person = Recipient(user_id=7, destinations=(SLACK, TG), min_level_per_channel={"slack": 4})
    assert choose_destinations(Level.MEDIUM, person) == [TG]
    assert choose_destinations(Level.HIGH, person) == [SLACK]


def test_no_destination_is_noted() -> None:
    plan = plan_delivery(Level.HIGH, Recipient(user_id=7), "alert.triggered", NOW)
    assert plan.targets == () and ("undeliverable", "no chat destination") in plan.notes


def test_delivery_plan_quiet_hours_defer_below_critical_only() -> None:
    person = Recipient(
        user_id=7, timezone="UTC", quiet_start="11:00", quiet_end="13:00", destinations=(TG,)
    )
    high = plan_delivery(Level.HIGH, person, "alert.triggered", NOW)
    assert [t.due_at for t in high.targets] == [datetime(2024, 3, 20, 13, 0, tzinfo=UTC)]
    assert high.step0_at == datetime(2024, 3, 20, 13, 0, tzinfo=UTC)
    assert high.notes[0][0] == "deferred"
    critical = plan_delivery(Level.CRITICAL, person, "alert.triggered", NOW)
    assert [t.due_at for t in critical.targets] == [NOW] and critical.notes == ()


def test_delivery_plan_digest_for_level_one() -> None:
    person = Recipient(user_id=7, destinations=(TG, SLACK), digest_schedule="daily@08:00")
    plan = plan_delivery(Level.LOW, person, "alert.triggered", NOW)
    (target,) = plan.targets
    assert target.kind == "digest" and target.event_type == "digest" and target.address == "tg-1"
    assert target.due_at == datetime(2024, 3, 21, 8, 0, tzinfo=UTC)


def test_digest_inside_quiet_hours_waits_for_their_end() -> None:
    person = Recipient(
        user_id=7, destinations=(TG,), quiet_start="12:30", quiet_end="14:00", timezone="UTC"
    )
    (target,) = plan_delivery(
        Level.LOW, person, "alert.triggered", NOW + timedelta(minutes=10)
    ).targets
    assert target.due_at == datetime(2024, 3, 20, 14, 0, tzinfo=UTC)


def test_webhooks_of_the_person_and_global_ones_subscribed_to_the_event_type() -> None:
    endpoints = [
        WebhookTarget(1, None, frozenset({"alert.triggered"}), "https://a"),
        WebhookTarget(2, 7, frozenset({"alert.triggered", "alert.resolved"}), "https://b"),
        WebhookTarget(3, 8, frozenset({"alert.triggered"}), "https://c"),
        WebhookTarget(4, 7, frozenset({"alert.resolved"}), "https://d"),
        WebhookTarget(5, 7, frozenset({"*"}), "https://e"),
    ]
    person = Recipient(user_id=7, destinations=(TG,), quiet_start="00:00", quiet_end="23:59")
    plan = plan_delivery(Level.LOW, person, "alert.triggered", NOW, endpoints=endpoints)
    hooks = [t for t in plan.targets if t.channel is ChannelKind.WEBHOOK]
    assert [(t.webhook_endpoint_id, t.address) for t in hooks] == [
        (1, "https://a"),
        (2, "https://b"),
        (5, "https://e"),
    ]
    assert all(t.due_at == NOW and t.event_type == "alert.triggered" for t in hooks)


# --- escalation policy -------------------------------------------------------------------


def test_default_policy_matches_the_design_table() -> None:
    critical = [(s.after_s, s.target) for s in DEFAULT_POLICY[Level.CRITICAL]]
    assert critical[:4] == [
        (0, StepTarget.ALL_CHATS),
        (120, StepTarget.SMS),
        (300, StepTarget.VOICE),
        (900, StepTarget.EMERGENCY_CONTACTS),
    ]
    assert [(s.after_s, s.target) for s in DEFAULT_POLICY[Level.HIGH]] == [
        (0, StepTarget.PREFERRED_CHAT),
        (300, StepTarget.OTHER_CHATS),
        (900, StepTarget.SMS),
    ]
    assert [s.target for s in DEFAULT_POLICY[Level.LOW]] == [StepTarget.DIGEST]


def test_freeze_snapshot_and_first_deadline() -> None:
    frozen = freeze(Level.HIGH, NOW)
    assert frozen.snapshot["level"] == 4 and frozen.snapshot["source"] == "default"
    assert frozen.snapshot["steps"][1] == {"after_s": 300, "target": "other_chats"}
    assert frozen.next_step_at == NOW + timedelta(minutes=5)
    assert freeze(Level.MEDIUM, NOW).next_step_at is None


def test_overrides_replace_a_level_and_bad_ones_are_ignored() -> None:
    overrides = {
        "3": [{"after_s": 0, "target": "preferred_chat"}, {"after_s": 60, "target": "sms"}]
    }
    steps, source = steps_for(Level.MEDIUM, overrides)
    assert source == "override" and steps[1].target is StepTarget.SMS
    assert freeze(Level.MEDIUM, NOW, overrides).next_step_at == NOW + timedelta(minutes=1)
    steps, source = steps_for(Level.MEDIUM, {"3": [{"after_s": -1, "target": "fax"}]})
    assert source == "default" and steps == DEFAULT_POLICY[Level.MEDIUM]


def test_frozen_policies_match_the_default_table_and_never_share_their_steps() -> None:
    for level, steps in DEFAULT_POLICY.items():
        frozen = freeze(level, NOW)
        assert frozen.snapshot["steps"] == [
            {"after_s": s.after_s, "target": s.target.value} for s in steps
        ]
        later = [s.after_s for s in steps if s.after_s > 0]
        assert frozen.next_step_at == (NOW + timedelta(seconds=later[0]) if later else None)
    first = freeze(Level.CRITICAL, NOW)
    first.snapshot["steps"][0]["target"] = "changed"
    first.snapshot["steps"].pop()
    again = freeze(Level.CRITICAL, NOW)
    assert again.snapshot["steps"][0] == {"after_s": 0, "target": "all_chats"}
    assert len(again.snapshot["steps"]) == len(DEFAULT_POLICY[Level.CRITICAL])


def test_critical_alerts_reach_each_destination_once() -> None:
    person = Recipient(user_id=7, destinations=(SLACK, TG, SLACK))
    assert choose_destinations(Level.CRITICAL, person, TG) == [TG, SLACK]
    assert choose_destinations(Level.HIGH, person) == [SLACK]
    limited = Recipient(user_id=7, destinations=(SLACK, TG), min_level_per_channel={"slack": 5})
    assert choose_destinations(Level.CRITICAL, limited, GROUP) == [GROUP, SLACK, TG]
    assert choose_destinations(Level.HIGH, limited) == [TG]
