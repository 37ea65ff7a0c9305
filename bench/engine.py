"""Engine benchmark: ingest -> match -> score -> plan -> outbox on SQLite.

5,000 simulated events, 100,000 active watches (20,000 people), 200,000 snapshots replayed
in time order through the real IngestService and AlertEngine, in batches as a feed would
send them. Targets (issue 2): >= 5,000 snapshots/s sustained, p99 ingest-to-outbox
latency <= 250 ms, peak RSS <= 500 MB.

    .venv/bin/python bench/engine.py [--events 5000] [--watches 100000] [--snapshots 200000]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

`--postgres URL` runs the same workload on a fresh database created on that server (and
dropped after), for comparison; the targets are for SQLite. It runs ANALYZE every 20
batches, as autovacuum would (the server here has autovacuum off), inside the measured
time but outside any batch's latency.

Latency is measured per batch from the call into ingest to the commit that made its
alerts and outbox rows durable; every snapshot of a batch waits that long. The CPU
figures split each snapshot's cost between the event loop's thread (Python) and the
others (SQLite's driver thread); `main_idle_share` is the part of the ingest calls the
event loop's thread spent waiting. Progress goes to stderr; the last line on stdout is one
JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from bot.bootstrap import build  # noqa: E402
from bot.migrate import upgrade_blocking  # noqa: E402
from bot.process import tune_gc  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from core.clock import FakeClock  # noqa: E402
from core.db.models import Alert, Event, Identity, Notification, User, Watch  # noqa: E402
from core.metrics import NullMetrics  # noqa: E402
from ml.predictor import SHIPPED_MODEL, ModelPredictor  # noqa: E402
from ml.simulator import MarketSimulator  # noqa: E402

err = Console(stderr=True)
START = datetime(2025, 1, 6, tzinfo=UTC)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


async def seed_people(container, sim: MarketSimulator, watches: int, rng: random.Random) -> int:  # type: ignore[no-untyped-def]
    """Create the events, 5 watches per person on random events, and a chat identity each."""
    infos = [e.info for e in sim.events]
    async with container.sessions() as session, session.begin():
        for start in range(0, len(infos), 1000):
            await session.execute(
                insert(Event),
                [
                    {
                        "source": sim.name,
                        "external_id": info.external_id,
                        "name": info.name,
                        "category": info.category,
                        "performers": list(info.performers),
                        "venue": info.venue,
                        "city": info.city,
                        "capacity": info.capacity,
                        "starts_at": info.starts_at,
                        "timezone": info.timezone,
                        "created_at": START,
                    }
                    for info in infos[start : start + 1000]
                ],
            )
        event_rows = (await session.execute(select(Event.id, Event.external_id))).all()
        ids = {external: event_id for event_id, external in event_rows}
        people = max(1, watches // 5)
        await session.execute(
            insert(User),
            [
                {"display_name": f"fan {i}", "timezone": "UTC", "created_at": START}
                for i in range(people)
            ],
        )
        user_ids = list((await session.execute(select(User.id))).scalars())
        await session.execute(
            insert(Identity),
            [
                {
                    "user_id": uid,
                    "platform": "telegram",
                    "workspace_id": "",
                    "external_id": str(uid),
                    "dm_address": str(100000 + uid),
                    "created_at": START,
                }
                for uid in user_ids
            ],
        )
        first_price: dict[str, float] = {}
        for item in sim.iter_snapshots():
            if item.min_price is not None:
                first_price.setdefault(item.event.external_id, item.min_price)
        rows = []
        for n in range(watches):
            info = rng.choice(infos)
            kind = n % 4
            price_hint = first_price.get(info.external_id, 60.0)
            row = {
                "user_id": user_ids[n % len(user_ids)],
                "label": info.name,
                "event_id": ids[info.external_id],
                "terms": [],
                "quantity": 1 + n % 2,
                "zones": [],
                "platforms": [],
                "min_level": 1,
                "cooldown_s": 3600,
                "favourite": n % 7 == 0,
                "active": True,
                "created_at": START,
                "muted_event_ids": [],
            }
            if kind == 0:
                row |= {
                    "triggers": ["price_below"],
                    "max_price": round(price_hint * rng.uniform(0.6, 1.0), 2),
                }
            elif kind == 1:
                row |= {"triggers": ["drop_pct"], "drop_pct": rng.choice([5.0, 10.0, 15.0])}
            elif kind == 2:
                row |= {"triggers": ["low_inventory"], "low_inventory": rng.choice([50, 100, 200])}
            else:
                row |= {
                    "triggers": ["price_below", "new_listing"],
                    "max_price": round(price_hint * rng.uniform(0.7, 1.05), 2),
                }
            rows.append(row)
        for start in range(0, len(rows), 5000):
            await session.execute(insert(Watch), rows[start : start + 5000])
    return len(user_ids)


# Batches between two ANALYZEs on PostgreSQL: what autovacuum would do on a server that
# runs it (stale statistics of tables that grew from empty make the planner scan them).
ANALYZE_EVERY = 20


async def _analyze(container) -> None:  # type: ignore[no-untyped-def]
    async with container.sessions() as session:
        await session.execute(text("ANALYZE"))
        await session.commit()


async def _postgres_database(server: str, name: str, *, drop: bool = False) -> str:
    """Create (or drop) database `name` on the PostgreSQL server of URL `server`."""
    import asyncpg  # only for a comparison run on PostgreSQL

    conn = await asyncpg.connect(server.replace("+asyncpg", ""))
    try:
        verb = (
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            if drop
            else f'CREATE DATABASE "{name}"'
        )
        await conn.execute(verb)
    finally:
        await conn.close()
    return f"{server.rsplit('/', 1)[0]}/{name}"


async def main(
    events: int,
    watches: int,
    snapshots: int,
    batch: int,
    postgres: str | None = None,
    model: Path | None = None,
) -> dict[str, float | int | str]:
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="hdt-bench-engine-"))
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    if postgres:  # a comparison: the targets are for SQLite
        name = f"hdt_bench_{tmp.name.rsplit('-', 1)[-1].lower()}"
        url = await _postgres_database(postgres, name)
        try:
            return await _run(url, tmp, events, watches, snapshots, batch, rng, model)
        finally:
            await _postgres_database(postgres, name, drop=True)
    return await _run(url, tmp, events, watches, snapshots, batch, rng, model)


async def _run(
    url: str,
    tmp: Path,
    events: int,
    watches: int,
    snapshots: int,
    batch: int,
    rng: random.Random,
    model: Path | None = None,
) -> dict[str, float | int | str]:
    postgres = url.startswith("postgresql")
    await asyncio.to_thread(upgrade_blocking, url)
    settings = load_settings(database_url=url, secret_key="bench", demo=False, state_dir=tmp)
    # The simulator yields ~40 snapshots per event over 90 days at a 20 h cadence.
    days = 90
    cadence_h = max(1.0, 20.0 * 40.0 * events / max(1, snapshots) * 0.95)
    err.print(f"simulating {events:,} events at a {cadence_h:.1f} h cadence …")
    sim = MarketSimulator(
        rng.getrandbits(32),
        start=START,
        events=events,
        horizon=timedelta(days=days),
        cadence=timedelta(hours=cadence_h),
        listings=2,
        source="bench",
    )
    total = min(snapshots, len(sim))
    err.print(f"{total:,} snapshots to replay; seeding {watches:,} watches …")
    clock = FakeClock(START)
    seed_container = await build(
        settings, clock=clock, channels={}, metrics=NullMetrics(), predictor=ModelPredictor(None)
    )
    people = await seed_people(seed_container, sim, watches, rng)
    await seed_container.aclose()

    # The heuristic forecasts unless --model is given (as every figure before the shipped
    # model: the forecast's own cost is bench/ml.py's predictor_10k_ms).
    predictor = ModelPredictor(model)
    container = await build(
        settings, clock=clock, channels={}, metrics=NullMetrics(), predictor=predictor
    )
    tune_gc()  # as `python -m bot run` does once it has built its container
    err.print(f"index holds {len(container.alerts.index):,} watches for {people:,} people")
    latencies: list[float] = []
    # CPU of the event loop's thread (Python) and of the others (SQLite's driver thread)
    # inside the ingest calls: where the time goes, and how much the two overlap.
    main_cpu = other_cpu = 0.0
    stream = itertools.islice(sim.iter_snapshots(), total)
    started = time.perf_counter()
    with Progress(console=err, transient=True) as progress:
        bar = progress.add_task("ingest → outbox", total=total)
        while chunk := list(itertools.islice(stream, batch)):
            clock.set(max(item.observed_at for item in chunk))
            t0, main0, all0 = time.perf_counter(), time.thread_time(), time.process_time()
            await container.ingest.ingest_snapshots(chunk)
            latencies.append((time.perf_counter() - t0) * 1000)
            main = time.thread_time() - main0
            main_cpu += main
            other_cpu += time.process_time() - all0 - main
            progress.advance(bar, len(chunk))
            if postgres and len(latencies) % ANALYZE_EVERY == 0:
                await _analyze(container)
    elapsed = time.perf_counter() - started
    async with container.sessions() as session:
        alerts = await session.scalar(select(func.count()).select_from(Alert)) or 0
        outbox = await session.scalar(select(func.count()).select_from(Notification)) or 0
    await container.aclose()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "snapshots_per_s": round(total / elapsed, 1),
        "alerts_per_s": round(alerts / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(p99, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "main_cpu_us_per_snapshot": round(main_cpu / total * 1e6, 1),
        "other_cpu_us_per_snapshot": round(max(0.0, other_cpu) / total * 1e6, 1),
        "main_idle_share": round(1 - main_cpu / (sum(latencies) / 1000), 3),
        "watches": watches,
        "events": events,
        "snapshots": total,
        "alerts": int(alerts),
        "notifications": int(outbox),
        "batch": batch,
        "database": url.split(":", 1)[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--watches", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="compare on PostgreSQL: a fresh database is created on this server and dropped"
        " after (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres)",
    )
    parser.add_argument(
        "--model",
        metavar="DIR",
        type=Path,
        help=f"forecast with this model directory (e.g. {SHIPPED_MODEL.relative_to(ROOT)});"
        " the heuristic when absent",
    )
    args = parser.parse_args()
    if args.model is not None and not (args.model / "model.json").is_file():
        parser.error("--model wants a directory written by hdtickets train, e.g. ml/model")
    if args.postgres and not args.postgres.startswith("postgresql+asyncpg://"):
        parser.error(
            "--postgres wants a postgresql+asyncpg:// URL of a database to connect to,"
            " e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        )
    try:
        figures = asyncio.run(
            main(args.events, args.watches, args.snapshots, args.batch, args.postgres, args.model)
        )
    except OSError as exc:  # the PostgreSQL server is not there
        parser.exit(2, f"engine bench: cannot reach {args.postgres}: {exc}\n")
    finally:  # the database of a full run is over 1 GB
        for leftover in Path(tempfile.gettempdir()).glob("hdt-bench-engine-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    print(json.dumps(figures))
