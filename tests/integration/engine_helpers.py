"""Seeding helpers for alert-engine tests: people, events, watches and stored snapshots.

Ingest is not used here: snapshots are inserted with the ORM and turned into
`StoredSnapshot`s by hand, the way ingest hands them to the engine.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import ActionSigner
from core.db.models import (
    Alert,
    AuditEntry,
    Event,
    Identity,
    MarketSnapshot,
    Notification,
    Preference,
    User,
    Watch,
    WebhookEndpoint,
)
from core.domain import EventRef, Listing, MarketPoint, StoredSnapshot
from core.metrics import RecordingMetrics
from core.pipeline import AlertEngine, EngineConfig, PipelineResult
from core.rules import WatchIndex, spec_from_row
from tests.fakes.predictor import StubPredictor

T0 = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
STARTS = datetime(2024, 3, 31, 20, 10, tzinfo=UTC)
SECRET = b"k" * 32
Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Seed:
    user: User
    event: Event
    watch: Watch
    last: MarketPoint | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def add_user(
    session: AsyncSession,
    *,
    name: str = "Ada",
    timezone: str = "UTC",
    quiet: tuple[str, str] | None = None,
    chats: Sequence[tuple[str, str]] = (("telegram", "tg-100"),),
    channel_order: Sequence[str] = (),
) -> User:
    user = User(display_name=name, timezone=timezone)
    if quiet:
        user.quiet_start, user.quiet_end = quiet
    session.add(user)
    await session.flush()
    for n, (platform, address) in enumerate(chats):
        session.add(
            Identity(
                user_id=user.id,
                platform=platform,
                external_id=f"{name}-{platform}-{n}",
                dm_address=address,
            )
        )
    if channel_order:
        session.add(Preference(user_id=user.id, channel_order=list(channel_order)))
    await session.flush()
    return user


async def add_event(
    session: AsyncSession,
    *,
    external_id: str = "6100043",
    name: str = "Rockies at Diamondbacks",
    category: str = "mlb",
    performers: Sequence[str] = ("Arizona Diamondbacks", "Colorado Rockies"),
    starts_at: datetime = STARTS,
) -> Event:
    event = Event(
        source="seatgeek",
        external_id=external_id,
        name=name,
        category=category,
        performers=list(performers),
        venue="Chase Field",
        city="Phoenix",
        capacity=48405,
        starts_at=starts_at,
        timezone="America/Phoenix",
    )
    session.add(event)
    await session.flush()
    return event


async def add_watch(session: AsyncSession, user: User, event: Event | None, **fields: Any) -> Watch:
    values: dict[str, Any] = {
        "user_id": user.id,
        "label": "rockies under 40",
        "event_id": event.id if event is not None else None,
        "max_price": 40.0,
        "triggers": ["price_below"],
        "cooldown_s": 3600,
    }
    values.update(fields)
    watch = Watch(**values)
    session.add(watch)
    await session.flush()
    return watch


async def add_seed(session: AsyncSession, **watch_fields: Any) -> Seed:
    """The default user, event and a watch on it (`watch_fields` override the watch)."""
    user = await add_user(session)
    event = await add_event(session)
    watch = await add_watch(session, user, event, **watch_fields)
    return Seed(user, event, watch)


async def add_webhook(
    session: AsyncSession,
    user: User | None,
    events: Sequence[str],
    url: str = "https://hooks.example/x",
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        user_id=user.id if user else None, url=url, secrets=["s"], event_types=list(events)
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


def event_ref(event: Event) -> EventRef:
    return EventRef(
        id=event.id,
        name=event.name,
        starts_at=event.starts_at,
        category=event.category,
        performers=tuple(event.performers or ()),
        venue=event.venue,
        city=event.city,
        capacity=event.capacity,
        timezone=event.timezone,
    )


async def snapshot(
    session: AsyncSession,
    seed: Seed,
    observed_at: datetime,
    min_price: float | None,
    *,
    ticket_count: int | None = 1344,
    listings: Sequence[Listing] = (),
    new_listing_ids: Sequence[str] = (),
    event: Event | None = None,
) -> StoredSnapshot:
    """Insert one market snapshot and return it as ingest would hand it over."""
    target = event or seed.event
    row = MarketSnapshot(
        event_id=target.id,
        source="seatgeek",
        observed_at=observed_at,
        currency="USD",
        min_price=min_price,
        avg_price=83.0,
        max_price=473.0,
        listing_count=315,
        ticket_count=ticket_count,
    )
    session.add(row)
    await session.flush()
    point = MarketPoint(
        event_id=target.id,
        observed_at=observed_at,
        min_price=min_price,
        median_price=None,
        avg_price=83.0,
        max_price=473.0,
        listing_count=315,
        ticket_count=ticket_count,
    )
    previous = seed.extra.get(f"last:{target.id}")
    seed.extra[f"last:{target.id}"] = point
    return StoredSnapshot(
        snapshot_id=row.id,
        event=event_ref(target),
        point=point,
        previous=previous,
        listings=tuple(listings),
        new_listing_ids=tuple(new_listing_ids),
    )


async def make_engine(
    session: AsyncSession,
    *,
    predictor: StubPredictor | None = None,
    config: EngineConfig | None = None,
    seed: int = 1234,
) -> AlertEngine:
    """An engine whose index holds every watch in the database."""
    rows = (await session.execute(select(Watch))).scalars()
    index = WatchIndex.from_specs(spec_from_row(row) for row in rows)
    return AlertEngine(
        index,
        predictor or StubPredictor(),
        ActionSigner(SECRET),
        random.Random(seed),
        RecordingMetrics(),
        config or EngineConfig(),
    )


async def fresh_engine(
    sessions: Sessions,
    *,
    predictor: StubPredictor | None = None,
    config: EngineConfig | None = None,
) -> AlertEngine:
    """`make_engine` in a session of its own."""
    async with sessions() as session:
        return await make_engine(session, predictor=predictor, config=config)


async def process_snapshot(
    sessions: Sessions, engine: AlertEngine, seed: Seed, when: datetime, min_price: float | None
) -> PipelineResult:
    """Store one snapshot of the seeded event at `when` and process it, in one transaction."""
    async with sessions() as session, session.begin():
        return await engine.process(session, [await snapshot(session, seed, when, min_price)], when)


async def alerts_of(session: AsyncSession) -> list[Alert]:
    return list((await session.execute(select(Alert).order_by(Alert.id))).scalars())


async def notifications_of(
    session: AsyncSession, alert_id: int | None = None
) -> list[Notification]:
    stmt = select(Notification).order_by(Notification.id)
    if alert_id is not None:
        stmt = stmt.where(Notification.alert_id == alert_id)
    return list((await session.execute(stmt)).scalars())


async def audit_kinds(session: AsyncSession, alert_id: int) -> list[str]:
    rows = await session.execute(
        select(AuditEntry.kind).where(AuditEntry.alert_id == alert_id).order_by(AuditEntry.id)
    )
    return list(rows.scalars())


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
