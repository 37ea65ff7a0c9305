"""Unit-test fixtures shared by every module here."""

from __future__ import annotations

import pytest

from core.ingest import rules


@pytest.fixture(autouse=True)
def _fresh_event_caches() -> None:
    """`check_event` hands back the first equal event it saw: another test's equal event
    would make a test's event "not this very object" and its snapshot not normal, so a
    test's outcome would depend on which ran before it."""
    rules.check_event.cache_clear()
    rules._NORMAL_EVENTS.clear()
