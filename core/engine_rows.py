"""The outbox rows of one notification round: text, buttons, payload, idempotency keys."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.actions import ActionSigner
from core.alert_payload import alert_dict, notification_key
from core.delivery_lifecycle import ACKED_RISE
from core.delivery_plan import DeliveryPlan, plan_delivery
from core.domain import (
    ChannelKind,
    EventRef,
    Level,
    Listing,
    MarketPoint,
    NotificationStatus,
    StoredSnapshot,
    WatchSpec,
)
from core.engine_batch import Batch, Round
from core.formatting import market_age_note
from core.metrics import Metrics
from core.render import (
    AlertView,
    OtherAlert,
    advice_sentence,
    alert_buttons,
    body,
    event_dict,
    market_dict,
    other_alerts_text,
    payload,
    title,
)
from core.rules import listing_url, tickets_left


@dataclass(frozen=True, slots=True)
class RowContext:
    """What building rows needs from the engine; one context serves one batch."""

    signer: ActionSigner
    rng: random.Random
    metrics: Metrics
    default_digest: str
    # The event's recent market points, for the price chart of high and critical alerts.
    history: Callable[[int], Sequence[MarketPoint]] | None = None
    # Payload pieces the rounds of the batch share (event, market, chart), by what they
    # were built from: every round of a snapshot shows the same ones.
    pieces: dict[tuple[str, int], tuple[object, dict[str, Any]]] = field(default_factory=dict)


_PENDING = NotificationStatus.PENDING.value
_WEBHOOK = ChannelKind.WEBHOOK
CHART_LEVEL = Level.HIGH
CHART_POINTS = 48
ACKED_RISE_NOTE = "You acknowledged this alert; it has become critical since."


def chart_history(level: Level, stored: StoredSnapshot, ctx: RowContext) -> dict[str, Any]:
    """`{"history": [[iso time, cheapest price], …]}` for high and critical alerts, else {}."""
    if level < CHART_LEVEL or ctx.history is None:
        return {}
    points = [p for p in ctx.history(stored.event.id) if p.min_price is not None]
    return {"history": [[p.observed_at.isoformat(), p.min_price] for p in points[-CHART_POINTS:]]}


def _piece(
    ctx: RowContext, kind: str, source: object, build: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`build()`, made once per batch for each `source` object (keyed by identity)."""
    key = (kind, id(source))
    hit = ctx.pieces.get(key)
    if hit is not None and hit[0] is source:
        return hit[1]
    out = build()
    ctx.pieces[key] = (source, out)
    return out


def _event_piece(event: EventRef, ctx: RowContext) -> dict[str, Any]:
    """`event_dict(event)`, built once per batch."""
    return _piece(ctx, "event", event, lambda: event_dict(event))


def _market_piece(level: Level, stored: StoredSnapshot, ctx: RowContext) -> dict[str, Any]:
    """The `data.market` object: the snapshot's point, plus the chart when `level` has one."""
    if level >= CHART_LEVEL and ctx.history is not None:
        return _piece(
            ctx,
            "chart",
            stored,
            lambda: market_dict(stored.point) | chart_history(level, stored, ctx),
        )
    return _piece(ctx, "market", stored, lambda: market_dict(stored.point))


def plan_round(batch: Batch, round_: Round, default_digest: str) -> DeliveryPlan:
    """Where the round goes: the person's chats (or the watch's group) and webhooks."""
    info = batch.info.get(round_.alert.watch_id)
    return plan_delivery(
        round_.score.level,
        round_.person,
        round_.event_type,
        batch.now,
        endpoints=batch.endpoints,
        watch_destination=info.destination if info else None,
        default_digest=default_digest,
    )


def _with_listing(
    links: dict[str, str], spec: WatchSpec | None, listings: Sequence[Listing]
) -> dict[str, str]:
    """The alert's links plus `listing`, the page of the cheapest fitting listing."""
    url = listing_url(spec, listings) if listings else None
    return links if url is None else {**links, "listing": url}


def round_rows(
    batch: Batch,
    round_: Round,
    spec: WatchSpec | None,
    ctx: RowContext,
    *,
    links: dict[str, str],
    chats: bool,
) -> list[dict[str, Any]]:
    """The outbox rows of one round (chat rows only when `chats`: an alert's last round,
    and not covered by another round's message, `merge_rounds`)."""
    now, alert, stored = batch.now, round_.alert, round_.snap.stored
    assert alert.id is not None, "rows are built after the alerts are inserted"
    plan = plan_round(batch, round_, ctx.default_digest)
    kept = round_.covered_by
    if kept is not None:
        chats = False  # webhooks still hear of every alert: integrations count them
        told = f"alert #{kept.id} (watch #{kept.watch_id})"
        round_.audit.append(("covered", f"told in the message of {told}; no escalation of its own"))
    else:
        round_.audit.extend(plan.notes)
        if round_.also:
            named = ", ".join(f"#{r.alert.id} (watch #{r.alert.watch_id})" for r in round_.also)
            round_.audit.append(("covers", f"its message also tells of alert {named}"))
    targets = [t for t in plan.targets if chats or t.channel is _WEBHOOK]
    if not targets:
        return []
    info = batch.info.get(alert.watch_id)
    forecast = batch.forecasts.get(stored.event.id)
    prediction, recommendation = batch.forecast_dicts.get(stored.event.id, (None, None))
    # An acknowledged alert is re-notified only for a rise to critical (`plan_update`): news,
    # written as "update" rows (a new message: no `edit_of`), which delivery does not
    # withdraw as it withdraws what announces an alert no longer open. Its title leads
    # with the level, not with the acknowledgement the person already made, which it offers
    # no button to make again.
    acked = alert.status == "acknowledged"
    age_note = market_age_note(stored.point.observed_at, now, round_.person.timezone)
    left = tickets_left(spec, stored.point, stored.listings) if spec else stored.point.ticket_count
    view = AlertView(
        alert_id=alert.id,
        kind=alert.kind,
        status="open" if acked else alert.status,
        level=round_.score.level,
        score=round_.score.value,
        event=stored.event,
        price=round_.price,
        max_price=info.max_price if info else None,
        max_currency=info.currency if info else None,
        tickets_left=left,
        headline=round_.headline,
        factors=round_.score.factors,
        sentence=advice_sentence(forecast, spec, round_.price, stored, left),
        timezone=round_.person.timezone,
        status_note=_joined(ACKED_RISE_NOTE if acked else None, age_note),
        currency=stored.point.currency,
    )
    buttons = alert_buttons(ctx.signer, alert.id, now=now, rng=ctx.rng, acknowledged=acked)
    level = round_.score.level
    data = {
        "alert": alert_dict(alert),
        "event": _event_piece(stored.event, ctx),
        "market": _market_piece(level, stored, ctx),
        "prediction": prediction,
        "recommendation": recommendation,
        "watch": info.as_dict() if info else {"id": alert.watch_id},
        "links": _with_listing(links, spec, stored.listings),
    }
    # One payload per round; targets differ only in their event type (a digest or not).
    shared = payload(
        event_type=round_.event_type,
        timestamp=now,
        title_text=title(view),
        body_text=body(view),
        buttons=buttons,
        factors=round_.score.factors,
        data=data,
        fresh=True,
    )
    # Chat messages name the other alerts of the person about the event they answer.
    chat_body = f"{shared['body']}\n{also_text(batch, round_)}" if round_.also else None
    rows = []
    alert_id, user_id, fence = alert.id, alert.user_id, round_.fence
    level_value, score = int(level), round_.score.value
    last = len(targets) - 1
    for i, target in enumerate(targets):
        if chat_body is not None and target.channel is not _WEBHOOK:
            row_payload = shared | {"event_type": target.event_type, "body": chat_body}
        elif i == last:  # the last target takes the round's payload itself, uncopied
            shared["event_type"] = target.event_type
            row_payload = shared
        else:
            row_payload = shared | {"event_type": target.event_type}
        kind = target.kind
        if acked and target.channel is not _WEBHOOK:
            # Marked, so delivery edits it should the alert end while it is being sent.
            kind, row_payload = "update", row_payload | {ACKED_RISE: True}
        endpoint = target.webhook_endpoint_id
        channel = target.channel.value
        key_address = f"w{endpoint}" if endpoint is not None else target.address
        rows.append(
            {
                "alert_id": alert_id,
                "user_id": user_id,
                "webhook_endpoint_id": endpoint,
                "kind": kind,
                "channel": channel,
                "address": target.address,
                "level": level_value,
                "score": score,
                "payload": row_payload,
                "idempotency_key": notification_key(
                    alert_id, target.event_type, channel, key_address, fence
                ),
                "status": _PENDING,
                "attempts": 0,
                "due_at": target.due_at,
                "created_at": now,
            }
        )
        ctx.metrics.count("notifications", labels={"channel": channel, "status": "pending"})
    return rows


def _joined(*notes: str | None) -> str | None:
    """The notes given, one line each (None when there are none)."""
    return "\n".join(n for n in notes if n) or None


def also_text(batch: Batch, round_: Round) -> str:
    """The lines naming the other alerts a round's message answers (`Round.also`), e.g.
    "Also matches your watch #12 (mlb): down 20% to $50 from $62 in 24 h"."""
    info = batch.info.get(round_.alert.watch_id)
    others = []
    for other in round_.also:
        theirs = batch.info.get(other.alert.watch_id)
        label = theirs.label if theirs is not None else None
        others.append(OtherAlert(other.alert.watch_id, label, other.headline))
    return other_alerts_text(
        others,
        watch_id=round_.alert.watch_id,
        group=info is not None and info.destination is not None,
        lead="Also",
        verb="Also matches",
        rest="more of your alerts",
    )


def audit_rows(batch: Batch) -> list[dict[str, Any]]:
    """Audit entries of the batch's decisions and rounds (after the alerts have ids)."""
    now = batch.now
    rows: list[dict[str, Any]] = [
        {
            "alert_id": a.id,
            "user_id": a.user_id,
            "at": now,
            "kind": kind,
            "detail": detail,
            "data": None,
        }
        for a, kind, detail in batch.audits
    ]
    for round_ in batch.rounds:
        alert = round_.alert
        rows += [
            {
                "alert_id": alert.id,
                "user_id": alert.user_id,
                "at": now,
                "kind": kind,
                "detail": detail,
                "data": {"fence": round_.fence},
            }
            for kind, detail in round_.audit
        ]
    return rows
