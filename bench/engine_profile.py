"""Where the engine benchmark's SQLite time goes: per statement, and per b-tree of one batch.

Runs `bench/engine.py`'s workload (same sizes and options) and adds, on SQLite:

- the thread CPU and wall time of every statement shape on the driver's thread (the
  commit included), per snapshot, heaviest first (the default);
- the pages one batch writes to the WAL, by the table or index they belong to
  (`--wal-batch N`: the WAL is emptied before batch N and read after it; the run stops
  there).

    .venv/bin/python bench/engine_profile.py --events 1000 --watches 20000 --snapshots 40000
    .venv/bin/python bench/engine_profile.py --wal-batch 300

It patches `aiosqlite.core.Connection._execute` to time each call on the driver's
thread, so its figures are for comparing statements, not for quoting as throughput.
The tables go to stderr; the last line on stdout is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiosqlite.core  # noqa: E402
import engine as workload  # noqa: E402
from rich.console import Console  # noqa: E402

from core.ingest.service import IngestService  # noqa: E402

err = Console(stderr=True, soft_wrap=True)
WAL_HEADER, FRAME_HEADER = 32, 24


class StatementClock:
    """Thread CPU and wall time per statement shape, timed on the driver's thread."""

    def __init__(self) -> None:
        # shape -> [calls, thread CPU s, wall s, rows]
        self.by_shape: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])
        self.on = False
        self.snapshots = 0  # ingested while timing

    def wrap(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[..., Any]:
        sql = args[0] if args and isinstance(args[0], str) else getattr(fn, "__name__", "?")
        if sql == "fetchall":  # a SELECT (or RETURNING) does its work as its rows are read
            sql = "fetchall: the rows of SELECT and RETURNING statements"
        shape = " ".join(sql.split())[:100]
        many = getattr(fn, "__name__", "") == "executemany" and len(args) > 1
        rows = len(args[1]) if many and hasattr(args[1], "__len__") else 1

        def timed(*a: Any, **k: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                entry = self.by_shape[shape]
                entry[0] += 1
                entry[1] += time.thread_time() - cpu
                entry[2] += time.perf_counter() - wall
                entry[3] += rows

        return timed

    def install(self) -> None:
        original = aiosqlite.core.Connection._execute
        clock = self

        async def _execute(conn: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if clock.on:
                fn = clock.wrap(fn, args)
            return await original(conn, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = _execute  # type: ignore[method-assign]


def wal_pages(database: Path) -> Counter[str]:
    """The pages in `database`'s WAL, counted once each, by the b-tree they belong to."""
    data = (database.parent / (database.name + "-wal")).read_bytes()
    with sqlite3.connect(database) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    seen: set[int] = set()
    counts: Counter[str] = Counter()
    offset = WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(data):
        (page,) = struct.unpack(">I", data[offset : offset + 4])
        if page not in seen:
            seen.add(page)
            counts[owner.get(page, "(free or new)")] += 1
        offset += FRAME_HEADER + page_size
    return counts


class WalProbe:
    """Empties the WAL before batch `at`, and counts the pages that batch wrote after it."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.batch = 0
        self.pages: Counter[str] | None = None

    def before(self, database: Path) -> None:
        self.batch += 1
        if self.batch == self.at:
            with sqlite3.connect(database) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def after(self, database: Path) -> bool:
        """True once the batch was counted (the run can stop)."""
        if self.batch != self.at:
            return False
        self.pages = wal_pages(database)
        return True


class _Done(Exception):
    """Raised to stop the run once the probed batch is counted."""


def instrument(clock: StatementClock, probe: WalProbe | None) -> None:
    ingest = IngestService.ingest_snapshots

    async def ingest_snapshots(self: IngestService, items: Any) -> Any:
        clock.on = True
        database = Path(self._sessions.kw["bind"].url.database)  # the bench's SQLite file
        if probe is not None:
            probe.before(database)
        report = await ingest(self, items)
        clock.snapshots += len(items)
        if probe is not None and probe.after(database):
            raise _Done
        return report

    IngestService.ingest_snapshots = ingest_snapshots  # type: ignore[method-assign]


def report(clock: StatementClock, snapshots: int, top: int) -> list[dict[str, Any]]:
    rows = sorted(clock.by_shape.items(), key=lambda item: -item[1][1])[:top]
    err.print(f"{'CPU µs':>8} {'wall µs':>8} {'calls':>7} {'rows':>8}  statement (per snapshot)")
    out = []
    for shape, (calls, cpu, wall, count) in rows:
        cpu_us, wall_us = cpu / snapshots * 1e6, wall / snapshots * 1e6
        err.print(f"{cpu_us:8.1f} {wall_us:8.1f} {int(calls):7d} {int(count):8d}  {shape}")
        out.append({"statement": shape, "cpu_us": round(cpu_us, 1), "wall_us": round(wall_us, 1)})
    return out


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--watches", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--top", type=int, default=15, help="statements to list")
    parser.add_argument(
        "--wal-batch", type=int, metavar="N", help="count the WAL pages of batch N, then stop"
    )
    args = parser.parse_args()
    if args.wal_batch is not None and args.wal_batch < 1:
        parser.error("--wal-batch counts batches from 1, e.g. --wal-batch 300")
    clock = StatementClock()
    probe = WalProbe(args.wal_batch) if args.wal_batch else None
    clock.install()
    instrument(clock, probe)
    figures: dict[str, Any] = {}
    try:
        figures = asyncio.run(workload.main(args.events, args.watches, args.snapshots, args.batch))
    except _Done:
        pass
    finally:
        for leftover in Path(tempfile.gettempdir()).glob("hdt-bench-engine-*"):
            shutil.rmtree(leftover, ignore_errors=True)  # as bench/engine.py does
    if probe is not None:
        if probe.pages is None:
            parser.exit(2, f"engine profile: the run had fewer than {args.wal_batch} batches\n")
        err.print(f"pages written by batch {args.wal_batch}: {sum(probe.pages.values()):,}")
        for name, pages in probe.pages.most_common():
            err.print(f"{pages:7,d}  {name}")
        return {"batch": args.wal_batch, "wal_pages": dict(probe.pages.most_common())}
    snapshots = max(1, clock.snapshots)
    total = sum(entry[1] for entry in clock.by_shape.values())
    err.print(f"SQLite thread CPU per snapshot: {total / snapshots * 1e6:.1f} µs")
    statements = report(clock, snapshots, args.top)
    return {"db_thread_cpu_us": round(total / snapshots * 1e6, 1), "statements": statements} | {
        key: figures[key] for key in ("snapshots_per_s", "p99_ms") if key in figures
    }


if __name__ == "__main__":
    print(json.dumps(main()))
