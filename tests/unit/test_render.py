"""Neutral alert text: titles, body lines, local times, money and durations."""

from __future__ import annotations

from datetime import UTC, datetime

from core.domain import EventRef, Factor, Level
from core.render import AlertView, body_lines, humanize_delta, local_time, money, payload, title

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
    assert humanize_delta(86400) == "1 day 0 h"


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
