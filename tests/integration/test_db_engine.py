"""The engine factory: SQLite pragmas on every connection, compact JSON on both backends."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Text, cast, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import build
from bot.settings import load_settings
from core.db.engine import compact_json, make_engine, upkeep_warning
from core.db.models import User
from core.metrics import NullMetrics


def test_compact_json_has_no_spaces_and_round_trips() -> None:
    value = {"a": [1, 2.5, None], "b": {"c": "x y"}, "emoji": "🔥", 7: True}
    encoded = compact_json(value)
    assert encoded == '{"a":[1,2.5,null],"b":{"c":"x y"},"emoji":"🔥","7":true}'
    assert json.loads(encoded) == {**{k: v for k, v in value.items() if k != 7}, "7": True}


async def test_sqlite_connections_get_the_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            found = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "foreign_keys",
                    "temp_store",
                    "wal_autocheckpoint",
                    "cache_size",
                )
            }
    finally:
        await engine.dispose()
    assert found == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "temp_store": 2,
        "wal_autocheckpoint": 4000,
        "cache_size": -16000,
    }


async def test_json_columns_are_stored_compactly_and_read_back(engine: AsyncEngine) -> None:
    weights = {"price": 0.3, "tags": ["a", "b"]}
    async with engine.begin() as conn:
        await conn.execute(
            insert(User),
            {
                "display_name": "json",
                "timezone": "UTC",
                "learned_weights": weights,
                "created_at": datetime(2025, 1, 1, tzinfo=UTC),
            },
        )
        raw = await conn.scalar(select(cast(User.learned_weights, Text)))
        back = await conn.scalar(select(User.learned_weights))
    assert back == weights
    assert raw is not None and ", " not in raw and '": ' not in raw


async def test_timestamps_are_utc_text_on_sqlite_and_aware_on_both(engine: AsyncEngine) -> None:
    phoenix = timezone(timedelta(hours=-7))
    stamps = {
        "west": datetime(2024, 3, 20, 17, 1, tzinfo=phoenix),  # 2024-03-21 00:01 UTC
        "naive": datetime(2024, 3, 20, 23, 59, 59, 5),  # taken to be UTC
        "utc": datetime(2024, 3, 21, tzinfo=UTC),
    }
    async with engine.begin() as conn:
        await conn.execute(
            insert(User),
            [{"display_name": n, "timezone": "UTC", "created_at": t} for n, t in stamps.items()],
        )
        back = dict((await conn.execute(select(User.display_name, User.created_at))).all())
        later = await conn.scalars(
            select(User.display_name)
            .where(User.created_at >= datetime(2024, 3, 20, 17, 0, tzinfo=phoenix))
            .order_by(User.created_at)
        )
        raw = await conn.scalar(
            select(cast(User.created_at, Text)).where(User.display_name == "west")
        )
    assert back == {
        "west": datetime(2024, 3, 21, 0, 1, tzinfo=UTC),
        "naive": datetime(2024, 3, 20, 23, 59, 59, 5, tzinfo=UTC),
        "utc": datetime(2024, 3, 21, tzinfo=UTC),
    }
    assert all(value.utcoffset() == timedelta(0) for value in back.values())
    assert list(later) == ["utc", "west"]  # compared in UTC, not as local wall time
    if engine.dialect.name == "sqlite":  # SQLAlchemy's own storage format, to the microsecond
        assert raw == "2024-03-21 00:01:00.000000"


async def test_json_columns_holding_a_bare_value_read_back(engine: AsyncEngine) -> None:
    """SQLite stores a bare JSON number as a number (the column's numeric affinity)."""
    values = [5, 2.5, -1, "text", True, None, [1], {"a": 1}]
    async with engine.begin() as conn:
        for n, value in enumerate(values):
            await conn.execute(
                insert(User),
                {
                    "display_name": f"bare {n}",
                    "timezone": "UTC",
                    "learned_weights": value,
                    "created_at": datetime(2025, 1, 1, tzinfo=UTC),
                },
            )
        back = (await conn.execute(select(User.learned_weights).order_by(User.id))).scalars().all()
    assert back == values


async def test_upkeep_warning_follows_the_servers_autovacuum_setting(engine: AsyncEngine) -> None:
    warning = await upkeep_warning(engine)
    if engine.dialect.name != "postgresql":
        assert warning is None  # SQLite keeps no planner statistics to go stale
        return
    async with engine.connect() as conn:
        setting = str(await conn.scalar(text("SHOW autovacuum")))
    if setting == "off":
        assert warning is not None
        assert "autovacuum off" in warning
        assert "ANALYZE" in warning
        assert "\n" not in warning
    else:
        assert warning is None


async def test_build_logs_the_upkeep_warning(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="test",
        demo=False,
        state_dir=tmp_path,
    )
    expected = await upkeep_warning(engine)
    with caplog.at_level(logging.WARNING, logger="bot.bootstrap"):
        container = await build(settings, channels={}, metrics=NullMetrics())
        await container.aclose()
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.bootstrap"]
    assert (
        (expected in logged) if expected is not None else not any("autovacuum" in m for m in logged)
    )
