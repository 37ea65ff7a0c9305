"""The escalation ticker: unacknowledged alerts past a step's deadline -> the next step.

`EscalationService.tick(now)` runs every second (bot/jobs.py). For each open alert whose
`next_step_at` is due it plans the step (`core.escalation_rules`), then, in one
transaction, advances the alert with a compare-and-set on `(fence, step, next_step_at)`
and writes the step's outbox rows and timeline entries. Acknowledge, snooze, mute, bought
and resolve (`core.alerts`) bump the fence and clear `next_step_at`, so a timer that fires
after them changes nothing; the engine stopping a round clears `next_step_at` alone, which
the compare-and-set also sees; two tickers racing for one step (or a restarted process)
lose it. Each send's idempotency key names the alert, the policy round, the step and the
destination, so a step's SMS or call is never written twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import ActionSigner
from core.alert_payload import alert_links, event_ref, notification_key, stored_view
from core.db.models import Alert
from core.db.statements import insert_skipping, rowcount
from core.db.tables import AUDIT_LOG, NOTIFICATIONS
from core.delivery_plan import WebhookTarget, webhook_targets
from core.domain import ChannelKind, NotificationStatus
from core.engine_support import WatchInfo
from core.escalation_load import ESCALATION_KIND, Context, DueAlert, due_alerts, load_context
from core.escalation_rules import Chain, EscalationConfig, Send, SendKind, StepPlan, plan_step
from core.escalation_texts import also_piece, chat_lines
from core.formatting import money
from core.metrics import Metrics, NullMetrics
from core.outbox import OutboxSignal
from core.ports import Clock
from core.render import (
    AlertView,
    alert_buttons,
    body,
    event_dict,
    factors_from_dicts,
    payload,
    title,
)

logger = logging.getLogger(__name__)

EVENT_TYPE = "alert.escalated"
# Sends the throttles and the daily cap count (keys of `PersonNow.sent`).
_COUNTED = frozenset({SendKind.SMS, SendKind.VOICE, SendKind.EMERGENCY})


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did: steps fired, steps held, stale timers skipped, lateness."""

    due: int = 0
    fired: int = 0
    held: int = 0
    stale: int = 0
    max_lateness_s: float = 0.0


class EscalationService:
    """Walks the frozen escalation policies of open alerts; see the module docstring.

    Args:
        sessions: the session factory.
        clock: the injected clock (`tick()` without `now` reads it).
        config: throttles, caps, presence window and voice hours.
        signer: signs the chat buttons of escalated messages.
        rng: nonces of those tokens.
        metrics: escalation_steps, escalation_lateness_seconds.
        signal: wakes delivery workers after rows are committed.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        config: EscalationConfig,
        signer: ActionSigner,
        rng: random.Random,
        metrics: Metrics | None = None,
        signal: OutboxSignal | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.config = config
        self._signer = signer
        self._rng = rng
        self._metrics = metrics or NullMetrics()
        self._signal = signal

    async def tick(self, now: datetime | None = None) -> TickReport:
        """Fire every step due at `now` (the clock's time when None), chunk by chunk."""
        now = now or self._clock.now()
        report = TickReport()
        while True:
            async with self._sessions() as session, session.begin():
                chunk = await due_alerts(session, now, self.config.batch_size)
                if not chunk:
                    break
                ctx = await load_context(session, chunk, now, self.config.presence_window_s)
                part = await self._steps(session, chunk, ctx, now)
            report = TickReport(
                report.due + part.due,
                report.fired + part.fired,
                report.held + part.held,
                report.stale + part.stale,
                max(report.max_lateness_s, part.max_lateness_s),
            )
            if len(chunk) < self.config.batch_size or part.fired + part.held == 0:
                break
        if report.fired and self._signal is not None:
            self._signal.notify()
        return report

    async def _steps(
        self, session: AsyncSession, chunk: Sequence[DueAlert], ctx: Context, now: datetime
    ) -> TickReport:
        rows: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        fired = held = stale = 0
        lateness = 0.0
        for alert in chunk:
            person = ctx.people.get(alert.user_id)
            if person is None:
                continue
            chain = Chain.from_alert(alert.escalation, alert.step, alert.prediction, alert.level)
            plan = plan_step(chain, person, self.config, now)
            if not await self._advance(session, alert, chain, plan, now):
                stale += 1
                continue
            late = max(0.0, (now - alert.next_step_at).total_seconds())
            lateness = max(lateness, late)
            self._metrics.observe("escalation_lateness_seconds", late)
            target = chain.steps[chain.step].target.value if chain.step < len(chain.steps) else "-"
            fired += plan.advance and not plan.skipped
            held += not plan.advance
            self._metrics.count(
                "escalation_steps", labels={"target": target, "fired": str(plan.advance).lower()}
            )
            new_rows = self._rows(alert, chain, plan, ctx, now)
            rows += new_rows
            for send in plan.sends:  # later alerts of this chunk see these sends
                if send.kind in _COUNTED:
                    person.sent.setdefault(send.kind.value, []).append(now)
            audits += self._audits(alert, chain, plan, target, now)
        if rows:
            stmt = insert_skipping(session, NOTIFICATIONS, ("idempotency_key",))
            await session.execute(stmt, rows)
        if audits:
            await session.execute(insert(AUDIT_LOG), audits)
        return TickReport(len(chunk), fired, held, stale, lateness)

    async def _advance(
        self, session: AsyncSession, alert: DueAlert, chain: Chain, plan: StepPlan, now: datetime
    ) -> bool:
        """Compare-and-set the alert's step; False when a fence, a stop or another ticker won."""
        snapshot = dict(alert.escalation)
        snapshot["shift_s"] = plan.shift_s
        snapshot["held"] = list(plan.held)
        result = await session.execute(
            update(Alert)
            .where(
                Alert.id == alert.id,
                Alert.fence == alert.fence,
                Alert.step == alert.step,
                # The engine stops a round without a new fence (chat edits match on it):
                # it clears the due time, which this read saw set.
                Alert.next_step_at == alert.next_step_at,
                Alert.status == "open",
            )
            .values(
                step=chain.step if plan.advance else alert.step,
                next_step_at=plan.next_due,
                escalation=snapshot,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(rowcount(result))

    def _rows(
        self, alert: DueAlert, chain: Chain, plan: StepPlan, ctx: Context, now: datetime
    ) -> list[dict[str, Any]]:
        # A step taken is told to the webhooks subscribed even when it reaches nobody
        # here (no phone): a receiving system may page people of its own.
        endpoints = (
            webhook_targets(ctx.endpoints, alert.user_id, EVENT_TYPE) if plan.advance else []
        )
        if not plan.sends and not endpoints:
            return []
        event = ctx.events.get(alert.event_id)
        if event is None:
            return []
        watch = ctx.watches.get(alert.watch_id)
        ref = event_ref(event)
        person = ctx.people[alert.user_id]
        marker = f"esc{chain.round_id}s{chain.step}" + ("" if plan.advance else "h")
        note = f"Escalated (step {chain.step}): not acknowledged yet"
        currency = ctx.currencies.get(alert.event_id)
        view = stored_view(
            alert, ref, watch, currency,
            headline=alert.reason, factors=(), timezone=person.timezone, status_note=note,
        )  # fmt: skip
        buttons = alert_buttons(self._signer, alert.id, now=now, rng=self._rng)
        # The other open alerts its first message told of do not escalate on their own
        # (`merge_rounds`): each step names them (`core.escalation_texts`).
        siblings = ctx.siblings.get(alert.id, ())
        text = body(view)
        chat_text = text
        if siblings:
            # Worded as the first message named them: a group watch's as the group read them.
            group = watch is not None and WatchInfo.from_row(watch).destination is not None
            chat_text = f"{text}\n{chat_lines(alert.watch_id, siblings, currency, group=group)}"
        data = {
            "alert": {"id": alert.id, "level": alert.level, "status": alert.status,
                      "kind": alert.kind, "price": alert.price, "step": chain.step},
            "event": event_dict(ref),
            "market": {"min_price": alert.price, "currency": currency},
            "watch": {"id": alert.watch_id, "max_price": watch.max_price if watch else None,
                      "currency": watch.currency if watch else None},
            "escalation": {"step": chain.step, "round": chain.round_id},
        }  # fmt: skip
        if siblings:
            data["also"] = also_piece(alert.watch_id, siblings, currency)
        out = self._webhook_rows(alert, data, view, endpoints, marker, now)
        for send in plan.sends:
            if send.kind is SendKind.EMERGENCY:
                price = money(alert.price, currency) if alert.price is not None else "a good price"
                who = ctx.names.get(alert.user_id, "Someone")
                body_payload = payload(
                    event_type=EVENT_TYPE,
                    timestamp=now,
                    title_text=f"{who} asked us to reach you: tickets for {event.name} at {price}.",
                    body_text=f"Please let {who} know.",
                    data={"emergency": {"person": who, "event": event.name, "price": alert.price}},
                )
            else:
                body_payload = payload(
                    event_type=EVENT_TYPE,
                    timestamp=now,
                    title_text=title(view),
                    body_text=chat_text if send.kind is SendKind.CHAT else text,
                    buttons=buttons if send.kind is SendKind.CHAT else (),
                    factors=factors_from_dicts(None),
                    data=data,
                )
            key = notification_key(
                alert.id, marker, send.channel.value, send.address, send.kind.value
            )
            out.append(_row(alert, send.channel, send.address, None, body_payload, key, now))
        return out

    def _webhook_rows(
        self,
        alert: DueAlert,
        data: dict[str, Any],
        view: AlertView,
        endpoints: Sequence[WebhookTarget],
        marker: str,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """One `alert.escalated` event per endpoint in `endpoints` (the person's or global
        ones subscribed to it), with the whole data of DESIGN.md §9, each step once."""
        if not endpoints:
            return []
        body_payload = payload(
            event_type=EVENT_TYPE,
            timestamp=now,
            title_text=title(view),
            body_text=body(view),
            data={
                **data,
                "prediction": alert.prediction,
                "recommendation": alert.recommendation,
                "links": alert_links(self.config.public_url, alert.id),
            },
        )
        hook = ChannelKind.WEBHOOK
        rows = []
        for endpoint in endpoints:
            url, endpoint_id = endpoint.url, endpoint.endpoint_id
            key = notification_key(alert.id, marker, hook.value, url, endpoint_id)
            rows.append(_row(alert, hook, url, endpoint_id, body_payload, key, now))
        return rows

    @staticmethod
    def _audits(
        alert: DueAlert, chain: Chain, plan: StepPlan, target: str, now: datetime
    ) -> list[dict[str, Any]]:
        base = {"step": chain.step, "target": target, "fence": alert.fence}
        entries = [
            {"alert_id": alert.id, "user_id": alert.user_id, "at": now, "kind": kind,
             "detail": detail, "data": base}
            for kind, detail in plan.notes
        ]  # fmt: skip
        if plan.advance and not plan.skipped:
            where = ", ".join(_describe(s) for s in plan.sends) or "nobody"
            nxt = plan.next_due.isoformat() if plan.next_due else "none (finished)"
            entries.append(
                {"alert_id": alert.id, "user_id": alert.user_id, "at": now, "kind": "escalated",
                 "detail": f"step {chain.step} ({target}): {where}; next step {nxt}",
                 "data": {**base, "sends": [_describe(s) for s in plan.sends]}}
            )  # fmt: skip
        return entries


def _row(
    alert: DueAlert,
    channel: ChannelKind,
    address: str,
    endpoint_id: int | None,
    body_payload: dict[str, Any],
    key: str,
    now: datetime,
) -> dict[str, Any]:
    """The outbox row (insert values) of one message of a step, due now."""
    return {
        "alert_id": alert.id,
        "user_id": alert.user_id,
        "webhook_endpoint_id": endpoint_id,
        "kind": ESCALATION_KIND,
        "channel": channel.value,
        "address": address,
        "level": alert.level,
        "score": alert.score,
        "payload": body_payload,
        "idempotency_key": key,
        "status": NotificationStatus.PENDING.value,
        "attempts": 0,
        "due_at": now,
        "created_at": now,
    }


def _describe(send: Send) -> str:
    return f"{send.kind.value}:{send.channel.value}:{send.address}"


__all__ = ["EscalationConfig", "EscalationService", "TickReport"]
