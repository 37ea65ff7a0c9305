"""Neutral alert text: titles, body lines, local times, money and durations."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.actions import ActionSigner
from core.domain import Advice, EventRef, Factor, Level, Prediction, Recommendation
from core.formatting import (
    event_label,
    event_zone,
    humanize_delta,
    local_time,
    money,
    resample_last,
    short_date,
    sparkline,
    zone,
)
from core.render import (
    ALERT_BUTTONS,
    AlertView,
    alert_buttons,
    body_lines,
    payload,
    prediction_dict,
    recommendation_dict,
    title,
)

GAME = EventRef(
    id=1,
    name="Rockies at Diamondbacks",
    starts_at=datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
    venue="Chase Field",
    city="Phoenix",
)


def view(**fields: object) -> AlertView:
    values: dict[str, object] = {
        "alert_id": 12,
        "kind": "price_below",
        "status": "open",
        "level": Level.HIGH,
        "score": 0.72,
        "event": GAME,
        "price": 28.0,
        "max_price": 40.0,
    }
    values.update(fields)
    return AlertView(**values)  # type: ignore[arg-type]


def test_title_has_level_emoji_event_and_price_vs_max() -> None:
    assert title(view()) == "🔥 Rockies at Diamondbacks — $28 (your max $40)"
    assert title(view(level=Level.CRITICAL)).startswith("🚨 ")
    assert title(view(max_price=None)) == "🔥 Rockies at Diamondbacks — $28"
    assert title(view(kind="low_inventory", tickets_left=40)).endswith("only 40 tickets left")
    assert title(view(status="acknowledged")).startswith("✅ Acknowledged: Rockies")


def test_body_lines_in_the_persons_timezone() -> None:
    lines = body_lines(
        view(
            timezone="America/Phoenix",
            tickets_left=1344,
            headline="cheapest $28 is at or under your max $40",
            factors=(Factor("price", 1.0, 0.25, "$28 is 30% under your max $40"),),
            sentence="72% chance the cheapest price drops 5% within 3 days — wait",
        )
    )
    assert lines == [
        "High priority (score 0.72): cheapest $28 is at or under your max $40",
        "Chase Field, Phoenix · Sun 31 Mar 13:10 MST",
        "1,344 tickets left",
        "• price: $28 is 30% under your max $40",
        "72% chance the cheapest price drops 5% within 3 days — wait",
    ]


def test_local_time_falls_back_to_utc() -> None:
    assert local_time(GAME.starts_at, "Not/AZone") == "Sun 31 Mar 20:10 UTC"
    assert local_time(GAME.starts_at, "Europe/Berlin") == "Sun 31 Mar 22:10 CEST"


def test_money_and_durations() -> None:
    assert [money(28.0), money(28.5), money(1344.0)] == ["$28", "$28.50", "$1,344"]
    assert humanize_delta(40) == "40 s"
    assert humanize_delta(5 * 60) == "5 min"
    assert humanize_delta(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert humanize_delta(11 * 86400 + 8 * 3600) == "11 days 8 h"
    assert humanize_delta(86400) == "1 day"


def test_payload_shape() -> None:
    body = payload(
        event_type="alert.triggered",
        timestamp=GAME.starts_at,
        title_text="t",
        body_text="b",
        factors=(Factor("price", 1.0, 0.25, "r"),),
        data={"alert": {"id": 1}},
    )
    assert body == {
        "event_type": "alert.triggered",
        "timestamp": "2024-03-31T20:10:00+00:00",
        "title": "t",
        "body": "b",
        "buttons": [],
        "factors": [{"name": "price", "value": 1.0, "weight": 0.25, "reason": "r"}],
        "data": {"alert": {"id": 1}},
        "edit_of": None,
    }


def test_payload_copies_what_it_was_given_unless_fresh() -> None:
    buttons = [{"label": "Acknowledge", "action": "ack", "token": "x", "url": None}]
    data = {"alert": {"id": 1}}
    kept = payload(
        event_type="e",
        timestamp=GAME.starts_at,
        title_text="t",
        body_text="b",
        buttons=buttons,
        data=data,
    )
    buttons[0]["token"] = "changed"
    data["alert"] = {"id": 2}
    assert kept["buttons"][0]["token"] == "x"
    assert kept["data"] == {"alert": {"id": 1}}
    fresh = payload(
        event_type="e",
        timestamp=GAME.starts_at,
        title_text="t",
        body_text="b",
        buttons=buttons,
        data=data,
        fresh=True,
    )
    assert fresh["data"] is data
    assert fresh["buttons"] == buttons


def test_local_time_and_zones_are_the_same_on_every_call() -> None:
    zones = ["America/Phoenix", "Europe/Berlin", None, "", "Not/AZone"]
    first = [local_time(GAME.starts_at + timedelta(days=d), z) for d in (0, 200) for z in zones]
    again = [local_time(GAME.starts_at + timedelta(days=d), z) for d in (0, 200) for z in zones]
    assert first == again
    assert first[1] == "Sun 31 Mar 22:10 CEST"
    assert first[6] == "Thu 17 Oct 22:10 CEST"  # the same zone, summer time again
    assert zone("Europe/Berlin") is zone("Europe/Berlin")
    assert str(zone("Not/AZone")) == "UTC"


def test_alert_buttons_take_their_nonces_from_the_injected_random() -> None:
    signer = ActionSigner(b"k")
    now = GAME.starts_at
    first = alert_buttons(signer, 77, now=now, rng=random.Random(5))
    assert first == alert_buttons(signer, 77, now=now, rng=random.Random(5))
    assert first != alert_buttons(signer, 77, now=now, rng=random.Random(6))
    assert [b["label"] for b in first] == [label for label, _ in ALERT_BUTTONS]
    tokens = [signer.verify(b["token"], now=now) for b in first]
    assert [t.action for t in tokens] == [action for _, action in ALERT_BUTTONS]
    assert {t.target_id for t in tokens} == {77}
    assert len({t.nonce for t in tokens}) == len(ALERT_BUTTONS)


def test_prediction_and_recommendation_dicts_carry_every_field() -> None:
    prediction = Prediction(0.1, 0.2, None, 10.0, 20.0, 30.0, 0.5, 12.0, "m", 0.3)
    assert prediction_dict(prediction) == {
        "p_drop_72h": 0.1,
        "p_rise_72h": 0.2,
        "p_sellout": None,
        "p10_72h": 10.0,
        "p50_72h": 20.0,
        "p90_72h": 30.0,
        "demand": 0.5,
        "hours_to_depletion": 12.0,
        "model": "m",
        "p_dip_before_deadline": 0.3,
    }
    advice = next(iter(Advice))
    assert recommendation_dict(Recommendation(advice, 4.0, 0.2, 0.9, "Buy now.")) == {
        "advice": advice.value,
        "expected_saving": 4.0,
        "availability_risk": 0.2,
        "confidence": 0.9,
        "sentence": "Buy now.",
    }


def test_sparkline_scales_lowest_to_highest() -> None:
    assert sparkline([10.0, 20.0, 15.0]) == "▁█▅"
    assert sparkline([40.0, 40.0]) == "▄▄"  # flat: no direction to show
    assert sparkline([]) == ""


def test_resample_last_keeps_each_slice_newest_value() -> None:
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    points = [(t0 + timedelta(hours=h), float(h)) for h in (0, 1, 2, 10, 11, 23, 24)]
    # 4 slices of 6 h: [0, 6) -> 2, [6, 12) -> 11, [12, 18) empty, [18, 24] -> 24
    assert resample_last(points, 4) == [2.0, 11.0, 24.0]
    assert resample_last(points[:1], 4) == [0.0]
    same = [(t0, 5.0), (t0, 7.0)]
    assert resample_last(same, 4) == [7.0]


def test_event_label_and_short_date_in_the_persons_zone() -> None:
    start = datetime(2024, 12, 10, 0, 30, tzinfo=UTC)
    assert short_date(start, "America/New_York") == "Mon 9 Dec"
    assert event_label("Taylor Swift", "TD Garden", "Boston", start, "America/New_York") == (
        "Taylor Swift — TD Garden, Boston, Mon 9 Dec 19:30 EST"
    )
    assert event_label("Taylor Swift", None, None, start, None) == (
        "Taylor Swift — Tue 10 Dec 00:30 UTC"
    )


def test_event_starts_show_in_the_venues_zone_until_the_person_sets_one() -> None:
    assert event_zone("UTC", "America/New_York") == "America/New_York"  # the default
    assert event_zone(None, "America/New_York") == "America/New_York"
    assert event_zone("Europe/Berlin", "America/New_York") == "Europe/Berlin"
    assert event_zone("UTC", None) == "UTC"
    start = datetime(2024, 12, 17, 0, 10, tzinfo=UTC)
    label = event_label("Yankees at Marlins", "loanDepot park", "Miami", start, "UTC",
                        "America/New_York")  # fmt: skip
    assert label == "Yankees at Marlins — loanDepot park, Miami, Mon 16 Dec 19:10 EST"
    game = replace(GAME, timezone="America/Phoenix")
    assert body_lines(view(event=game, timezone="UTC"))[1] == (
        "Chase Field, Phoenix · Sun 31 Mar 13:10 MST"
    )
    assert body_lines(view(event=game, timezone="Europe/Berlin"))[1] == (
        "Chase Field, Phoenix · Sun 31 Mar 22:10 CEST"
    )


def test_rough_duration_and_plural() -> None:
    from core.domain import plural, rough_duration

    assert rough_duration(51) == "under a minute"
    assert rough_duration(40 * 60) == "about 40 min"
    assert rough_duration(10 * 3600) == "about 10 h"
    assert rough_duration(86400) == "about 1 day"
    assert rough_duration(30 * 3600) == "1 day 6 h"
    assert plural(1, "ticket") == "1 ticket" and plural(1400, "ticket") == "1,400 tickets"
