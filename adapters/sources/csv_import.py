"""CSV import: stream a file of snapshots into batches of domain objects, with line numbers.

Formats:

- `seatgeek-mlb`: the tidy SeatGeek MLB 2024 file (see `adapters.sources.seatgeek_mlb`).
- `generic`: one column per field of the ingest JSON, header row required:
  `external_id,name,starts_at,observed_at` (required) and any of `source, category,
  performers, venue, city, capacity, timezone, currency, min_price, median_price,
  avg_price, max_price, listing_count, ticket_count`. `performers` are separated by "|";
  an empty cell is null; times are ISO-8601 with a UTC offset (Z or +hh:mm). Listings
  are not part of it.

Column names are matched in any case and order. A line of empty cells (",,,,", as
spreadsheets save formatted but empty rows) is a blank line. Files are UTF-8. A row
holding bytes that are not UTF-8, or that the csv module cannot read (a cell over its
size limit), is rejected with its line number like any other bad row, and the rows after
it are still read. Cells past the header's columns are ignored.

A quote that is never closed would make the csv module read every later line into one
cell, and one that a stray quote closes lines later (`12" vinyl,`) the lines between. So
the file is scanned first (strict quoting; about 0.1 s for 5 MB), and such a quote
refuses the whole file before any row is read, naming the line it opened on. A cell
spanning lines counts as such when the strict csv reader stops on its row, or when it
holds at least as many commas as a row has; other multi-line cells are read as they are.

Reading is blocking file I/O: callers run `read_batches_blocking` off the event loop.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate
from pathlib import Path

from adapters.sources import seatgeek_mlb
from core.domain import SnapshotIn
from core.errors import ValidationError
from core.ingest import parse_item

DEFAULT_SOURCE = "csv"
GENERIC_REQUIRED = ("external_id", "name", "starts_at", "observed_at")
GENERIC_EVENT = ("external_id", "name", "starts_at", "category", "venue", "city", "capacity")
GENERIC_SNAPSHOT = (
    "observed_at",
    "currency",
    "min_price",
    "median_price",
    "avg_price",
    "max_price",
    "listing_count",
    "ticket_count",
)
GENERIC_HEADER = "external_id,name,starts_at,observed_at,min_price,..."


class CsvFormat(StrEnum):
    SEATGEEK_MLB = "seatgeek-mlb"
    GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A row that did not become a snapshot: its line in the file and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class CsvBatch:
    """Up to `batch_size` snapshots, each with its line, plus the rows left out."""

    items: tuple[SnapshotIn, ...]
    lines: tuple[int, ...]
    rejected: tuple[RowIssue, ...]
    skipped: tuple[RowIssue, ...]
    rows: int


Converter = Callable[[dict[str, str]], SnapshotIn]


def _generic(source: str) -> Converter:
    def convert(row: dict[str, str]) -> SnapshotIn:
        cells = {key.strip(): (value or "").strip() for key, value in row.items() if key}
        event: dict[str, object] = {k: cells[k] for k in GENERIC_EVENT if cells.get(k)}
        event["timezone"] = cells.get("timezone") or None
        performers = [p.strip() for p in cells.get("performers", "").split("|") if p.strip()]
        raw: dict[str, object] = {k: cells[k] for k in GENERIC_SNAPSHOT if cells.get(k)}
        raw["event"] = event | {"performers": performers}
        return parse_item(raw, (cells.get("source") or source).lower(), text_numbers=True)

    return convert


def _separator(names: set[str]) -> str | None:
    """The separator of a file read as one column because it is not a comma, or None."""
    if len(names) == 1:
        (only,) = names
        for separator, called in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if separator in only:
                return called
    return None


def _check_header(fieldnames: Sequence[str] | None, fmt: CsvFormat) -> None:
    names = {name.strip().lower() for name in fieldnames or ()}
    wanted = GENERIC_REQUIRED if fmt is CsvFormat.GENERIC else seatgeek_mlb.COLUMNS
    missing = [name for name in wanted if name not in names]
    example = GENERIC_HEADER if fmt is CsvFormat.GENERIC else ",".join(wanted[:6]) + ",..."
    if not fieldnames:  # not a wrong header: none at all
        raise ValidationError(
            f"the file is empty; a {fmt.value} CSV starts with a header like: {example}"
        )
    if missing:
        hint = ""
        other = CsvFormat.SEATGEEK_MLB if fmt is CsvFormat.GENERIC else CsvFormat.GENERIC
        other_wanted = seatgeek_mlb.COLUMNS if fmt is CsvFormat.GENERIC else GENERIC_REQUIRED
        if all(name in names for name in other_wanted):
            hint = f" (this looks like --format {other.value})"
        elif (separator := _separator(names)) is not None:
            hint = f" (its cells are separated by {separator}: save it with commas)"
        raise ValidationError(
            f"{fmt.value} CSV lacks column(s) {', '.join(missing)}; "
            f"the header should look like: {example}{hint}"
        )


def _bad_byte(text: str) -> int | None:
    """The first byte of `text` that was not UTF-8, or None.

    The file is decoded with errors="surrogateescape": each undecodable byte arrives as
    one lone surrogate, U+DC80 to U+DCFF, which no UTF-8 text holds.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ord(text[exc.start]) - 0xDC00
    return None


def _not_utf8(row: dict[str, str]) -> str | None:
    """Why `row` is not UTF-8 text ("name: byte 0xe9 is not UTF-8 ..."), or None."""
    for column, cell in row.items():
        if (byte := _bad_byte(cell)) is not None:
            return f"{column}: byte 0x{byte:02x} is not UTF-8 text (save the file as UTF-8)"
    return None


def _swallowing_quote(text: str) -> tuple[int, int | None] | None:
    """Where the last quoted cell spanning a line break opens and closes in `text`, one
    row as read (character offsets; a close of None: never), or None.

    Follows the csv module: a quote opens a quoted cell only at the start of a cell, and
    a doubled quote inside one is a quote of its text.
    """
    found: tuple[int, int | None] | None = None
    at = 0
    while (opened := text.find('"', at)) != -1:
        if opened and text[opened - 1] not in ",\r\n":
            at = opened + 1  # a quote inside an unquoted cell is text
            continue
        closed = opened + 1
        while (closed := text.find('"', closed)) != -1 and text.startswith('""', closed):
            closed += 2
        if closed == -1:
            return opened, None
        if text.find("\n", opened, closed) != -1 or text.find("\r", opened, closed) != -1:
            found = (opened, closed)
        at = closed + 1
    return found


def _quote_problem(lines: Sequence[str], first: int, *, at_end: bool) -> str | None:
    """One line on the quoted cell of a row that swallowed other lines, or None.

    Args:
        lines: the row's physical lines as read, the first being line `first`.
        first: the line number of `lines[0]`.
        at_end: the row ran to the end of the file.
    """
    hit = _swallowing_quote("".join(lines))
    if hit is None:
        return None
    ends = list(accumulate(len(line) for line in lines))
    opened = first + bisect_right(ends, hit[0])
    last = first + len(lines) - 1
    if hit[1] is not None:
        closed = first + bisect_right(ends, hit[1])
        return (
            f"line {opened}: a quote opened here is not closed until line {closed},"
            f" so lines {opened}-{closed} would be read as one row"
        )
    if not at_end:  # the csv module stopped at its cell size limit
        return (
            f"line {opened}: a quote opened here is not closed by line {last},"
            f" so lines {opened}-{last} and perhaps more would be read as one row"
        )
    rest = f", so every later line (to line {last}) would be read into it" if last > opened else ""
    return f"line {opened}: a quote opened here is never closed{rest}"


def find_unclosed_quote_blocking(path: Path) -> str | None:
    """Why the file cannot be read row by row: a quote that swallows later lines, from
    the line it opened on ("line 12: a quote opened here is never closed, ..."), or None.

    A quoting fault within one line (`"a"b`) is left to `read_batches_blocking`, which
    reads that row alone.
    """
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        lines: list[str] = []  # the physical lines of the row being read
        ended = False

        def read() -> Iterator[str]:
            nonlocal ended
            for line in handle:
                lines.append(line)
                yield line
            ended = True

        reader = csv.reader(read(), strict=True)
        width = 0
        while True:
            lines.clear()
            first = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return None
            except csv.Error:
                pass  # an unclosed quote, one closed by a stray one, or a fault in a line
            else:
                width = width or len(cells)
                # Closed cleanly by a stray quote, a swallowing cell holds whole rows.
                if not any(
                    ("\n" in cell or "\r" in cell) and cell.count(",") >= max(width - 1, 1)
                    for cell in cells
                ):
                    continue
            if (problem := _quote_problem(lines, first, at_end=ended)) is not None:
                return problem


def count_rows_blocking(path: Path) -> int:
    """Rows in the file, not counting the header (for a progress bar)."""
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)


def read_batches_blocking(
    path: Path, fmt: CsvFormat, *, source: str | None = None, batch_size: int = 500
) -> Iterator[CsvBatch]:
    """Yield the file as batches of snapshots.

    Args:
        path: the CSV file (UTF-8, header row first; a row that is not UTF-8 is rejected).
        fmt: its format.
        source: source name for generic rows without a `source` cell (default "csv").
        batch_size: snapshots per batch.

    Raises:
        ValidationError: a quote swallows later lines (`find_unclosed_quote_blocking`),
            or the header lacks required columns or is not UTF-8 (nothing is yielded then).
    """
    if (problem := find_unclosed_quote_blocking(path)) is not None:
        raise ValidationError(
            f'{problem}; close the quote (a quote inside a quoted cell is written "")'
        )
    if fmt is CsvFormat.GENERIC:
        convert = _generic(source or DEFAULT_SOURCE)
    else:
        convert = seatgeek_mlb.convert_row
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        # csv.reader rather than DictReader: its line_num is right after an error, and
        # each row's first line is known even after blank lines or multi-line cells.
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ValidationError(f"line 1: unreadable CSV header ({exc})") from None
        for name in header or ():
            if (byte := _bad_byte(name)) is not None:
                raise ValidationError(
                    f"line 1: the header is not UTF-8 text (byte 0x{byte:02x});"
                    " save the file as UTF-8"
                )
        _check_header(header, fmt)
        names = [name.strip().lower() for name in header or ()]
        items: list[SnapshotIn] = []
        lines: list[int] = []
        rejected: list[RowIssue] = []
        skipped: list[RowIssue] = []
        rows = 0
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a cell over the csv field size limit
                rows += 1
                rejected.append(RowIssue(start, f"unreadable CSV row ({exc})"))
                continue
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or one of empty cells (",,,," from a spreadsheet)
            rows += 1
            row = dict(zip(names, cells, strict=False))  # extra cells are ignored
            undecodable = _not_utf8(row)
            try:
                if undecodable is not None:
                    rejected.append(RowIssue(start, undecodable))
                else:
                    items.append(convert(row))
                    lines.append(start)
            except seatgeek_mlb.Skip as skip:
                skipped.append(RowIssue(start, str(skip)))
            except ValidationError as exc:
                rejected.append(RowIssue(start, str(exc)))
            if len(items) >= batch_size:
                yield CsvBatch(tuple(items), tuple(lines), tuple(rejected), tuple(skipped), rows)
                items, lines, rejected, skipped, rows = [], [], [], [], 0
        if items or rejected or skipped or rows:
            yield CsvBatch(tuple(items), tuple(lines), tuple(rejected), tuple(skipped), rows)
