"""An event listed in pounds alerts in pounds: the new alert, its factor reasons, its
market payload and the edit after an answer (a London event's alert read "$45")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.clock import FakeClock
from core.db.models import Notification
from core.domain import ActionKind, EventInfo, SnapshotIn
from core.ingest import IngestService
from core.metrics import RecordingMetrics
from tests.integration.engine_helpers import (
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    notifications_of,
)

Sessions = async_sessionmaker[AsyncSession]
DERBY = EventInfo(
    external_id="ars-tot",
    name="Arsenal v Tottenham",
    starts_at=datetime(2024, 3, 31, 15, 0, tzinfo=UTC),
    venue="Emirates Stadium",
    city="London",
    timezone="Europe/London",
)


def _texts(payload: dict[str, Any]) -> str:
    reasons = " ".join(str(f["reason"]) for f in payload["factors"])
    return f"{payload['title']}\n{payload['body']}\n{reasons}"


@pytest.mark.parametrize("typed", [None, "GBP"])
async def test_a_gbp_event_alerts_in_pounds_and_its_edit_too(
    sessions: Sessions, clock: FakeClock, typed: str | None
) -> None:
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        await add_watch(
            session, ada, None, terms=["arsenal"], label="arsenal", max_price=50.0, currency=typed
        )
    engine = await fresh_engine(sessions)
    ingest = IngestService(sessions, engine, clock, RecordingMetrics())
    now = clock.now()
    for minutes, price in ((30, 61.5), (0, 45.0)):
        snap = SnapshotIn(
            source="feed",
            event=DERBY,
            observed_at=now - timedelta(minutes=minutes),
            currency="GBP",
            min_price=price,
            ticket_count=1000,
        )
        report = await ingest.ingest_snapshots([snap])
        assert report.accepted == 1

    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session, alert.id)
    (chat,) = [n for n in notes if n.kind == "alert"]
    payload = chat.payload
    assert payload["title"].endswith("Arsenal v Tottenham — £45 (your max £50)")
    text = _texts(payload)
    assert "cheapest £45 is at or under your max £50" in text
    assert "£45 is 10% under your max £50" in text
    assert "24 h high £61.50" in text
    assert "$" not in text
    assert payload["data"]["market"]["currency"] == "GBP"
    assert payload["data"]["watch"]["max_price"] == 50.0  # in pounds, typed so or not
    assert payload["data"]["watch"]["currency"] == typed  # None: each event's own

    # The person snoozes until cheaper, then acknowledges: each edit is in pounds.
    async with sessions() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.id == chat.id)
            .values(status="sent", receipt={"message_id": "m1"})
        )
        await apply_action(
            session, alert.id, ActionKind.SNOOZE_CHEAPER, user_id=ada.id, via="telegram", now=now
        )
    async with sessions() as session:
        (snoozed,) = [n for n in await notifications_of(session, alert.id) if n.kind == "update"]
    assert "Snoozed until the price is under £42.75" in _texts(snoozed.payload)
    assert "$" not in _texts(snoozed.payload)
    async with sessions() as session, session.begin():
        await apply_action(
            session, alert.id, ActionKind.ACK, user_id=ada.id, via="telegram", now=now
        )
    async with sessions() as session:
        edits = [n for n in await notifications_of(session, alert.id) if n.kind == "update"]
    edit = edits[-1]
    assert edit.payload["title"] == "✅ Acknowledged: Arsenal v Tottenham — £45 (your max £50)"
    assert "$" not in _texts(edit.payload)
    assert edit.payload["data"]["market"] == {"min_price": 45.0, "currency": "GBP"}
    assert edit.payload["data"]["watch"]["currency"] == typed
