"""Named locks held until the transaction ends, for limits no single row can guard."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def lock_id(name: str) -> int:
    """The signed 64-bit key PostgreSQL's advisory locks take, for a lock called `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_name(session: AsyncSession, name: str) -> None:
    """Hold the lock called `name` until `session`'s transaction ends.

    On PostgreSQL an advisory transaction lock: two transactions checking one limit (the
    texts one phone number was sent) take turns. SQLite needs nothing here: a transaction
    that locks a row first (`with_for_update`) holds the database's write lock already
    (`core.db.engine`).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(name)})
