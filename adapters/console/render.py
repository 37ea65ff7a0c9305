"""Pure formatting for the terminal: alerts and replies to rich renderables.

Buttons and choices become numbered options; `Option` says what a number does
(press a token, run a command, or show a link).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from core.chat import Reply
from core.domain import Button, Level, OutboundMessage

LEVEL_STYLE: dict[Level, tuple[str, str]] = {
    Level.CRITICAL: ("bold red", "CRITICAL"),
    Level.HIGH: ("bold dark_orange", "HIGH"),
    Level.MEDIUM: ("yellow", "MEDIUM"),
    Level.NORMAL: ("cyan", "NORMAL"),
    Level.LOW: ("dim", "LOW"),
}


@dataclass(frozen=True, slots=True)
class Option:
    """What typing a number does: press a token, run a command, or show a link."""

    label: str
    token: str | None = None
    command: str | None = None
    url: str | None = None


def button_options(buttons: Sequence[Button]) -> list[Option]:
    return [Option(label=b.label, token=b.token, url=b.url) for b in buttons]


def message_options(message: OutboundMessage) -> list[Option]:
    """The numbered options of an alert: its buttons (from the message or its payload)."""
    if message.buttons:
        return button_options(message.buttons)
    raw = message.payload.get("buttons")
    options = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping) and item.get("label"):
            options.append(
                Option(
                    label=str(item["label"]),
                    token=_str_or_none(item.get("token")),
                    url=_str_or_none(item.get("url")),
                )
            )
    return options


def reply_options(reply: Reply) -> list[Option]:
    """The numbered options of a reply: its choices, then its buttons."""
    options = [Option(label=c.label, token=c.token, command=c.command) for c in reply.choices]
    return options + button_options(reply.all_buttons())


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None


def _level(message: OutboundMessage) -> Level:
    try:
        return Level(int(message.level))
    except ValueError:
        return Level.LOW


def _factors(payload: Mapping[str, object]) -> Table | None:
    raw = payload.get("factors")
    if not isinstance(raw, list) or not raw:
        return None
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("factor")
    table.add_column("value", justify="right")
    table.add_column("weight", justify="right")
    table.add_column("why")
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        value, weight = item.get("value"), item.get("weight")
        table.add_row(
            str(item.get("name", "?")),
            f"{value:.2f}" if isinstance(value, int | float) else "—",
            f"{weight:.2f}" if isinstance(weight, int | float) else "—",
            str(item.get("reason", "")),
        )
    return table


def _factor_lines(payload: Mapping[str, object]) -> set[str]:
    raw = payload.get("factors")
    items = raw if isinstance(raw, list) else []
    return {
        f"• {item.get('name')}: {item.get('reason')}" for item in items if isinstance(item, Mapping)
    }


UNANSWERABLE_HINT = "answer with `hdtickets alerts ack|snooze {id}`, or run with the chat"


def _unanswerable_hint(payload: Mapping[str, object]) -> str:
    """Where to answer an alert no chat reads, naming its id (the panel shows none)."""
    data = payload.get("data")
    alert = data.get("alert") if isinstance(data, Mapping) else None
    alert_id = alert.get("id") if isinstance(alert, Mapping) else None
    return UNANSWERABLE_HINT.format(id=alert_id if isinstance(alert_id, int) else "ID")


def _options_text(options: Sequence[Option]) -> Text:
    text = Text()
    for number, option in enumerate(options, start=1):
        if number > 1:
            text.append("  ")
        text.append(f"[{number}] ", style="bold")
        text.append(option.label + (" ↗" if option.url and not option.token else ""))
    return text


def render_alert(
    message: OutboundMessage, options: Sequence[Option], *, answerable: bool = True
) -> RenderableType:
    """An alert as a coloured panel: level, title, body, factors and numbered buttons.

    Without `answerable` (no chat reads this terminal: `run --no-chat`) the buttons are
    listed as what the alert offers, with where to press them instead of a number.
    """
    style, badge = LEVEL_STYLE[_level(message)]
    factors = _factors(message.payload)
    body = message.body
    if factors is not None:  # the table shows the reasons; drop the body's "• name: reason"
        shown = _factor_lines(message.payload)
        body = "\n".join(line for line in body.splitlines() if line not in shown)
    parts: list[RenderableType] = [Text(body)]
    if factors is not None:
        parts += [Text(""), factors]
    if options and answerable:
        parts += [Text(""), _options_text(options), Text("type a number to choose", style="dim")]
    elif options:
        offered = " · ".join(option.label for option in options)
        hint = _unanswerable_hint(message.payload)
        parts += [Text(""), Text(f"{offered} — {hint}", style="dim")]
    kind = message.payload.get("event_type")
    subtitle = str(kind) if kind and kind != "alert.triggered" else None
    return Panel(
        Group(*parts),
        title=Text(f"{badge} · {message.title}", style=style),
        title_align="left",
        subtitle=subtitle,
        border_style=style,
    )


def render_update(message: OutboundMessage, message_id: str | None) -> Text:
    """One line for an edit in place of an earlier alert."""
    style, badge = LEVEL_STYLE[_level(message)]
    first = message.body.splitlines()[0] if message.body else ""
    text = Text("↻ updated ", style="bold")
    text.append(f"{message_id or '?'} ", style="dim")
    text.append(f"{badge} {message.title}", style=style)
    if first:
        text.append(f" — {first}")
    return text


def render_reply(
    reply: Reply, options: Sequence[Option], *, chart: str | None = None
) -> RenderableType:
    """The bot's answer: its lines (red when refused), the numbered options, then `chart`
    (where the reply's chart image was saved: a terminal shows no images)."""
    style = "red" if reply.is_error else ""
    parts: list[RenderableType] = [Text(line, style=style) for line in reply.lines]
    for number, option in enumerate(options, start=1):
        parts.append(Text(f"  [{number}] {option.label}"))
    if options:
        parts.append(Text("type a number to choose", style="dim"))
    if chart is not None:
        parts.append(Text(chart, style="dim"))
    return Group(*parts)
