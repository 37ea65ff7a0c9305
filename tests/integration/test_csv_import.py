"""CSV import of both formats, through the ingest service, the CLI and the real data file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from adapters.sources.csv_import import CsvFormat, count_rows_blocking, read_batches_blocking
from bot.cli import app
from bot.cli.ingest import import_file
from core.clock import FakeClock
from core.db.models import Event, MarketSnapshot
from core.domain import StoredSnapshot
from core.errors import ValidationError
from core.ingest import IngestService
from core.metrics import NullMetrics

PAYLOADS = Path(__file__).parents[1] / "payloads" / "ingest"
MLB_SAMPLE = PAYLOADS / "seatgeek_mlb_sample.csv"
GENERIC = PAYLOADS / "generic_snapshots.csv"
SHARED_TIDY = (
    Path(__file__).parents[3] / "shared/data/seatgeek-mlb-2024/mlb_2024_snapshots_tidy.csv"
)


class Processor:
    def __init__(self) -> None:
        self.stored: list[StoredSnapshot] = []

    async def process(
        self,
        session: AsyncSession,
        stored: Sequence[StoredSnapshot],
        now: datetime,
        *,
        alert: bool = True,
    ) -> object:
        self.stored.extend(stored)
        return None


@pytest.fixture
def service(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> IngestService:
    clock.set(datetime(2024, 7, 1, tzinfo=UTC))
    return IngestService(sessions, Processor(), clock, NullMetrics())


async def events_by_id(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Event]:
    async with sessions() as session:
        rows = (await session.execute(select(Event))).scalars().all()
    return {row.external_id: row for row in rows}


async def test_the_seatgeek_format_maps_teams_parks_times_and_drops_placeholders(
    service: IngestService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seen: list[int] = []
    summary = await import_file(
        MLB_SAMPLE, CsvFormat.SEATGEEK_MLB, service, batch_size=3, on_rows=seen.append
    )
    assert summary.rows == 11 == sum(seen) == count_rows_blocking(MLB_SAMPLE)
    assert (summary.accepted, summary.duplicates) == (7, 0)
    assert dict(summary.skipped) == {
        "observed after the start": 1,
        "placeholder listing only": 1,
        "no market data": 1,
    }
    assert [(issue.line, issue.reason.split(":")[0]) for issue in summary.rejected] == [
        (10, "home_team")
    ]
    assert "springfield-isotopes" in summary.rejected[0].reason

    events = await events_by_id(sessions)
    yankees = events["9000001"]
    assert yankees.name == "Red Sox at Yankees"
    assert yankees.performers == ["New York Yankees", "Boston Red Sox"]
    assert (yankees.venue, yankees.city, yankees.capacity) == ("Yankee Stadium", "New York", 46537)
    assert yankees.starts_at == datetime(2024, 4, 5, 23, 5, tzinfo=UTC)  # 7:05 PM EDT
    assert yankees.timezone == "America/New_York" and yankees.category == "mlb"
    spring = events["9000003"]
    assert (spring.venue, spring.timezone, spring.capacity) == (None, "America/Phoenix", None)
    assert spring.starts_at == datetime(2024, 3, 22, 20, 5, tzinfo=UTC)  # 1:05 PM in Arizona
    assert (events["9000004"].venue, events["9000004"].city) == ("Rickwood Field", "Birmingham")

    async with sessions() as session:
        rows = (
            await session.execute(
                select(MarketSnapshot)
                .where(MarketSnapshot.event_id == yankees.id)
                .order_by(MarketSnapshot.observed_at)
            )
        ).scalars()
        prices = [(r.min_price, r.avg_price, r.max_price) for r in rows]
    assert prices == [
        (40.0, 150.0, 2100.0),
        (38.0, 148.0, None),  # a $120,004 placeholder is not a maximum
        (38.0, None, None),  # nor is an average inflated by it
        (35.0, 130.0, 1900.0),
    ]
    async with sessions() as session:
        rounded = await session.scalar(
            select(MarketSnapshot.avg_price).join(Event).where(Event.external_id == "9000007")
        )
    assert rounded is None  # an average rounded below the minimum is dropped


async def test_the_generic_format_reports_rejections_by_line_and_duplicates(
    service: IngestService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    summary = await import_file(GENERIC, CsvFormat.GENERIC, service, source="Scraper")
    assert (summary.rows, summary.accepted, summary.duplicates) == (8, 3, 1)
    reasons = {issue.line: issue.reason for issue in summary.rejected}
    assert sorted(reasons) == [6, 7, 8, 9]
    assert reasons[6].startswith("event.timezone: 'Mars/Olympus' is not an IANA time zone")
    assert reasons[7].startswith("min_price: must not be negative")
    assert reasons[8].startswith("event.starts_at: must be an ISO-8601 time")
    assert reasons[9].startswith("min_price: 90 is above max_price 50")

    events = await events_by_id(sessions)
    assert events["evt-1"].source == "scraper"
    assert events["evt-1"].performers == ["New York Yankees", "Boston Red Sox"]
    assert events["tour-9"].source == "stubhub"
    assert events["tour-9"].starts_at == datetime(2024, 5, 2, 3, 0, tzinfo=UTC)

    again = await import_file(GENERIC, CsvFormat.GENERIC, service, source="scraper")
    assert (again.accepted, again.duplicates, len(again.rejected)) == (0, 4, 4)


async def test_a_file_without_the_required_columns_is_refused_in_one_line(
    service: IngestService, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,title,when\n1,x,2024-01-01\n")
    with pytest.raises(ValidationError, match="lacks column"):
        await import_file(wrong, CsvFormat.GENERIC, service)
    with pytest.raises(ValidationError, match="looks like --format generic"):
        await import_file(GENERIC, CsvFormat.SEATGEEK_MLB, service)
    with pytest.raises(ValidationError, match="looks like --format seatgeek-mlb"):
        await import_file(MLB_SAMPLE, CsvFormat.GENERIC, service)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01" + GENERIC.read_bytes())
    with pytest.raises(
        ValidationError, match=r"line 1: the header is not UTF-8 text \(byte 0xff\)"
    ):
        await import_file(binary, CsvFormat.GENERIC, service)


def generic_rows(count: int) -> list[bytes]:
    """`count` valid generic rows, one a line, for events g0, g1, ..."""
    return [
        f"g{n},Event {n},2024-12-01T20:00Z,2024-06-01T00:00Z,{10 + n % 50},3".encode()
        for n in range(count)
    ]


async def test_a_row_that_is_not_utf8_is_rejected_on_its_line_and_the_rest_imported(
    service: IngestService, tmp_path: Path
) -> None:
    rows = generic_rows(1300)
    rows[1099] = rows[1099].replace(b"Event", b"Caf\xe9 Event")  # line 1101, batch 3 of 3
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"\n".join([b"external_id,name,starts_at,observed_at,min_price", *rows]))
    summary = await import_file(latin1, CsvFormat.GENERIC, service, batch_size=500)
    assert (summary.rows, summary.accepted) == (1300, 1299)
    assert [(i.line, i.reason) for i in summary.rejected] == [
        (1101, "name: byte 0xe9 is not UTF-8 text (save the file as UTF-8)")
    ]


def test_line_numbers_count_blank_lines_multiline_cells_and_unreadable_rows(tmp_path: Path) -> None:
    rows = generic_rows(6)
    rows[1] = b""  # line 3 is blank
    rows[3] = b'g3,"Two\nLines",2030-01-01T20:00Z,2026-10-01T00:00Z,oops,3'  # lines 5-6
    rows[4] = (
        b'g4,"' + b"y" * 200_000 + b'",2030-01-01T20:00Z,2026-10-01T00:00Z,5,3'
    )  # over the limit
    feed = tmp_path / "feed.csv"
    feed.write_bytes(b"\n".join([b"external_id,name,starts_at,observed_at,min_price", *rows]))
    [batch] = read_batches_blocking(feed, CsvFormat.GENERIC)
    assert batch.rows == 5 and batch.lines == (2, 4, 8)  # g0, g2 and g5
    assert [(i.line, i.reason.split(":")[0]) for i in batch.rejected] == [
        (5, "min_price"),
        (7, "unreadable CSV row (field larger than field limit (131072))"),
    ]


def test_the_cli_imports_with_a_summary(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(GENERIC), "--format", "generic"])
    assert result.exit_code == 0, result.output
    assert "accepted    3" in result.output
    assert "duplicates  1" in result.output
    assert "line 6: event.timezone: 'Mars/Olympus'" in result.output

    assert result.stdout.startswith("generic_snapshots.csv (generic): 8 rows\n")
    assert result.stderr == ""  # no progress bar off a terminal

    one = tmp_path / "one.csv"
    one.write_bytes(GENERIC.read_bytes().splitlines(keepends=True)[0] + b"x,y,z,w\n")
    assert runner.invoke(app, ["import", str(one), "-f", "generic"]).stdout.startswith(
        "one.csv (generic): 1 row\n"
    )

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    refused = runner.invoke(app, ["import", str(wrong), "--format", "generic"])
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert refused.stderr.startswith("error: cannot import wrong.csv: generic CSV lacks column(s)")
    assert "lacks column(s) external_id, name, starts_at, observed_at" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.output


def test_the_real_tidy_file_converts_the_issue_example() -> None:
    if not SHARED_TIDY.exists():
        pytest.skip(f"shared data not present at {SHARED_TIDY}")
    first = next(read_batches_blocking(SHARED_TIDY, CsvFormat.SEATGEEK_MLB, batch_size=50))
    assert not first.rejected
    snapshot, line = first.items[0], first.lines[0]
    assert line == 2
    assert snapshot.event.external_id == "6100043"
    assert snapshot.event.name == "Rockies at Diamondbacks"
    assert snapshot.event.performers == ("Arizona Diamondbacks", "Colorado Rockies")
    assert (snapshot.event.venue, snapshot.event.capacity) == ("Chase Field", 48405)
    assert snapshot.event.starts_at == datetime(2024, 3, 31, 20, 10, tzinfo=UTC)
    assert snapshot.observed_at == datetime(2024, 3, 20, 17, 1, tzinfo=UTC)
    assert (snapshot.min_price, snapshot.avg_price, snapshot.max_price) == (28.0, 83.0, 473.0)
    batches = read_batches_blocking(SHARED_TIDY, CsvFormat.SEATGEEK_MLB, batch_size=2000)
    for batch in islice(batches, 5):
        assert all(s.observed_at < s.event.starts_at for s in batch.items)
        assert all((s.max_price or 0) <= 10_000 for s in batch.items)


async def test_an_id_a_spreadsheet_wrote_as_a_float_is_the_same_event_as_the_json_id(
    service: IngestService, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """ "6100043.0" (a spreadsheet's number) was stored as a second event beside the JSON
    "6100043", and each alerted on its own; ids that only look alike stay apart."""
    path = tmp_path / "saved.csv"
    path.write_text(
        "external_id,name,starts_at,observed_at,min_price\n"
        "6100043.0,Rockies at Diamondbacks,2024-07-31T20:10:00Z,2024-06-01T10:00:00Z,30\n"
        "6100043.5,Rockies at Diamondbacks,2024-07-31T20:10:00Z,2024-06-01T10:00:00Z,30\n"
        "A12.0,Rockies at Diamondbacks,2024-07-31T20:10:00Z,2024-06-01T10:00:00Z,30\n"
    )
    summary = await import_file(path, CsvFormat.GENERIC, service, source="seatgeek")
    assert (summary.accepted, summary.rejected) == (3, [])
    item = {
        "event": {
            "external_id": "6100043",
            "name": "Rockies at Diamondbacks",
            "starts_at": "2024-07-31T20:10:00Z",
        },
        "observed_at": "2024-06-02T10:00:00Z",
        "min_price": 28,
    }
    report = await service.ingest("seatgeek", [item])
    assert (report.accepted, report.rejected) == (1, ())
    events = await events_by_id(sessions)
    assert sorted(events) == ["6100043", "6100043.5", "A12.0"]
    async with sessions() as session:
        points = await session.scalar(
            select(func.count())
            .select_from(MarketSnapshot)
            .where(MarketSnapshot.event_id == events["6100043"].id)
        )
    assert points == 2
