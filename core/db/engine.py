"""Engine and session factory: SQLite in WAL mode by default, PostgreSQL through asyncpg."""

from __future__ import annotations

import traceback
from typing import Any

import orjson
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry


def compact_json(value: Any) -> str:
    """JSON columns (payloads, factors, policies) as compact text, through orjson.

    The alert engine writes hundreds of payloads per batch: orjson encodes them several
    times faster than the standard library. Non-string keys become strings, as
    `json.dumps` would make them.
    """
    return compact_json_bytes(value).decode()


def compact_json_bytes(value: Any) -> bytes:
    """`compact_json(value)` as UTF-8 bytes, for writers that can bind bytes as text."""
    try:
        # orjson's string-keys-only mode is much faster; it refuses any other key.
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def load_json(value: Any) -> Any:
    """JSON column text back to a value, through orjson.

    SQLite gives a column declared JSON numeric affinity: a bare number stored as JSON
    (`5`, `2.5`) comes back as that number, not as text, and orjson refuses anything but
    text. (SQLAlchemy's SQLite JSON type expects the TypeError the standard library
    raises there, not orjson's JSONDecodeError.)
    """
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


# Temp tables in memory, and a WAL that is checkpointed every ~16 MB instead of every
# ~4 MB: the ingest transactions write several MB each, and a rarer checkpoint writes hot
# index pages back fewer times. A 16 MB page cache per connection (SQLite's default is
# 2 MB) keeps the outbox and alert indexes' hot pages in memory: the engine bench runs
# ~3% faster for ~15 MB more peak RSS (32 MB cost more memory than it gained).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA wal_autocheckpoint=4000",
    "PRAGMA cache_size=-16000",
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _lock_for_update(
    conn: Connection, clause: Any, _multiparams: Any, _params: Any, _options: Any
) -> None:
    """On SQLite, a `FOR UPDATE` read takes the database's write lock first.

    SQLite has no row locks, so `with_for_update()` renders as a plain SELECT, and
    pysqlite begins a transaction only at the first write: two concurrent actions on one
    alert (an ack from chat and one from the API) both read it open and both act. Where
    the code asks for a row lock it gets `BEGIN IMMEDIATE` instead: the read and the
    writes that follow it are one transaction no other writer can interleave with, which
    is what the row lock gives on PostgreSQL. A connection already in a transaction
    wrote before (pysqlite began it then) and holds the write lock already.
    """
    if getattr(clause, "_for_update_arg", None) is None:
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        return
    raw = getattr(dbapi, "_connection", dbapi)  # the aiosqlite connection under the adapter
    if raw.in_transaction:
        return
    cursor = dbapi.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine for `url`, configured for its backend."""
    if is_sqlite(url):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            json_serializer=compact_json,
            json_deserializer=load_json,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "before_execute", _lock_for_update)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        json_serializer=compact_json,
        json_deserializer=load_json,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def upkeep_warning(engine: AsyncEngine) -> str | None:
    """A one-line warning when the database will slow down unattended, else None.

    On PostgreSQL with autovacuum off nothing refreshes the planner's statistics: as the
    outbox and the alerts grow from the row counts they were last analysed at, the
    engine's look-ups by alert and event turn into scans of whole tables (measured with
    `bench/engine.py --postgres`: the cancel of superseded messages scanned the outbox).
    """
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as conn:
        setting = await conn.scalar(text("SHOW autovacuum"))
    if str(setting).lower() != "off":
        return None
    return (
        "PostgreSQL runs with autovacuum off: table statistics go stale as alerts and the"
        " outbox grow and queries turn into table scans; turn autovacuum on, or run"
        " ANALYZE regularly (e.g. from cron)"
    )


_DRIVERS = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def database_locked(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's busy timeout running out: another writer held the
    database's lock all that time (a moment later it may well be free)."""
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig)


def database_read_only(exc: BaseException) -> bool:
    """Whether `exc` is SQLite refusing a write to a file (or folder) this process may
    only read: the URL is right, the permissions are not."""
    return isinstance(exc, OperationalError) and "readonly database" in str(exc.orig)


READ_ONLY_ADVICE = "run as a user who may write the file and its folder"


def database_unavailable(exc: BaseException) -> str | None:
    """One line naming why the database cannot be reached now, when that is what `exc`
    says: the server refused or dropped the connection (an outage, a restart,
    `pg_terminate_backend`), or no pooled connection came free in time. None for any
    other error (a statement that failed, a bug).

    The asyncpg driver raises a refused or unresolvable connection as a bare OSError,
    not wrapped by SQLAlchemy: one raised inside the driver counts, any other does not.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return f"the database connection was lost ({_first_line(exc.orig or exc)})"
    if isinstance(exc, PoolTimeout):
        return "no database connection came free in time (the pool is exhausted)"
    if isinstance(exc, OSError) and _raised_by_driver(exc):
        return f"cannot connect to the database ({_first_line(exc)})"
    return None


def _raised_by_driver(exc: BaseException) -> bool:
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if str(frame.f_globals.get("__name__", "")).startswith(_DRIVERS):
            return True
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
