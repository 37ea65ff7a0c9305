"""What `hdtickets alerts show` prints: one alert, its factors, forecast and timeline. Pure.

The timeline merges the alert's audit entries (every decision, send, failure, ack and
escalation) with its outbox rows (channel, status, attempts, last error) in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from bot.cli.common import utc
from core.api_views import merged_timeline, shown_address
from core.db.models import Alert, AuditEntry, Event, Notification, User, Watch
from core.domain import Level, rough_duration
from core.formatting import local_time, money
from core.redaction import hide_credentials
from core.render import LEVEL_EMOJI


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    what: str
    detail: str


def level_text(level: int) -> str:
    """ "🔥 high" for 4; a bare number when it is not a level."""
    try:
        known = Level(level)
    except ValueError:
        return str(level)
    return f"{LEVEL_EMOJI[known]} {known.label}"


def _notification_detail(row: Notification) -> str:
    payload = row.payload or {}
    event_type = payload.get("event_type") or row.kind
    attempts = f"{row.attempts} attempt{'s' if row.attempts != 1 else ''}"
    parts = [f"#{row.id} {event_type} -> {row.channel} {shown_address(row)}", row.status, attempts]
    if row.sent_at is not None:
        parts.append(f"sent {utc(row.sent_at)}")
    if row.last_error:
        parts.append(f"last error: {row.last_error}")
    return " · ".join(parts)


def timeline(
    audits: Iterable[AuditEntry], notifications: Iterable[Notification]
) -> list[TimelineEntry]:
    """Audit entries and outbox rows of one alert, oldest first (`merged_timeline`)."""
    # A webhook URL stored with a user name or password (before those were refused) may
    # be the address of a send or quoted in an error: never print the password.
    return [
        TimelineEntry(row.at, row.kind, hide_credentials(row.detail))
        if isinstance(row, AuditEntry)
        else TimelineEntry(
            row.created_at, "notification", hide_credentials(_notification_detail(row))
        )
        for row in merged_timeline(audits, notifications)
    ]


def _percent(value: Any) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) else "-"


def _price(value: Any, currency: str | None) -> str:
    return money(float(value), currency) if isinstance(value, int | float) else "-"


def forecast_lines(
    prediction: Mapping[str, Any] | None,
    recommendation: Mapping[str, Any] | None,
    currency: str | None,
) -> list[str]:
    """The prediction and recommendation in a few lines ("no forecast" when absent),
    amounts in `currency` (the event's; None reads as USD)."""
    lines = []
    if recommendation:
        if recommendation.get("sentence"):
            lines.append(str(recommendation["sentence"]))
        lines.append(
            f"advice {recommendation.get('advice', '-')} · "
            f"confidence {_percent(recommendation.get('confidence'))} · "
            f"expected saving {_price(recommendation.get('expected_saving'), currency)} · "
            f"availability risk {_percent(recommendation.get('availability_risk'))}"
        )
    if prediction:
        bands = "/".join(
            _price(prediction.get(k), currency) for k in ("p10_72h", "p50_72h", "p90_72h")
        )
        hours = prediction.get("hours_to_depletion")
        lines.append(
            f"drop within 72 h {_percent(prediction.get('p_drop_72h'))} · "
            f"rise {_percent(prediction.get('p_rise_72h'))} · "
            f"sell-out {_percent(prediction.get('p_sellout'))} · "
            f"min price in 72 h p10/p50/p90 {bands}"
        )
        lines.append(
            f"demand {_percent(prediction.get('demand'))} · depletion in "
            f"{rough_duration(float(hours) * 3600) if isinstance(hours, int | float) else '-'} · "
            f"model {prediction.get('model', '-')}"
        )
    return lines or ["no forecast was made for this alert"]


def factor_table(factors: Sequence[Mapping[str, Any]] | None) -> Table:
    table = Table("Factor", "Value", "Weight", "Reason", title="Factors", title_justify="left")
    for item in factors or ():
        value, weight = item.get("value"), item.get("weight")
        table.add_row(
            str(item.get("name", "?")),
            f"{float(value):.2f}" if isinstance(value, int | float) else "-",
            f"{float(weight):.2f}" if isinstance(weight, int | float) else "-",
            str(item.get("reason", "")),
        )
    return table


def timeline_table(entries: Sequence[TimelineEntry]) -> Table:
    table = Table("Time (UTC)", "Entry", "Detail", title="Timeline", title_justify="left")
    for entry in entries:
        table.add_row(f"{entry.at:%Y-%m-%d %H:%M:%S}", entry.what, entry.detail)
    return table


def header_lines(
    alert: Alert,
    event: Event | None,
    watch: Watch | None,
    user: User | None,
    currency: str | None,
) -> list[str]:
    """Who, what, when and where the alert stands; prices in `currency` (the event's)."""
    lines = [
        f"Alert {alert.id} · {level_text(alert.level)} (score {alert.score:.2f}) · {alert.status}"
    ]
    if event is not None:
        where = ", ".join(p for p in (event.venue, event.city) if p)
        when = local_time(event.starts_at, event.timezone)
        lines.append(f"  event #{event.id} {event.name}{' — ' + where if where else ''}, {when}")
    price = money(alert.price, currency) if alert.price is not None else "-"
    person = f"user {alert.user_id}" + (f" ({user.display_name})" if user else "")
    label = f"watch #{alert.watch_id}" + (f" '{watch.label}'" if watch else "")
    lines.append(f"  {alert.kind} at {price} · {person} · {label}")
    times = [f"opened {utc(alert.opened_at)}", f"updated {utc(alert.updated_at)}"]
    if alert.acknowledged_at:
        times.append(f"acknowledged {utc(alert.acknowledged_at)} via {alert.acked_via or '?'}")
    if alert.snoozed_until:
        times.append(f"snoozed until {utc(alert.snoozed_until)}")
    if alert.snooze_below is not None:
        times.append(f"snoozed until under {money(alert.snooze_below, currency)}")
    if alert.resolved_at:
        times.append(f"resolved {utc(alert.resolved_at)}")
    lines.append("  " + " · ".join(times) + " (UTC)")
    if alert.reason:
        lines.append(f"  reason: {alert.reason}")
    if alert.next_step_at:
        lines.append(f"  escalation step {alert.step}, next step {utc(alert.next_step_at)} UTC")
    return lines


def render_alert(
    alert: Alert,
    event: Event | None,
    watch: Watch | None,
    user: User | None,
    entries: Sequence[TimelineEntry],
    currency: str | None,
) -> RenderableType:
    """Everything `alerts show` prints, as one rich renderable; prices in `currency`
    (the event's, `core.history.event_currencies`; None reads as USD)."""
    forecast = [
        Text("Forecast", style="bold"),
        *(
            Text("  " + line)
            for line in forecast_lines(alert.prediction, alert.recommendation, currency)
        ),
    ]
    return Group(
        *(Text(line) for line in header_lines(alert, event, watch, user, currency)),
        Text(""),
        factor_table(alert.factors),
        Text(""),
        *forecast,
        Text(""),
        timeline_table(entries) if entries else Text("Timeline: nothing recorded yet"),
    )
