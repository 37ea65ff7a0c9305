"""Column types shared by the models: timestamps stored in UTC, returned timezone-aware.

On SQLite a timestamp is bound and read by one cached C-level call instead of the
decorator plus the dialect's formatting (the alert engine binds and reads a few hundred
thousand a minute).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned timezone-aware on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # On SQLite each value is one C-level strftime / fromisoformat call instead of this
    # decorator's step plus the dialect's own formatting: the alert engine binds and reads
    # a few hundred thousand timestamps a minute. The text is exactly SQLAlchemy's SQLite
    # storage format ("2024-03-20 17:01:00.000000"), so stored rows compare as before.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_bind

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_result


_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


# A batch binds the same few instants (its `now`, the alerts' opened_at …) over and over:
# formatting or parsing one costs ~1 µs, a cache hit ~0.05 µs. Datetimes and strings are
# immutable, and equal instants give equal text, so sharing the answers is safe.
@lru_cache(maxsize=16384)
def _sqlite_bind(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime(_SQLITE_FORMAT)


@lru_cache(maxsize=16384)
def _sqlite_result(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
