"""Escalation benchmark: 10,000 open escalations on SQLite, the 1 s ticker on a FakeClock.

Seeds 2,000 people (two chats and a verified phone each) and 10,000 open critical or
high alerts whose policies were frozen at spread-out times, so steps come due all
through the run. Then ticks once per (fake) second for `--seconds`, timing each tick
with the wall clock. Lateness of a step = how long after its deadline the tick that
fired it started (fake time) + that tick's wall time. Targets (issue 4): median tick
<= 100 ms; no step fires more than 1.5 s late.

    .venv/bin/python bench/escalation.py [--alerts 10000] [--seconds 300]

The last line on stdout is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from bot.migrate import upgrade_blocking  # noqa: E402
from core.actions import ActionSigner  # noqa: E402
from core.clock import FakeClock  # noqa: E402
from core.db.engine import make_engine, make_sessionmaker  # noqa: E402
from core.db.models import Alert, ContactPoint, Event, Identity, User, Watch  # noqa: E402
from core.domain import Level  # noqa: E402
from core.escalation import EscalationService  # noqa: E402
from core.escalation_rules import EscalationConfig  # noqa: E402
from core.metrics import NullMetrics  # noqa: E402
from core.policy import freeze  # noqa: E402


async def seed(sessions, clock: FakeClock, alerts: int, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    people = max(1, alerts // 5)
    async with sessions() as s, s.begin():
        await s.execute(
            insert(User), [{"display_name": f"p{i}", "timezone": "UTC"} for i in range(people)]
        )
        ids = list((await s.execute(select(User.id))).scalars())
        await s.execute(
            insert(Identity),
            [
                {
                    "user_id": u,
                    "platform": p,
                    "workspace_id": "",
                    "external_id": f"{p}{u}",
                    "dm_address": f"{p}{u}",
                }
                for u in ids
                for p in ("telegram", "console")
            ],
        )
        await s.execute(
            insert(ContactPoint),
            [
                {
                    "user_id": u,
                    "kind": "sms",
                    "address_encrypted": "x",
                    "address_masked": "+1•••••0000",
                    "verified_at": now,
                    "is_emergency": False,
                    "verify_attempts": 0,
                    "created_at": now,
                }
                for u in ids
            ],
        )
        await s.execute(
            insert(Event),
            [
                {
                    "source": "b",
                    "external_id": "e1",
                    "name": "Bench Game",
                    "starts_at": now + timedelta(days=3),
                    "performers": [],
                }
            ],
        )
        event_id = (await s.execute(select(Event.id))).scalar_one()
        await s.execute(
            insert(Watch), [{"user_id": u, "label": "w", "event_id": event_id} for u in ids]
        )
        watches = dict((await s.execute(select(Watch.user_id, Watch.id))).all())
        rows = []
        for n in range(alerts):
            user = ids[n % len(ids)]
            level = Level.CRITICAL if n % 2 else Level.HIGH
            started = now + timedelta(seconds=rng.uniform(-100, 1100))  # nothing overdue at start
            frozen = freeze(level, started)
            rows.append(
                {
                    "dedup_key": f"{n}",
                    "watch_id": watches[user],
                    "user_id": user,
                    "event_id": event_id,
                    "kind": "price_below",
                    "score": 0.9,
                    "level": int(level),
                    "price": 50.0,
                    "status": "open",
                    "opened_at": started,
                    "updated_at": started,
                    "escalation": frozen.snapshot,
                    "step": 0,
                    "next_step_at": frozen.next_step_at,
                    "fence": 0,
                    "factors": [],
                }
            )
        await s.execute(insert(Alert), rows)


async def main(alerts: int, seconds: int) -> dict[str, float | int]:
    rng = random.Random(42)
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade_blocking, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        await seed(sessions, clock, alerts, rng)
        config = EscalationConfig(daily_cap=10_000)
        svc = EscalationService(
            sessions, clock, config, ActionSigner(b"k" * 32), rng, NullMetrics()
        )
        async with sessions() as s:
            open_count = await s.scalar(
                select(func.count()).where(Alert.status == "open", Alert.escalation.is_not(None))
            )
        times: list[float] = []
        worst = 0.0
        fired = 0
        for _ in range(seconds):
            clock.advance(1)
            started = time.perf_counter()
            report = await svc.tick()
            wall = time.perf_counter() - started
            times.append(wall * 1000)
            fired += report.fired + report.held
            if report.fired or report.held:
                worst = max(worst, report.max_lateness_s + wall)
        await engine.dispose()
    times.sort()
    print(f"ticks {len(times)}, steps fired {fired}", file=sys.stderr)
    return {
        "open_escalations": int(open_count or 0),
        "tick_p50_ms": round(statistics.median(times), 2),
        "tick_p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "max_lateness_s": round(worst, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.alerts, args.seconds))))
