"""Ingest edge cases an integrating engineer or a careless exporter hits: late and
replayed snapshots of a rescheduled game, CSV files as spreadsheets save them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sources.csv_import import CsvFormat, read_batches_blocking
from core.clock import FakeClock
from core.db.models import Event
from core.errors import ValidationError
from tests.integration.test_ingest import START, RecordingProcessor, service, snap


async def stored_event(sessions: async_sessionmaker[AsyncSession]) -> Event:
    async with sessions() as session:
        return (await session.execute(select(Event))).scalar_one()


async def test_an_older_snapshot_arriving_late_does_not_undo_a_reschedule(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    moved = START + timedelta(days=1)
    await ingest.ingest_snapshots([snap("e1", 0)])
    await ingest.ingest_snapshots([snap("e1", 30, venue=None, starts_at=moved)])
    # A backfill (or a retried request) of observations made before the reschedule.
    late = await ingest.ingest_snapshots([snap("e1", 10, venue="Old Park")])
    replay = await ingest.ingest_snapshots([snap("e1", 0, venue="Old Park")])
    assert (late.accepted, replay.duplicates) == (1, 1)
    event = await stored_event(sessions)
    assert (event.starts_at, event.venue) == (moved, "Chase Field")
    assert processor.calls[-1][0].event.starts_at == moved
    # A gap the newer snapshots left is still filled in by an older one.
    await ingest.ingest_snapshots([snap("e1", 40, venue=None, starts_at=moved)])
    assert (await stored_event(sessions)).venue == "Chase Field"


GOOD_ROW = "e1,Game,2024-12-01T20:00Z,2024-06-01T00:00Z,28.5,3\r\n"


def test_csv_column_names_match_in_any_case_and_empty_spreadsheet_rows_are_blank(
    tmp_path: Path,
) -> None:
    path = tmp_path / "excel.csv"
    header = "\ufeffExternal_ID,NAME,Starts_At,Observed_At,Min_Price,Listing_Count\r\n"
    path.write_text(header + GOOD_ROW + ",,,,,\r\n  ,,, ,,\r\n\r\n", encoding="utf-8")
    [batch] = read_batches_blocking(path, CsvFormat.GENERIC)
    assert not batch.rejected and batch.rows == 1 and batch.lines == (2,)
    [item] = batch.items
    assert (item.event.external_id, item.min_price, item.listing_count) == ("e1", 28.5, 3)


def test_a_csv_separated_by_semicolons_or_tabs_is_refused_saying_so(tmp_path: Path) -> None:
    for separator, called in ((";", "';'"), ("\t", "tabs")):
        path = tmp_path / "europe.csv"
        header = "external_id,name,starts_at,observed_at,min_price,listing_count\n"
        path.write_text((header + GOOD_ROW).replace(",", separator))
        with pytest.raises(ValidationError, match=f"separated by {called}: save it with commas"):
            next(read_batches_blocking(path, CsvFormat.GENERIC))
