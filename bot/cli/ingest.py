"""`hdtickets import FILE.csv --format seatgeek-mlb|generic`: load snapshots from a file.

The summary goes to stdout; the progress bar (only on a terminal) and errors to stderr.
Exit codes follow `bot.cli.common`: 2 when the file is refused (a wrong header, a quote
never closed) or when rows were rejected and none accepted, 1 when the database is not
there, else 0 (rejected rows are then listed in the summary).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from adapters.sources.csv_import import (
    CsvFormat,
    RowIssue,
    count_rows_blocking,
    read_batches_blocking,
)
from bot.bootstrap import build
from bot.cli.app import app
from bot.cli.common import check_database, console, examples, fail, require_schema, run
from bot.settings import Settings, load_settings
from core.domain import plural
from core.errors import ValidationError
from core.formatting import clip
from core.ingest import IngestService, check_source
from core.metrics import NullMetrics
from core.pipeline import PipelineResult

SHOWN_REJECTIONS = 20
REASONS_IN_ERROR = 3


@dataclass
class ImportSummary:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RowIssue] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    alerts_opened: int = 0


async def import_file(
    path: Path,
    fmt: CsvFormat,
    service: IngestService,
    *,
    source: str | None = None,
    batch_size: int = 500,
    on_rows: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Read `path` batch by batch and ingest it through `service`.

    Raises:
        ValidationError: the file's header is wrong or not UTF-8 (one line); bad rows
            are in the summary instead.
    """
    summary = ImportSummary()
    batches = read_batches_blocking(path, fmt, source=source, batch_size=batch_size)
    while (batch := await asyncio.to_thread(next, batches, None)) is not None:
        report = await service.ingest_snapshots(batch.items)
        summary.rows += batch.rows
        summary.accepted += report.accepted
        summary.duplicates += report.duplicates
        if isinstance(report.processed, PipelineResult):
            summary.alerts_opened += report.processed.alerts_opened
        summary.rejected.extend(batch.rejected)
        summary.rejected.extend(RowIssue(batch.lines[r.index], r.error) for r in report.rejected)
        summary.skipped.update(issue.reason for issue in batch.skipped)
        if on_rows is not None:
            on_rows(batch.rows)
    summary.rejected.sort(key=lambda issue: issue.line)
    return summary


async def run_import(
    path: Path,
    fmt: CsvFormat,
    settings: Settings,
    *,
    source: str | None = None,
    batch_size: int = 500,
    progress_to: Console | None = None,
) -> ImportSummary:
    """Import `path` through the process's ingest and alert engine, with a progress bar
    on `progress_to` when it is a terminal.

    Imported snapshots are matched, scored and planned like any other source's: alerts
    and their outbox rows commit with each batch, and the running process delivers them.
    """
    progress_to = progress_to or console(stderr=True)
    await require_schema(settings.database_url)
    container = await build(settings, metrics=NullMetrics(), channels={})
    try:
        total = await asyncio.to_thread(count_rows_blocking, path)
        columns = (
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(
            *columns,
            console=progress_to,
            transient=True,
            disable=not progress_to.is_terminal,
        ) as progress:
            task = progress.add_task("rows", total=total)
            return await import_file(
                path,
                fmt,
                container.ingest,
                source=source,
                batch_size=batch_size,
                on_rows=lambda rows: progress.advance(task, rows),
            )
    finally:
        await container.aclose()


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def print_summary(out: Console, path: Path, fmt: CsvFormat, summary: ImportSummary) -> None:
    """The counts, and the first SHOWN_REJECTIONS rejected rows with their lines."""
    header = Text(path.name, style="bold")
    header.append(f" ({fmt.value}): {_count(summary.rows, 'row')}", style="")
    if not summary.rows:
        header.append(" (a header and nothing under it)", style="yellow")
    out.print(header)
    out.print(Text.assemble("  accepted    ", (f"{summary.accepted:,}", "green")))
    out.print(f"  duplicates  {summary.duplicates:,}")
    skipped = ", ".join(f"{count:,} {reason}" for reason, count in summary.skipped.most_common())
    total = sum(summary.skipped.values())
    out.print(f"  skipped     {total:,}" + (f" ({skipped})" if skipped else ""), soft_wrap=True)
    out.print(f"  alerts      {summary.alerts_opened:,} opened")
    style = "red" if summary.rejected else "green"
    out.print(Text.assemble("  rejected    ", (f"{len(summary.rejected):,}", style)))
    for issue in summary.rejected[:SHOWN_REJECTIONS]:
        out.print(f"    line {issue.line}: {issue.reason}", soft_wrap=True)
    if len(summary.rejected) > SHOWN_REJECTIONS:
        out.print(f"    … and {len(summary.rejected) - SHOWN_REJECTIONS:,} more")


def failure(path: Path, summary: ImportSummary) -> str | None:
    """One line when rows were rejected and none accepted (the command then fails), or None.

    Duplicates count as nothing accepted: a file whose new rows were all refused failed.
    """
    if summary.accepted or not summary.rejected:
        return None
    shown = [f"line {i.line}: {i.reason}" for i in summary.rejected[:REASONS_IN_ERROR]]
    if (more := len(summary.rejected) - len(shown)) > 0:
        shown.append(f"{more:,} more")
    return (
        f"nothing imported from {path.name}: 0 accepted, {plural(summary.duplicates, 'duplicate')},"
        f" {len(summary.rejected):,} rejected ({'; '.join(shown)})"
    )


_EXAMPLE = "e.g. hdtickets import prices.csv -f generic --source stubhub"


def _checked_source(source: str, fmt: CsvFormat) -> str:
    """`--source`, refused in one line before any row is read: an empty one would fall
    back to "csv" unsaid, a bad one reject every row alike, and seatgeek-mlb rows are
    always "seatgeek", so there it would be dropped unsaid."""
    if fmt is not CsvFormat.GENERIC:
        fail(f"--source is for --format generic ({fmt.value} rows name their own), {_EXAMPLE}")
    try:
        return check_source(source)
    except ValidationError:
        fail(
            "--source must be 1-64 letters, digits, '_', '.' or '-',"
            f" not {clip(source, 40)!r}, {_EXAMPLE}"
        )


@app.command(
    "import",
    epilog=examples(
        "hdtickets import mlb_2024_snapshots_tidy.csv --format seatgeek-mlb",
        "hdtickets import prices.csv -f generic --source stubhub --batch-size 1000",
    ),
)
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, metavar="FILE", help="The CSV file."
        ),
    ],
    fmt: Annotated[
        CsvFormat,
        typer.Option("--format", "-f", help="seatgeek-mlb (the tidy MLB 2024 file) or generic"),
    ],
    source: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="source name for generic rows without a source column"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="snapshots per batch")] = 500,
) -> None:
    """Import market snapshots from a CSV file, showing progress and a summary.

    Bad rows are rejected with their line numbers and the others imported; the command
    fails (exit code 2) when rows were rejected and none accepted. A quote that is never
    closed (it would read every later line into one cell) refuses the whole file before
    any row is imported, naming the line where it opened.
    """
    if source is not None:
        source = _checked_source(source, fmt)
    settings = load_settings()
    check_database(settings.database_url)

    async def main() -> ImportSummary:
        try:
            return await run_import(file, fmt, settings, source=source, batch_size=batch_size)
        except ValidationError as exc:
            raise ValidationError(f"cannot import {file.name}: {exc}") from None

    summary = run(main())
    print_summary(console(), file, fmt, summary)
    if (problem := failure(file, summary)) is not None:
        fail(problem)
