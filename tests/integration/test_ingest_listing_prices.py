"""A wire snapshot with `"min_price": null` and priced listings alerts (it stored a null
price, and a plain watch's price_below never fired)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import MarketSnapshot
from core.ingest import IngestService
from core.metrics import RecordingMetrics
from tests.integration.engine_helpers import add_user, add_watch, alerts_of, fresh_engine

Sessions = async_sessionmaker[AsyncSession]
ITEM = {
    "event": {
        "external_id": "6100043",
        "name": "Rockies at Diamondbacks",
        "performers": ["Arizona Diamondbacks", "Colorado Rockies"],
        "starts_at": "2024-03-31T20:10:00Z",
    },
    "observed_at": "2024-03-20T11:58:00Z",
    "min_price": None,
    "ticket_count": None,
    "listings": [
        {"listing_id": "L1", "section": "112", "quantity": 2, "price": 45.0},
        {"listing_id": "L2", "section": "305", "quantity": 4, "price": 36.0},
    ],
}


async def test_a_null_min_price_with_priced_listings_alerts(
    sessions: Sessions, clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        await add_watch(session, ada, None, terms=["rockies"], max_price=40.0)
    engine = await fresh_engine(sessions)
    ingest = IngestService(sessions, engine, clock, RecordingMetrics())

    report = await ingest.ingest("seatgeek", [ITEM])

    assert report.accepted == 1 and report.rejected == ()
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        row = (await session.execute(select(MarketSnapshot))).scalar_one()
    assert alert.kind == "price_below" and alert.price == 36.0
    assert (row.min_price, row.ticket_count, row.listing_count) == (36.0, 6, 2)
