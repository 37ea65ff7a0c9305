"""What an escalation step says of the other alerts its message stands for.

When several of a person's alerts about one event fire in one batch, one message tells
of them all and only its alert escalates (`core.engine_decide.merge_rounds`). Its steps
must name the others still open (`core.siblings.OpenSibling`), or a person who
reads only the text never hears of them: short lines for an SMS (the payload's
`data.also`, fitted to the segment cap by the SMS renderer, which cuts them before the
alert's own text), one sentence for a call, and for a chat the lines the first message
had. Prices are in the event's currency, as the alerts' own reasons are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.formatting import clip, money
from core.render import OtherAlert, other_alerts_text
from core.siblings import OpenSibling

ALSO_LINES = 10  # lines a payload carries; more are only counted
LINE_CHARS = 80


def headline(sibling: OpenSibling, currency: str | None) -> str:
    """What the sibling alert is about: its reason ("down 11% to £50 from £56 in 24 h"),
    else its kind and price."""
    if sibling.reason:
        return sibling.reason
    what = sibling.kind.replace("_", " ")
    return f"{what} at {money(sibling.price, currency)}" if sibling.price is not None else what


def also_piece(
    watch_id: int, siblings: Sequence[OpenSibling], currency: str | None
) -> dict[str, Any]:
    """The `also` of an escalation payload's data.

    Args:
        watch_id: the watch of the escalating alert (a sibling of the same watch, another
            of its triggers, is named without it).
        siblings: the open siblings, in the order they are named.
        currency: the event's (None reads as USD).

    Returns:
        {"alerts": their ids, "count": how many, "lines": one short SMS line each, e.g.
        "Also: watch #12 down 11% to $50 from $56 in 24 h" (the first `ALSO_LINES`),
        "spoken": one sentence for a call}.
    """
    lines = []
    for sibling in siblings[:ALSO_LINES]:
        what = headline(sibling, currency)
        line = (
            f"Also: {what}"
            if sibling.watch_id == watch_id
            else f"Also: watch #{sibling.watch_id} {what}"
        )
        lines.append(clip(line, LINE_CHARS))
    return {
        "alerts": [s.alert_id for s in siblings],
        "count": len(siblings),
        "lines": lines,
        "spoken": spoken(watch_id, siblings),
    }


def spoken(watch_id: int, siblings: Sequence[OpenSibling]) -> str:
    """One sentence for a call: "This also matches 2 of your other watches." (or, when the
    only others are more triggers of the same watch, how many more alerts it has open)."""
    watches = len({s.watch_id for s in siblings} - {watch_id})
    if watches == 1:
        return "This also matches another of your watches."
    if watches:
        return f"This also matches {watches} of your other watches."
    more = len(siblings)
    return (
        "This watch has another alert open for this event."
        if more == 1
        else f"This watch has {more} more alerts open for this event."
    )


def chat_lines(
    watch_id: int, siblings: Sequence[OpenSibling], currency: str | None, *, group: bool
) -> str:
    """The lines a chat message names the siblings with, as the first message did:
    "Also matches your watch #12 (mlb): down 11% to $50 from $56 in 24 h".

    Args:
        watch_id: the watch of the escalating alert.
        siblings: the open siblings, in the order they are named.
        currency: the event's (None reads as USD).
        group: the watch posts to a group chat (its destination is set), so its first
            message named them as a group reads them ("watch #12", `core.engine_rows.
            also_text`); the nudge repeats those lines.
    """
    others = [OtherAlert(s.watch_id, s.label, headline(s, currency)) for s in siblings]
    return other_alerts_text(
        others, watch_id=watch_id, group=group, lead="Also", verb="Also matches",
        rest="more of your alerts",
    )  # fmt: skip
