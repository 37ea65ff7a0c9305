"""The engine factory: SQLite pragmas on every connection, compact JSON on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Text, cast, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.engine import compact_json, make_engine
from core.db.models import User


def test_compact_json_has_no_spaces_and_round_trips() -> None:
    value = {"a": [1, 2.5, None], "b": {"c": "x y"}, "emoji": "🔥"}
    encoded = compact_json(value)
    assert encoded == '{"a":[1,2.5,null],"b":{"c":"x y"},"emoji":"\\ud83d\\udd25"}'


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
