"""Seeding helpers for escalation tests: a person with chats and phones, an open alert."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import ActionSigner
from core.clock import FakeClock
from core.db.models import Alert, AuditEntry, ContactPoint, Notification, Preference, User
from core.domain import Level
from core.escalation import EscalationService
from core.escalation_rules import EscalationConfig
from core.metrics import RecordingMetrics
from core.policy import freeze
from tests.integration.engine_helpers import SECRET, add_event, add_user, add_watch

_SEQ = itertools.count(1)


async def add_phone(
    session: AsyncSession,
    user_id: int,
    *,
    emergency: bool = False,
    consent: bool = True,
    at: datetime,
    name: str | None = None,
) -> ContactPoint:
    cp = ContactPoint(
        user_id=user_id, kind="sms", name=name, address_encrypted="x", address_masked="+1•••0000",
        verified_at=at if (consent or not emergency) else None, is_emergency=emergency,
        owner_consent_at=at if emergency and consent else None, created_at=at,
    )  # fmt: skip
    session.add(cp)
    await session.flush()
    return cp


async def seed_alert(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    level: Level,
    *,
    chats: Sequence[tuple[str, str]] = (("telegram", "tg-100"), ("console", "con-1")),
    phone: bool = True,
    emergency: bool = True,
    quiet: tuple[str, str] | None = None,
    pref: dict[str, Any] | None = None,
    prediction: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Alert:
    """A person, an event, a watch and an open alert with its policy frozen at `now`."""
    n = next(_SEQ)
    async with sessions() as session, session.begin():
        user = await add_user(session, name=f"Ada {n}", chats=chats, quiet=quiet)
        if pref is not None or overrides is not None:
            session.add(
                Preference(user_id=user.id, escalation_overrides=overrides or {}, **(pref or {}))
            )
        event = await add_event(session, external_id=f"ev{n}")
        watch = await add_watch(session, user, event)
        if phone:
            await add_phone(session, user.id, at=now)
        if emergency:
            await add_phone(session, user.id, emergency=True, at=now, name="Sam")
        frozen = freeze(level, now, overrides)
        alert = Alert(
            dedup_key=f"{watch.id}:{event.id}:price_below", watch_id=watch.id, user_id=user.id,
            event_id=event.id, kind="price_below", score=0.9, level=int(level), price=28.0,
            status="open", reason="under your max", opened_at=now, updated_at=now,
            escalation=frozen.snapshot, step=0, next_step_at=frozen.next_step_at,
            prediction=prediction,
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return alert


def service(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    config: EscalationConfig | None = None,
    metrics: RecordingMetrics | None = None,
) -> EscalationService:
    return EscalationService(
        sessions, clock, config or EscalationConfig(), ActionSigner(SECRET), random.Random(7),
        metrics or RecordingMetrics(),
    )  # fmt: skip


async def step_rows(
    sessions: async_sessionmaker[AsyncSession], alert_id: int, channel: str | None = None
) -> list[Notification]:
    """The alert's escalation rows (to `channel` only, when given), in order."""
    stmt = select(Notification).where(
        Notification.alert_id == alert_id, Notification.kind == "escalation"
    )
    if channel is not None:
        stmt = stmt.where(Notification.channel == channel)
    async with sessions() as session:
        return list((await session.execute(stmt.order_by(Notification.id))).scalars())


async def sends(sessions: async_sessionmaker[AsyncSession], alert_id: int) -> list[str]:
    """Each escalation row as "channel:address", in order."""
    return [f"{r.channel}:{r.address}" for r in await step_rows(sessions, alert_id)]


async def timeline(sessions: async_sessionmaker[AsyncSession], alert_id: int) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEntry.kind, AuditEntry.detail)
            .where(AuditEntry.alert_id == alert_id)
            .order_by(AuditEntry.id)
        )
        return [f"{kind}: {detail}" for kind, detail in rows]


async def reload(sessions: async_sessionmaker[AsyncSession], alert_id: int) -> Alert:
    async with sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        return alert


async def run_until(svc: EscalationService, clock: FakeClock, seconds: int, step: int = 1) -> None:
    """Tick every `step` seconds of fake time for `seconds`."""
    end = clock.now() + timedelta(seconds=seconds)
    while clock.now() < end:
        clock.advance(step)
        await svc.tick()


async def add_alert_for(
    sessions: async_sessionmaker[AsyncSession], user_id: int, now: datetime, level: Level
) -> Alert:
    """Another open alert of the person `user_id`, about a new event, frozen at `now`."""
    n = next(_SEQ)
    async with sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        event = await add_event(session, external_id=f"ev-more-{n}", name="Cubs at Giants")
        watch = await add_watch(session, user, event)
        frozen = freeze(level, now)
        alert = Alert(
            dedup_key=f"{watch.id}:{event.id}:price_below", watch_id=watch.id, user_id=user.id,
            event_id=event.id, kind="price_below", score=0.9, level=int(level), price=30.0,
            status="open", reason="under your max", opened_at=now, updated_at=now,
            escalation=frozen.snapshot, step=0, next_step_at=frozen.next_step_at,
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return alert
