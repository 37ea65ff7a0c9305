"""The engine's outbox rows store the payloads the straightforward construction stores.

`round_rows` shares pieces between rounds, reuses the round's payload for its last
target, signs buttons from precomputed HMAC states and formats `now` once; the reference
below builds every payload from scratch, the way the engine used to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from core.actions import ActionSigner
from core.db.engine import compact_json
from core.delivery_plan import Recipient, WebhookTarget
from core.domain import (
    Advice,
    ChannelKind,
    EventRef,
    Factor,
    Level,
    MarketPoint,
    Prediction,
    Recommendation,
    Score,
    StoredSnapshot,
)
from core.engine_batch import ActiveAlert, Batch, Round, Snap
from core.engine_rows import RowContext, chart_history, round_rows
from core.engine_support import WatchInfo
from core.formatting import iso
from core.metrics import NullMetrics
from core.ports import Forecast
from core.render import (
    ALERT_BUTTONS,
    AlertView,
    body_lines,
    event_dict,
    factor_dicts,
    market_dict,
    prediction_dict,
    recommendation_dict,
    title,
)
from core.routing import Destination

NOW = datetime(2025, 3, 20, 12, 0, 0, 123456, tzinfo=UTC)
SECRET = b"rows-fast-secret"
EVENTS = (
    EventRef(7, "Rockies at Diamondbacks", NOW + timedelta(days=5), "sports", ("Rockies",),
             "Chase Field", "Phoenix", 48000, "America/Phoenix"),
    EventRef(8, "Knicks at Pistons", NOW + timedelta(days=9), "sports", ("Knicks",),
             None, "Detroit", None, None),
)  # fmt: skip


def _point(event_id: int, minutes_ago: int, price: float) -> MarketPoint:
    at = NOW - timedelta(minutes=minutes_ago)
    return MarketPoint(event_id, at, price, price * 1.4, price * 1.5, price * 3, 40, 180)


HISTORY = {
    e.id: [_point(e.id, 30 * i, 40.0 + e.id + i / 8) for i in range(60, 0, -1)] for e in EVENTS
}
# Two snapshots of event 7 (different points) and one of event 8.
STORED = (
    StoredSnapshot(1, EVENTS[0], _point(7, 5, 31.5), HISTORY[7][-1]),
    StoredSnapshot(2, EVENTS[0], _point(7, 1, 29.0), HISTORY[7][-1]),
    StoredSnapshot(3, EVENTS[1], _point(8, 2, 55.25), HISTORY[8][-1]),
)
ENDPOINTS = (
    WebhookTarget(1, None, frozenset({"*"}), "https://hooks.example/all"),
    WebhookTarget(2, 12, frozenset({"alert.opened"}), "https://hooks.example/opened"),
)


def _forecast(event_id: int) -> Forecast:
    prediction = Prediction(0.4 + event_id / 100, 0.2, None, 30.0, 35.5, 41.0, 0.7, None, "h1")
    return Forecast(
        prediction, Recommendation(Advice.WAIT, 4.5, 0.1, 0.6, f"Wait on event {event_id}.")
    )


def _factors(n: int) -> tuple[Factor, ...]:
    return tuple(Factor(f"f{i}", i / 10, 0.2, f"reason {n}.{i} — cheap") for i in range(4))


def _round(n: int, stored: StoredSnapshot, level: Level, event_type: str, user: int) -> Round:
    opened = NOW if n % 2 else NOW - timedelta(hours=n)
    alert = ActiveAlert(
        id=100 + n,
        dedup_key=f"w{n}:e{stored.event.id}:price_below",
        watch_id=n,
        user_id=user,
        event_id=stored.event.id,
        kind="low_inventory" if n == 4 else "price_below",
        score=0.5 + n / 100,
        level=int(level),
        price=stored.point.min_price,
        status="open",
        reason=f"below your max by {n}%",
        opened_at=opened,
        updated_at=NOW,
        snoozed_until=NOW + timedelta(hours=1) if n == 3 else None,
    )
    person = Recipient(
        user,
        timezone="America/New_York" if n % 2 else "Europe/Berlin",
        destinations=(Destination(ChannelKind.TELEGRAM, f"chat{user}"),),
    )
    snap = Snap(stored, 60.0, [])
    score = Score(0.5 + n / 100, level, _factors(n))
    return Round(alert, event_type, snap, score, person, alert.price, alert.reason or "")


def _batch() -> Batch:
    levels = (Level.HIGH, Level.MEDIUM, Level.CRITICAL, Level.LOW, Level.NORMAL, Level.HIGH)
    rounds = [
        _round(
            n, STORED[n % 3], levels[n], "alert.opened" if n % 2 else "alert.updated", 11 + n % 2
        )
        for n in range(6)
    ]
    info = {
        n: WatchInfo(n, f"watch {n}", 45.0 + n, 2, ("price_below",), ("floor",), None)
        for n in range(0, 6, 2)  # odd watches unknown: their payload carries only the id
    }
    forecasts = {7: _forecast(7)}  # event 8 has none
    return Batch(
        now=NOW,
        snaps=[r.snap for r in rounds],
        info=info,
        forecasts=forecasts,
        forecast_dicts={
            e: (prediction_dict(f.prediction), recommendation_dict(f.recommendation))
            for e, f in forecasts.items()
        },
        endpoints=ENDPOINTS,
        rounds=rounds,
    )


def _ctx(seed: int) -> RowContext:
    return RowContext(
        ActionSigner(SECRET), random.Random(seed), NullMetrics(), "hourly", HISTORY.__getitem__
    )


def _links(alert_id: int) -> dict[str, str]:
    return {"alert": f"https://x.example/api/v1/alerts/{alert_id}"}


def _rows(batch: Batch, seed: int) -> list[dict[str, Any]]:
    ctx = _ctx(seed)
    return [
        row
        for r in batch.rounds
        for row in round_rows(batch, r, None, ctx, links=_links(r.alert.id or 0), chats=True)
    ]


# --- the reference: every payload built from scratch ------------------------------------


def _token(key: bytes, action_index: int, alert_id: int, nonce: bytes) -> str:
    expires = int((NOW + timedelta(days=7)).timestamp() // 60)
    body = struct.pack(">BB6sI4s", 1, action_index, alert_id.to_bytes(6, "big"), expires, nonce)
    mac = hmac.new(key, body, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def _alert(alert: ActiveAlert) -> dict[str, Any]:
    def when(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    return {
        "id": alert.id,
        "status": alert.status,
        "kind": alert.kind,
        "level": alert.level,
        "level_label": Level(alert.level).label,
        "score": alert.score,
        "price": alert.price,
        "reason": alert.reason,
        "dedup_key": alert.dedup_key,
        "opened_at": when(alert.opened_at),
        "updated_at": when(alert.updated_at),
        "acknowledged_at": when(alert.acknowledged_at),
        "resolved_at": when(alert.resolved_at),
        "snoozed_until": when(alert.snoozed_until),
        "snooze_below": alert.snooze_below,
        "acked_via": alert.acked_via,
    }


def _reference_payload(batch: Batch, r: Round, rng: random.Random) -> dict[str, Any]:
    alert, stored, level = r.alert, r.snap.stored, r.score.level
    assert alert.id is not None
    info = batch.info.get(alert.watch_id)
    forecast = batch.forecasts.get(stored.event.id)
    key = hmac.new(SECRET, b"hdtickets/action-tokens/v1", hashlib.sha256).digest()
    nonce = rng.randbytes(4 * len(ALERT_BUTTONS))
    action_index = {a: i for i, a in enumerate(type(ALERT_BUTTONS[0][1]))}
    buttons = [
        {
            "label": label,
            "action": action.value,
            "token": _token(key, action_index[action], alert.id, nonce[4 * i : 4 * i + 4]),
            "url": None,
        }
        for i, (label, action) in enumerate(ALERT_BUTTONS)
    ]
    view = AlertView(
        alert_id=alert.id,
        kind=alert.kind,
        status=alert.status,
        level=level,
        score=r.score.value,
        event=stored.event,
        price=alert.price,
        max_price=info.max_price if info else None,
        tickets_left=stored.point.ticket_count,
        headline=alert.reason,
        factors=r.score.factors,
        sentence=forecast.recommendation.sentence if forecast else None,
        timezone=r.person.timezone,
    )
    market = market_dict(stored.point)
    if level >= Level.HIGH:
        points = [p for p in HISTORY[stored.event.id] if p.min_price is not None][-48:]
        market["history"] = [[p.observed_at.isoformat(), p.min_price] for p in points]
    return {
        "event_type": r.event_type,
        "timestamp": NOW.isoformat(),
        "title": title(view),
        "body": "\n".join(body_lines(view)),
        "buttons": buttons,
        "factors": factor_dicts(r.score.factors),
        "data": {
            "alert": _alert(alert),
            "event": event_dict(stored.event),
            "market": market,
            "prediction": prediction_dict(forecast.prediction) if forecast else None,
            "recommendation": recommendation_dict(forecast.recommendation) if forecast else None,
            "watch": info.as_dict() if info else {"id": alert.watch_id},
            "links": _links(alert.id),
        },
        "edit_of": None,
    }


def _stored(value: Any) -> Any:
    """What the database keeps (compact_json) read back as plain JSON."""
    return json.loads(compact_json(value))


def test_rows_store_the_payloads_built_from_scratch() -> None:
    batch = _batch()
    rows = _rows(batch, seed=5)
    rng = random.Random(5)
    expected: list[tuple[str, str, dict[str, Any]]] = []
    for r in batch.rounds:
        reference = _reference_payload(batch, r, rng)
        for row in (row for row in rows if row["alert_id"] == r.alert.id):
            want = json.loads(json.dumps(reference | {"event_type": row["payload"]["event_type"]}))
            expected.append((row["channel"], row["payload"]["event_type"], want))
    assert len(expected) == len(rows) > len(batch.rounds)  # chats and webhooks
    # The rows cover charts, digests, several targets per round and rounds per snapshot.
    assert {row["channel"] for row in rows} == {"telegram", "webhook"}
    assert "digest" in {row["payload"]["event_type"] for row in rows}
    assert {"history" in row["payload"]["data"]["market"] for row in rows} == {True, False}
    for row, (channel, event_type, want) in zip(rows, expected, strict=True):
        assert (row["channel"], row["payload"]["event_type"]) == (channel, event_type)
        assert _stored(row["payload"]) == want, (row["alert_id"], channel)


def test_each_target_of_a_round_keeps_its_own_event_type() -> None:
    batch = _batch()
    rows = _rows(batch, seed=9)
    low = [row for row in rows if row["alert_id"] == 103]  # Level.LOW: a digest and webhooks
    assert [row["payload"]["event_type"] for row in low] == ["digest", *["alert.opened"] * 2]
    opened = [row for row in rows if row["alert_id"] == 101]
    assert [(r["channel"], r["payload"]["event_type"]) for r in opened] == [
        ("telegram", "alert.opened"),
        ("webhook", "alert.opened"),
        ("webhook", "alert.opened"),
    ]
    # Rows of one round differ only in the event type.
    first, *others = (_stored(r["payload"]) for r in low)
    assert all(first | {"event_type": o["event_type"]} == o for o in others)


def test_pieces_never_cross_snapshots_or_events() -> None:
    rows = _rows(_batch(), seed=1)
    by_alert = {row["alert_id"]: _stored(row["payload"])["data"] for row in rows}
    # Rounds 0 and 3 share snapshot 1; round 1 has snapshot 2 of the same event; 2 and 5
    # have event 8.
    assert by_alert[100]["market"]["observed_at"] == STORED[0].point.observed_at.isoformat()
    assert by_alert[101]["market"]["observed_at"] == STORED[1].point.observed_at.isoformat()
    assert by_alert[103]["market"] == market_dict(STORED[0].point)  # low: no chart
    assert by_alert[102]["event"]["id"] == by_alert[105]["event"]["id"] == 8
    assert by_alert[102]["prediction"] is None and by_alert[100]["prediction"] is not None
    assert (
        by_alert[105]["market"]["history"]
        == chart_history(Level.HIGH, STORED[2], _ctx(1))["history"]
    )


def test_iso_formats_each_datetime_object_as_itself() -> None:
    berlin = NOW.astimezone(timezone(timedelta(hours=1)))
    assert berlin == NOW  # equal instants, different texts
    assert iso(NOW) == NOW.isoformat() and iso(berlin) == berlin.isoformat()
    assert iso(NOW) != iso(berlin)
    many = [NOW + timedelta(seconds=s) for s in range(1000)]  # past the memo's size
    assert [iso(d) for d in many] == [d.isoformat() for d in many]
    assert [iso(d) for d in reversed(many)] == [d.isoformat() for d in reversed(many)]


def test_body_place_joins_venue_and_city_that_are_set() -> None:
    for venue, city in (("Arena", "Town"), ("Arena", None), (None, "Town"), ("", ""), (None, None)):
        event = EventRef(1, "E", NOW, venue=venue, city=city)
        view = AlertView(alert_id=1, kind="price_below", status="open", level=Level.HIGH,
                         score=0.5, event=event, timezone="UTC")  # fmt: skip
        place = ", ".join(p for p in (venue, city) if p)
        when = body_lines(view)[1]
        assert when.startswith(f"{place} · ") if place else " · " not in when


def test_compact_json_keeps_non_string_keys_and_orjson_bytes() -> None:
    payload = _rows(_batch(), seed=2)[0]["payload"]
    assert compact_json(payload) == orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode()
    assert compact_json({1: "a", "b": [1.5, None], 2.5: {3: True}}) == (
        '{"1":"a","b":[1.5,null],"2.5":{"3":true}}'
    )
    assert compact_json({Level.HIGH: 1}) == '{"4":1}'


def test_signed_buttons_verify_and_match_hmac() -> None:
    signer = ActionSigner(SECRET)
    key = hmac.new(SECRET, b"hdtickets/action-tokens/v1", hashlib.sha256).digest()
    nonce = bytes(range(20))
    actions = [action for _, action in ALERT_BUTTONS]
    tokens = signer.sign_all(actions, 2**40 + 3, now=NOW, nonce=nonce)
    index = {a: i for i, a in enumerate(type(actions[0]))}
    assert tokens == [
        _token(key, index[a], 2**40 + 3, nonce[4 * i : 4 * i + 4]) for i, a in enumerate(actions)
    ]
    assert [signer.verify(t, now=NOW).action for t in tokens] == actions
