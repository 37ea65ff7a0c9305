"""`hdtickets import` refuses a file whose quote swallows later lines, and fails when no
row was accepted; the rows it did read are never silently lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from adapters.sources.csv_import import (
    CsvFormat,
    RowIssue,
    find_unclosed_quote_blocking,
    read_batches_blocking,
)
from bot.cli import app
from bot.cli.ingest import ImportSummary, failure
from core.db.engine import make_engine
from core.db.models import Event
from core.errors import ValidationError

HEADER = "external_id,name,starts_at,observed_at,min_price\n"


def rows(count: int) -> list[str]:
    """`count` valid generic rows (lines 2, 3, ...) for events q0, q1, ..."""
    return [f"q{n},Event {n},2030-12-01T20:00Z,2026-06-01T00:00Z,{10 + n}\n" for n in range(count)]


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(lines))
    return path


async def _events(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(Event)) or 0)
    finally:
        await engine.dispose()


@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("HDT_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner()


def test_a_quote_never_closed_refuses_the_whole_file_with_its_line(
    cli: CliRunner, sqlite_url: str, tmp_path: Path
) -> None:
    lines = rows(30)
    lines[10] = 'q10,"Broken Event,2030-12-01T20:00Z,2026-06-01T00:00Z,20\n'  # line 12
    path = write(tmp_path, "unclosed.csv", lines)
    result = cli.invoke(app, ["import", str(path), "--format", "generic", "--batch-size", "5"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "error: cannot import unclosed.csv: line 12: a quote opened here is never closed,"
        " so every later line (to line 31) would be read into it; close the quote"
        ' (a quote inside a quoted cell is written "")\n'
    )
    # Refused before the first batch: not even the ten good rows before it went in.
    assert asyncio.run(_events(sqlite_url)) == 0

    lines[10] = rows(11)[10]
    write(tmp_path, "unclosed.csv", lines)
    fixed = cli.invoke(app, ["import", str(path), "--format", "generic"])
    assert fixed.exit_code == 0, fixed.output
    assert "accepted    30" in fixed.stdout
    assert asyncio.run(_events(sqlite_url)) == 30


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        pytest.param(
            {4: 'q4,"Event 4,2030-12-01T20:00Z,2026-06-01T00:00Z,14\n'},
            "line 6: a quote opened here is never closed, so every later line (to line 11)",
            id="never closed",
        ),
        pytest.param(
            {9: 'q9,"Event 9,2030-12-01T20:00Z,2026-06-01T00:00Z,19\n'},
            "line 11: a quote opened here is never closed; close the quote",
            id="never closed on the last line",
        ),
        pytest.param(
            {2: 'q2,"Event 2,2030-12-01T20:00Z,2026-06-01T00:00Z,12\n',
             6: 'q6,"Sox, ""live""",2030-12-01T20:00Z,2026-06-01T00:00Z,16\n'},
            "line 4: a quote opened here is not closed until line 8, so lines 4-8 would be read"
            " as one row",
            id="closed by the next cell's opening quote",
        ),
        pytest.param(
            {2: 'q2,"Event 2,2030-12-01T20:00Z,2026-06-01T00:00Z,12\n',
             6: 'q6,Stage 12",2030-12-01T20:00Z,2026-06-01T00:00Z,16\n'},
            "line 4: a quote opened here is not closed until line 8",
            id="closed cleanly by a stray quote",
        ),
        pytest.param(
            {1: "\n", 3: 'q3,"Two\nLines",2030-12-01T20:00Z,2026-06-01T00:00Z,13\n',
             5: 'q5,"Event 5,2030-12-01T20:00Z,2026-06-01T00:00Z,15\n'},
            "line 8: a quote opened here is never closed",  # after a blank and a 2-line cell
            id="line counted past blank lines and multi-line cells",
        ),
    ],
)  # fmt: skip
def test_the_line_where_a_swallowing_quote_opened_is_named(
    broken: dict[int, str], reason: str, tmp_path: Path
) -> None:
    lines = rows(10)
    for index, line in broken.items():
        lines[index] = line
    path = write(tmp_path, "feed.csv", lines)
    assert reason.split(";")[0] in (find_unclosed_quote_blocking(path) or "")
    with pytest.raises(ValidationError, match="close the quote") as refused:
        next(read_batches_blocking(path, CsvFormat.GENERIC))
    assert reason in str(refused.value)


def test_a_quote_that_swallows_past_the_cell_size_limit_is_named(tmp_path: Path) -> None:
    lines = rows(4000)
    lines[1] = 'q1,"Event 1,2030-12-01T20:00Z,2026-06-01T00:00Z,11\n'  # line 3
    path = write(tmp_path, "big.csv", lines)
    problem = find_unclosed_quote_blocking(path) or ""
    assert problem.startswith("line 3: a quote opened here is not closed by line ")
    assert problem.endswith("and perhaps more would be read as one row")


def test_good_quoting_passes_the_scan(tmp_path: Path) -> None:
    lines = rows(6)
    lines[1] = 'q1,"Red Sox, at ""Yankees""",2030-12-01T20:00Z,2026-06-01T00:00Z,11\n'
    lines[2] = 'q2,"Two\nLines, one cell",2030-12-01T20:00Z,2026-06-01T00:00Z,12\n'
    lines[3] = 'q3,"a"b,2030-12-01T20:00Z,2026-06-01T00:00Z,13\n'  # odd, but on its line
    lines[4] = 'q4,12" vinyl,2030-12-01T20:00Z,2026-06-01T00:00Z,14\n'  # a quote as text
    path = write(tmp_path, "fine.csv", lines)
    assert find_unclosed_quote_blocking(path) is None
    [batch] = read_batches_blocking(path, CsvFormat.GENERIC)
    assert batch.lines == (2, 3, 4, 6, 7, 8) and not batch.rejected


def test_every_row_rejected_fails_with_a_summary_line(cli: CliRunner, tmp_path: Path) -> None:
    bad = [f"b{n},Event {n},not-a-time,2026-06-01T00:00Z,{10 + n}\n" for n in range(5)]
    path = write(tmp_path, "allbad.csv", bad)
    result = cli.invoke(app, ["import", str(path), "--format", "generic"])
    assert result.exit_code == 2, result.output
    assert "accepted    0" in result.stdout and "rejected    5" in result.stdout
    assert "line 6: event.starts_at" in result.stdout  # every rejection listed as before
    [line] = result.stderr.splitlines()
    reason = 'event.starts_at: must be an ISO-8601 time (e.g. "2024-03-31T20:10:00Z")'
    assert line == (
        "error: nothing imported from allbad.csv: 0 accepted, 0 duplicates, 5 rejected"
        f" (line 2: {reason}; line 3: {reason}; line 4: {reason}; 2 more)"
    )


def test_some_rows_accepted_or_all_duplicates_is_success(cli: CliRunner, tmp_path: Path) -> None:
    lines = rows(3)
    lines.append("b9,Bad,not-a-time,2026-06-01T00:00Z,10\n")  # line 5
    path = write(tmp_path, "mixed.csv", lines)
    first = cli.invoke(app, ["import", str(path), "--format", "generic"])
    assert first.exit_code == 0, first.output
    assert "accepted    3" in first.stdout and "line 5: event.starts_at" in first.stdout
    assert first.stderr == ""

    good = write(tmp_path, "good.csv", rows(3))
    again = cli.invoke(app, ["import", str(good), "--format", "generic"])
    assert again.exit_code == 0, again.output  # nothing new, nothing wrong
    assert "duplicates  3" in again.stdout

    # Old rows and rejected new ones: nothing was accepted, so the import failed.
    refused = cli.invoke(app, ["import", str(path), "--format", "generic"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(
        "error: nothing imported from mixed.csv: 0 accepted, 3 duplicates, 1 rejected (line 5: "
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        # An empty --source fell back to "csv" unsaid; a bad one rejected every row alike.
        (["--format", "generic", "--source", ""], "--source must be 1-64 letters"),
        (["--format", "generic", "--source", "seat geek"], "not 'seat geek'"),
        # seatgeek-mlb rows are always "seatgeek": the option was dropped unsaid.
        (["--format", "seatgeek-mlb", "--source", "stubhub"], "--source is for --format generic"),
    ],
)
def test_a_bad_source_is_refused_before_any_row_is_read(
    cli: CliRunner, sqlite_url: str, tmp_path: Path, args: list[str], reason: str
) -> None:
    path = write(tmp_path, "fine.csv", rows(3))
    result = cli.invoke(app, ["import", str(path), *args])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert reason in line and line.endswith(
        "e.g. hdtickets import prices.csv -f generic --source stubhub"
    )
    assert result.stdout == "" and asyncio.run(_events(sqlite_url)) == 0


def test_an_empty_file_or_a_bare_header_says_so(cli: CliRunner, tmp_path: Path) -> None:
    """An empty file was refused as one that 'lacks column(s) external_id, ...'; a
    header with no rows under it reported '0 rows' with nothing to say why."""
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    refused = cli.invoke(app, ["import", str(empty), "--format", "generic"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith(
        "error: cannot import empty.csv: the file is empty; a generic CSV starts with a header"
    )
    bare = write(tmp_path, "bare.csv", [])
    result = cli.invoke(app, ["import", str(bare), "--format", "generic"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("bare.csv (generic): 0 rows (a header and nothing under it)")


def test_the_failure_line_counts_one_duplicate_in_the_singular() -> None:
    summary = ImportSummary(duplicates=1, rejected=[RowIssue(4, "price is not a number")])
    assert failure(Path("one.csv"), summary) == (
        "nothing imported from one.csv: 0 accepted, 1 duplicate, 1 rejected"
        " (line 4: price is not a number)"
    )
