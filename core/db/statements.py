"""Statements every backend needs in its own dialect."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert


def insert_skipping(session: AsyncSession, table: Table, unique: Sequence[str]) -> Insert:
    """INSERT … ON CONFLICT (`unique`) DO NOTHING, in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
