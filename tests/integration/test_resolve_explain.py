"""A resolve reads an alert's stored explanation only when a message shows it.

The engine holds no explanation for an alert it resolves without re-scoring; `announce`
asks for one (`explain`) just for the alerts that get an edit or a webhook event, and
those messages carry the factors the alert was stored with.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import announce as announce_module
from core import announce_rows
from core.db.models import Alert, Notification
from core.pipeline import EngineConfig
from tests.integration.engine_helpers import (
    T0,
    add_seed,
    fresh_engine,
    minutes,
    notifications_of,
    process_snapshot,
)

Sessions = async_sessionmaker[AsyncSession]
RECEIPT = {"channel": "telegram", "address": "tg-100", "message_id": "m-7", "detail": None}


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Record the ids each `announce` asks to be explained."""
    asked: list[list[int]] = []
    real = announce_module.announce

    async def spying(*args: Any, **kwargs: Any) -> int:
        explain = kwargs.get("explain")
        if explain is not None:

            async def recording(alert_ids: list[int]) -> None:
                asked.append(list(alert_ids))
                await explain(alert_ids)

            kwargs["explain"] = recording
        return await real(*args, **kwargs)

    monkeypatch.setattr("core.pipeline.announce", spying)
    return asked


async def test_a_resolve_with_a_sent_message_edits_it_with_the_stored_factors(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _spy(monkeypatch)
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=0))
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    async with sessions() as session, session.begin():
        await session.execute(update(Notification).values(status="sent", receipt=RECEIPT))
        stored = (await session.scalars(select(Alert))).one()
        factors, alert_id = stored.factors, stored.id
    assert factors  # opened with its explanation
    result = await process_snapshot(sessions, engine, seed, T0 + minutes(1), 50.0)
    assert result.alerts_resolved == 1 and result.notifications == 1
    assert asked == [[alert_id]]
    async with sessions() as session:
        edit = (await notifications_of(session))[-1]
    assert edit.payload["event_type"] == "alert.resolved"
    assert edit.payload["edit_of"] == RECEIPT
    assert edit.payload["factors"] == factors


async def test_a_resolve_with_nothing_to_edit_reads_no_explanation(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _spy(monkeypatch)
    read: list[int] = []
    real = announce_rows.title

    def counting_title(view: Any) -> str:
        read.append(view.alert_id)
        return real(view)

    monkeypatch.setattr(announce_rows, "title", counting_title)
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
    engine = await fresh_engine(sessions, config=EngineConfig(resolve_hold_s=0))
    await process_snapshot(sessions, engine, seed, T0, 28.0)
    result = await process_snapshot(sessions, engine, seed, T0 + minutes(1), 50.0)
    assert result.alerts_resolved == 1 and result.notifications == 0
    assert asked == [] and read == []  # nothing rendered, nothing read
    async with sessions() as session:
        kinds = [n.kind for n in await notifications_of(session)]
    assert "update" not in kinds
