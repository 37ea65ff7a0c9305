"""The emergency-contacts step is throttled like any text: the SMS windows (over the texts
to the person's contacts) and the person's daily cap apply, and the timeline says so."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.escalation_rules import plan_step
from tests.unit.test_escalation_rules import CFG, T0, chain, kinds, person

CONTACTS_DUE = T0 + timedelta(seconds=900)  # step 3 of the critical row


def _ago(n: int, seconds: int) -> list[datetime]:
    return [CONTACTS_DUE - timedelta(seconds=seconds) for _ in range(n)]


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        ({"emergency": _ago(5, 600)}, "emergency contact texts throttled (5 per 15 min)"),
        ({"emergency": _ago(11, 1800)}, "emergency contact texts throttled (11 per 1 h)"),
        ({"emergency": _ago(30, 7200)}, "daily cap of 30 reached"),
        ({"sms": _ago(15, 20000), "voice": _ago(15, 20000)}, "daily cap of 30 reached"),
    ],
)
def test_a_throttled_contacts_step_texts_no_contact_and_says_so(
    sent: dict[str, list[datetime]], why: str
) -> None:
    """Texts to contacts within a window, or the person's 30 texts and calls of the day,
    keep the contacts step from texting anyone; the person's chats get it instead, and
    the notes (the alert's timeline) say what held it, as for a throttled SMS step."""
    plan = plan_step(chain(step=3), person(sent=sent), CFG, CONTACTS_DUE)
    assert kinds(plan) == ["chat", "chat"] and plan.advance
    assert ("throttled", f"{why}: contacts not texted") in plan.notes, plan.notes
    assert any(kind == "fallthrough" and "chat instead" in d for kind, d in plan.notes)


@pytest.mark.parametrize(
    "sent",
    [
        {"emergency": _ago(4, 600)},
        {"emergency": _ago(10, 1800)},
        {"emergency": _ago(29, 7200)},
        {"sms": _ago(5, 600)},  # the person's own texts do not throttle their contacts
    ],
)
def test_contacts_are_texted_below_the_windows_and_the_cap(
    sent: dict[str, list[datetime]],
) -> None:
    """Under every window and the cap the contacts step texts each opted-in contact."""
    plan = plan_step(chain(step=3), person(sent=sent), CFG, CONTACTS_DUE)
    assert kinds(plan) == ["emergency"] and not plan.notes
