"""Acting on an alert that ended says why it ended in a line, however long the reason."""

from __future__ import annotations

from core.alerts import MAX_SHOWN_REASON, _already
from core.db.models import Alert


def test_a_long_resolve_reason_is_clipped_in_the_refusal() -> None:
    alert = Alert(id=12, status="resolved", reason="sold out " + "x" * 900)
    message = str(_already(alert))
    assert message.startswith("alert 12 is already resolved (sold out xxx")
    assert message.endswith("…)") and len(message) <= len("alert 12 is already resolved ()") + (
        MAX_SHOWN_REASON
    )


def test_a_short_reason_is_shown_whole() -> None:
    alert = Alert(id=3, status="resolved", reason="bought via console")
    assert str(_already(alert)) == "alert 3 is already resolved (bought via console)"
