"""The chat command set as data: usage, one-line summary and an example for each command.

Every platform shows the same help; Telegram publishes `SPECS` as its command menu,
Slack and Discord build their sub-command lists from it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One chat command: how to write it, what it does, and an example that works."""

    name: str
    usage: str
    summary: str
    example: str


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "watch",
        "watch <what> [under <price>] [qty <n>] [zone <text>] [drop <pct>%]",
        "watch an event, team, performer or venue for a price",
        "watch yankees under 80 qty 2",
    ),
    CommandSpec("watches", "watches", "list your watches", "watches"),
    CommandSpec("unwatch", "unwatch <id>", "remove a watch", "unwatch 3"),
    CommandSpec(
        "pause", "pause <id>|all", "pause a watch, or all (no alerts until resumed)", "pause 3"
    ),
    CommandSpec("resume", "resume <id>|all", "resume a paused watch, or all", "resume 3"),
    CommandSpec(
        "alerts",
        "alerts [page]",
        "list your open alerts, most urgent first (20 a page)",
        "alerts 2",
    ),
    CommandSpec("ack", "ack <id>", "acknowledge an alert (stops escalation)", "ack 12"),
    CommandSpec(
        "snooze",
        "snooze <id> [30m|2h|1d|1w|under <price>]",
        "snooze an alert for a while (1 hour if not said, at most 30 days), or until the"
        " price is under a target",
        "snooze 12 2h",
    ),
    CommandSpec("mute", "mute <id>", "mute an alert's event for this watch", "mute 12"),
    CommandSpec("bought", "bought <id>", "mark an alert as bought (closes it)", "bought 12"),
    CommandSpec(
        "market",
        "market <what>",
        "the current market for an event, with the forecast",
        "market yankees red sox",
    ),
    CommandSpec(
        "prefs",
        "prefs [channels <a,b>|level [channel] <level>|digest hourly|daily|wake on|off"
        "|learning reset]",
        "show or set preferences: channel order, minimum level (for all or one channel),"
        " digest, wake for critical; forget what was learned from your responses",
        "prefs digest daily",
    ),
    CommandSpec(
        "quiet",
        "quiet [<HH:MM-HH:MM>|off]",
        "show or set quiet hours (local time)",
        "quiet 22:00-07:00",
    ),
    CommandSpec("tz", "tz [<Area/City>]", "show or set your time zone", "tz America/New_York"),
    CommandSpec("phone", "phone <E.164>", "add your phone for SMS and calls", "phone +14155550123"),
    CommandSpec(
        "contact",
        "contact add <name> <E.164>",
        "add an emergency contact (they must agree)",
        "contact add Sam +14155550123",
    ),
    CommandSpec(
        "link", "link [code]", "link this chat account to your other ones (coming soon)", "link"
    ),
    CommandSpec("help", "help [command]", "list commands, or explain one", "help watch"),
)

BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in SPECS}

# Other words people type for the same command.
ALIASES: dict[str, str] = {
    "remove": "unwatch",
    "delete": "unwatch",
    "list": "watches",
    "watchlist": "watches",
    "acknowledge": "ack",
    "preferences": "prefs",
    "settings": "prefs",
    "timezone": "tz",
    "start": "help",
    "?": "help",
}


def example(name: str) -> str:
    """Return the example for command `name` (which must be known)."""
    return BY_NAME[name].example


# Commands that take no words after them: not the guess for a typo that has some.
_TAKE_NOTHING = frozenset({"watches"})


def closest(word: str, words_after: bool = False) -> str | None:
    """Return the known command (alias resolved) closest to `word`, if any is close; with
    `words_after`, one that takes them ("watchs knicks" is watch, not watches)."""
    if len(word) < 3:  # "me" is not a typo of "mute"
        return None
    known = [*BY_NAME, *ALIASES]
    if words_after:
        known = [name for name in known if ALIASES.get(name, name) not in _TAKE_NOTHING]
    found = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if not found:
        return None
    return ALIASES.get(found[0], found[0])


def help_lines(topic: str | None = None) -> list[str]:
    """Return the help text: every command in one line each, or one command in detail.

    Args:
        topic: a command name (or alias); None for the whole list.
    """
    if topic is None:
        lines = ["Commands (a leading / is optional):"]
        lines += [f"{spec.usage} — {spec.summary}" for spec in SPECS]
        lines.append('Tip: put a name with command words in quotes: watch "under the sea" under 50')
        return lines
    spec = BY_NAME[ALIASES.get(topic, topic)]
    lines = [spec.usage, spec.summary, f"Example: {spec.example}"]
    if spec.name == "watch":
        lines += [
            "watch #<event id> picks one event; watch any <words> follows every future event "
            "that matches.",
            "No price: you hear when the cheapest price drops 10% or more.",
            "Put a price after under: watch rockies under 40. When a bare number or a day"
            " (fri, tonight) makes a name match nothing, you get choices.",
            "A currency may go with the price (£80, 80 CAD); a watch of many events then"
            " alerts only on events priced in it.",
            "Cents go after a dot (80.50); a comma before two digits reads the same (80,50).",
        ]
    if spec.name == "quiet":
        lines.append("Also written 22:00 to 07:00, 2200-0700, 22.00-07.00 or 10pm-7am.")
    return lines
