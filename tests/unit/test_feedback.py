"""Which audit entries are feedback, and with which outcome (core.feedback)."""

from __future__ import annotations

import pytest

from core.feedback import ENDINGS, RESPONSES, factor_values, outcome_for
from ml.learning import NEGATIVE, POSITIVE


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("acknowledged", "acknowledged"),
        ("bought", "bought"),
        ("clicked", "clicked"),
        ("snoozed", "snoozed"),
        ("muted", "muted"),
    ],
)
def test_a_response_is_its_own_outcome_whatever_else_happened(kind: str, outcome: str) -> None:
    for responded in (False, True):
        for shown in (False, True):
            assert outcome_for(kind, responded=responded, shown=shown) == outcome


@pytest.mark.parametrize("kind", ["resolved", "expired"])
def test_an_ending_is_ignored_only_when_shown_and_unanswered(kind: str) -> None:
    assert outcome_for(kind, responded=False, shown=True) == "ignored"
    assert outcome_for(kind, responded=True, shown=True) is None  # they did respond
    assert outcome_for(kind, responded=False, shown=False) is None  # never reached them


@pytest.mark.parametrize(
    "kind", ["opened", "notified", "sent", "rescored", "woke", "escalated", "delivery_dead"]
)
def test_the_engines_own_entries_are_no_feedback(kind: str) -> None:
    assert outcome_for(kind, responded=False, shown=True) is None


def test_every_outcome_is_one_the_person_model_learns_from() -> None:
    outcomes = set(RESPONSES.values()) | {"ignored"}
    assert outcomes == POSITIVE | NEGATIVE
    assert not ENDINGS & set(RESPONSES)


def test_factor_values_skip_malformed_entries() -> None:
    raw = [
        {"name": "price", "value": 0.9, "weight": 0.25, "reason": "x"},
        {"name": "urgency"},
        {"value": 0.3},
        {"name": "demand", "value": "high"},
        {"name": "reliability", "value": "0.5", "weight": 0.1, "reason": "y"},
        {"name": "preference", "value": 0.4},  # not an alert factor as stored: no weight
    ]
    assert factor_values(raw) == {"price": 0.9, "reliability": 0.5}
    assert factor_values(None) == {}
