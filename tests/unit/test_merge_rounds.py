"""`merge_rounds`: one round per person, event and destination tells it; the rest are
covered (no chat rows, escalation stopped), and the told message names them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from core.actions import ActionSigner
from core.delivery_plan import Recipient, WebhookTarget
from core.domain import ChannelKind, EventRef, Level, MarketPoint, Score, StoredSnapshot
from core.engine_batch import ActiveAlert, Batch, Round, Snap
from core.engine_decide import merge_rounds
from core.engine_rows import RowContext, round_rows
from core.engine_support import WatchInfo
from core.metrics import NullMetrics
from core.policy import freeze, is_stopped
from core.routing import Destination

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
EVENT = EventRef(7, "Yankees at Red Sox", NOW + timedelta(days=5), "mlb", ("Yankees",))
POINT = MarketPoint(7, NOW, 50.0, 60.0, 61.0, 200.0, 40, 180)
SNAP = Snap(StoredSnapshot(1, EVENT, POINT, None), 62.0, [])
GROUP = Destination(ChannelKind.TELEGRAM, "-100777")


def _round(
    watch_id: int, level: Level, value: float, *, user: int = 1, kind: str = "price_below"
) -> Round:
    alert = ActiveAlert(
        id=100 + watch_id * 10 + len(kind), dedup_key=f"{watch_id}:7:{kind}",
        watch_id=watch_id, user_id=user, event_id=7, kind=kind, score=value,
        level=int(level), price=50.0, status="open", reason=f"reason of {watch_id}",
        opened_at=NOW, updated_at=NOW,
    )  # fmt: skip
    frozen = freeze(level, NOW)
    alert.freeze_policy(frozen.snapshot)
    alert.next_step_at = frozen.next_step_at
    person = Recipient(user, destinations=(Destination(ChannelKind.TELEGRAM, f"tg-{user}"),))
    return Round(
        alert, "alert.triggered", SNAP, Score(value, level, ()), person, 50.0, f"why {watch_id}"
    )


def _batch(*rounds: Round, group: frozenset[int] = frozenset()) -> Batch:
    info = {
        r.alert.watch_id: WatchInfo(
            r.alert.watch_id, f"watch {r.alert.watch_id}", None, 1, (), (),
            GROUP if r.alert.watch_id in group else None,
        )
        for r in rounds
    }  # fmt: skip
    batch = Batch(now=NOW, snaps=[SNAP], info=info, rounds=list(rounds))
    batch.pending = {id(r.alert): r for r in rounds}
    return batch


def test_the_highest_level_then_score_then_lowest_watch_tells_it() -> None:
    low, high, higher_score, tie = (
        _round(1, Level.MEDIUM, 0.55),
        _round(4, Level.CRITICAL, 0.81),
        _round(3, Level.CRITICAL, 0.9),
        _round(2, Level.CRITICAL, 0.9),
    )
    merge_rounds(_batch(low, high, higher_score, tie))
    assert tie.covered_by is None and tie.also == (higher_score, high, low)
    for covered in (low, high, higher_score):
        assert covered.covered_by is tie.alert
        assert covered.alert.next_step_at is None and is_stopped(covered.alert.escalation)
        assert covered.alert.frozen_level == int(covered.score.level)
    assert tie.alert.next_step_at == NOW + timedelta(minutes=2)


def test_other_people_destinations_and_resolved_alerts_stay_apart() -> None:
    mine, group, bobs, resolved = (
        _round(1, Level.HIGH, 0.7),
        _round(2, Level.HIGH, 0.7),
        _round(3, Level.HIGH, 0.7, user=2),
        _round(4, Level.CRITICAL, 0.9),
    )
    resolved.alert.status = "resolved"  # a later snapshot of the batch resolved it
    merge_rounds(_batch(mine, group, bobs, resolved, group=frozenset({2})))
    for round_ in (mine, group, bobs, resolved):
        assert round_.covered_by is None and round_.also == ()


def test_covered_rounds_write_webhook_rows_only_and_the_told_one_names_them() -> None:
    told = _round(1, Level.HIGH, 0.7)
    same_watch = _round(1, Level.MEDIUM, 0.5, kind="drop_pct")
    others = [_round(n, Level.MEDIUM, 0.5 - n / 100) for n in range(2, 6)]
    batch = _batch(told, same_watch, *others)
    batch.endpoints = (WebhookTarget(1, None, frozenset({"*"}), "https://hooks.example/all"),)
    merge_rounds(batch)
    for n, round_ in enumerate(batch.rounds):
        round_.alert.id = 500 + n
    ctx = RowContext(ActionSigner(b"k" * 32), random.Random(1), NullMetrics(), "hourly")
    rows = {id(r): round_rows(batch, r, None, ctx, links={}, chats=True) for r in batch.rounds}
    chat, hook = rows[id(told)]
    assert (chat["channel"], hook["channel"]) == ("telegram", "webhook")
    assert chat["payload"]["body"].splitlines()[-4:] == [
        "Also: why 1",
        "Also matches your watch #2 (watch 2): why 2",
        "Also matches your watch #3 (watch 3): why 3",
        "… and 2 more of your alerts",
    ]
    assert "Also" not in hook["payload"]["body"]
    for round_ in (same_watch, *others):
        assert [r["channel"] for r in rows[id(round_)]] == ["webhook"]
        assert round_.audit == [
            ("covered", "told in the message of alert #500 (watch #1); no escalation of its own")
        ]
    assert told.audit[-1][0] == "covers"


def test_a_lone_round_is_left_alone() -> None:
    alone = _round(1, Level.CRITICAL, 0.9)
    merge_rounds(_batch(alone))
    assert alone.covered_by is None and alone.also == ()
    assert alone.alert.next_step_at == NOW + timedelta(minutes=2)
