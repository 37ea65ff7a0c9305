"""Migration 0005: contact point ids are never reused, and it goes both ways.

SQLite reuses the id of the newest deleted row unless the table has AUTOINCREMENT; the
outbox addresses contact points as `cp<id>`, so a reused id would send a queued text to
someone else. PostgreSQL sequences never reuse ids: 0005 changes nothing there.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from bot.migrate import alembic_config, upgrade_blocking
from core.db.engine import make_engine
from core.db.models import Base

_USER = (
    "INSERT INTO users (id, display_name, timezone, locale, role, feedback_count, created_at)"
    " VALUES (1, 'Ada', 'UTC', 'en', 'user', 0, '2024-03-20 12:00:00.000000')"
)
_POINT = (
    "INSERT INTO contact_points (user_id, kind, address_encrypted, address_masked,"
    " is_emergency, created_at, verify_attempts) VALUES (1, 'sms', 'x', '+1•••••0000', 0,"
    " '2024-03-20 12:00:00.000000', 0)"
)
_TEXT = (
    "INSERT INTO notifications (user_id, kind, channel, address, level, score, payload,"
    " idempotency_key, status, attempts, due_at, created_at) VALUES (1, 'escalation', 'sms',"
    " 'cp9', 5, 1.0, '{}', 'k9', 'pending', 1, '2024-03-20 12:00:00.000000',"
    " '2024-03-20 12:00:00.000000')"
)


def _table_sql(db: sqlite3.Connection) -> str:
    row = db.execute("SELECT sql FROM sqlite_master WHERE name = 'contact_points'").fetchone()
    return str(row[0])


def _add_point(db: sqlite3.Connection) -> int:
    return int(db.execute(_POINT).lastrowid or 0)


def test_0005_never_reuses_sqlite_ids_nor_those_the_outbox_still_names(tmp_path: Path) -> None:
    """Before 0005 a deleted newest id comes back; after it, new ids start above every id
    kept and every `cp<id>` a queued text names (here cp9, a contact deleted earlier)."""
    path = tmp_path / "hdt.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_blocking(url, "0004")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(_USER)
        db.execute(_TEXT)
        ids = [_add_point(db) for _ in range(3)]
        db.execute("DELETE FROM contact_points WHERE id = 3")
        assert ids == [1, 2, 3] and _add_point(db) == 3  # the bug: id 3 again
        db.execute("DELETE FROM contact_points WHERE id = 3")
    upgrade_blocking(url, "0005")
    with closing(sqlite3.connect(path)) as db, db:
        assert "AUTOINCREMENT" in _table_sql(db)
        assert _add_point(db) == 10
        db.execute("DELETE FROM contact_points WHERE id = 10")
        assert _add_point(db) == 11
        kept = [row[0] for row in db.execute("SELECT id FROM contact_points ORDER BY id")]
    assert kept == [1, 2, 11]
    command.downgrade(alembic_config(url), "0004")
    with closing(sqlite3.connect(path)) as db, db:
        assert "AUTOINCREMENT" not in _table_sql(db)
        assert [row[0] for row in db.execute("SELECT id FROM contact_points ORDER BY id")] == kept


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _schema_differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await engine.dispose()


def test_0005_downgrades_and_upgrades_again_on_both_backends(database_url: str) -> None:
    """Down to 0004 and back to the head leaves exactly the schema the models describe."""
    config = alembic_config(database_url)
    command.downgrade(config, "0004")
    command.upgrade(config, "0005")
    command.upgrade(config, "head")
    assert asyncio.run(_schema_differences(database_url)) == []
