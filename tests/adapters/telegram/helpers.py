"""Seeding helpers: events through the real ingest path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.bootstrap import Container
from core.db.models import Event
from tests.adapters.telegram.conftest import WAIT_S


def item(external_id: str, name: str, price: float, at: datetime | None = None) -> dict[str, Any]:
    observed = (at or datetime.now(UTC)).replace(microsecond=0)
    return {
        "event": {
            "external_id": external_id,
            "name": name,
            "category": "mlb",
            "performers": ["Arizona Diamondbacks", "Colorado Rockies"],
            "venue": "Chase Field",
            "city": "Phoenix",
            "starts_at": (observed + timedelta(days=10)).isoformat(),
            "timezone": "America/Phoenix",
        },
        "observed_at": observed.isoformat(),
        "currency": "USD",
        "min_price": price,
        "median_price": price * 1.5,
        "max_price": price * 4,
        "listing_count": 300,
        "ticket_count": 1344,
    }


async def add_event(container: Container, external_id: str, name: str, price: float = 60.0) -> int:
    report = await container.ingest.ingest("test", [item(external_id, name, price)])
    assert report.accepted == 1, report
    async with container.sessions() as session:
        event_id = await session.scalar(select(Event.id).where(Event.external_id == external_id))
    assert event_id is not None
    return int(event_id)


@contextlib.asynccontextmanager
async def delivering(container: Container) -> AsyncIterator[None]:
    """A delivery worker running for the block, stopped after it."""
    stop = asyncio.Event()
    worker = asyncio.create_task(container.delivery_worker(0).run(stop), name="delivery-0")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, WAIT_S)
