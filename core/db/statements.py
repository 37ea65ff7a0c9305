"""Statements every backend needs in its own dialect, and the engine's bulk writes.

`bulk_insert` and `bulk_update` write many rows with one executemany. On SQLite they
skip SQLAlchemy's per-row statement machinery (a large share of the alert engine's CPU):
each value goes through its column's own bind processor and the rows go to the driver as
positional tuples, so the stored values are exactly those `session.execute(insert(...))`
stores. JSON columns serialised by `compact_json` are bound as its UTF-8 bytes and cast to
TEXT by SQLite: the same stored text, without decoding each payload into a Python str
(four bytes a character once it holds an emoji) that the driver then encodes back to
UTF-8. Other backends take the ordinary SQLAlchemy path.

Deferred writes (`wait=False`, `defer_statement`): on SQLite every statement runs on the
driver's one connection thread, in the order it was sent, while the event loop's thread
waits. A write whose result nobody reads can be sent without waiting for it, so the
thread that builds the next rows runs while SQLite writes the last ones (two cores
instead of one). The statements still run in order, in the caller's transaction; the
caller must `settle` the session before it commits, which waits for them and raises the
first error (the transaction then rolls back, as after any failed write).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import JSON, Column, Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert, Update, UpdateBase
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from core.db.engine import compact_json, compact_json_bytes


def rowcount(result: object) -> int:
    """How many rows an UPDATE or DELETE matched (`CursorResult.rowcount`; 0 when the
    driver cannot say)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


def insert_skipping(session: AsyncSession, table: Table, unique: Sequence[str]) -> Insert:
    """INSERT … ON CONFLICT (`unique`) DO NOTHING, in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))


Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Given:
    """A column whose value each row carries under `key` (a dict key, or a position)."""

    key: str | int
    process: Processor | None


@dataclass(frozen=True, slots=True)
class _Default:
    """A column the rows leave out: its Python-side default, a constant or a call per row."""

    value: Any
    call: Callable[[], Any] | None
    process: Processor | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """One driver-level statement and how to turn rows into its positional tuples."""

    sql: str
    columns: tuple[_Given | _Default, ...]


# Plans by dialect (weakly: engines come and go in tests), then by statement shape. None
# marks a shape the fast path cannot write exactly as SQLAlchemy would (the slow path does).
_PLANS: WeakKeyDictionary[Dialect, dict[tuple[Any, ...], _Plan | None]] = WeakKeyDictionary()


_TEXT = "CAST(? AS TEXT)"


def _binding(column: Column[Any], dialect: Dialect) -> tuple[str, Processor | None]:
    """The placeholder of `column` in a driver-level statement and its bind processor.

    The processor is the one SQLAlchemy itself binds with (TypeDecorators and the engine's
    JSON serializer included), memoised per dialect by SQLAlchemy; for a plain JSON column
    of a `compact_json` engine it is the same processor over `compact_json_bytes`, whose
    bytes the placeholder casts to the text `compact_json` gives (see the module docstring).
    """
    impl = column.type.dialect_impl(dialect)
    if (
        isinstance(impl, JSON)
        and type(impl).bind_processor is JSON.bind_processor
        and dialect._json_serializer is compact_json
        and impl._str_impl.bind_processor(dialect) is None
    ):
        # SQLAlchemy's own JSON processor (its JSON null and SQL NULL handling), over bytes.
        return _TEXT, impl._make_bind_processor(None, compact_json_bytes)  # type: ignore[no-untyped-call]
    return "?", column.type._cached_bind_processor(dialect)


def _default(column: Column[Any], process: Processor | None) -> _Default | None:
    """The column's Python-side default as the fast path applies it; None if it cannot."""
    default = column.default
    if isinstance(default, ScalarElementColumnDefault):
        return _Default(process(default.arg) if process else default.arg, None, process)
    # SQLAlchemy wraps a callable that takes no context (functools.update_wrapper sets
    # __wrapped__); one it did not wrap wants the execution context, which is not here.
    if isinstance(default, CallableColumnDefault) and hasattr(default.arg, "__wrapped__"):
        arg = cast(Callable[[Any], Any], default.arg)
        return _Default(None, lambda: arg(None), process)
    return None


def _insert_plan(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Plan | None:
    if not keys or not set(keys) <= set(table.c.keys()):
        return None  # no or unknown keys: SQLAlchemy's own path handles (or rejects) them
    columns: list[_Given | _Default] = []
    names: list[str] = []
    marks: list[str] = []
    for column in table.columns:  # others are left to the database, as SQLAlchemy does
        mark, process = _binding(column, dialect)
        if column.key in keys:
            columns.append(_Given(column.key, process))
        elif column.default is not None:
            default = _default(column, process)
            if default is None:
                return None
            columns.append(default)
        else:
            continue
        names.append(column.name)
        marks.append(mark)
    quote = dialect.identifier_preparer
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote.format_table(table),
        ", ".join(quote.quote(name) for name in names),
        ", ".join(marks),
    )
    return _Plan(sql, tuple(columns))


def _update_plan(
    dialect: Dialect, table: Table, key: str, columns: tuple[str, ...]
) -> _Plan | None:
    if not columns or key not in table.c or any(name not in table.c for name in columns):
        return None
    if any(c.onupdate is not None and c.key not in columns for c in table.columns):
        return None  # an onupdate column would need its value set too
    quote = dialect.identifier_preparer
    bound = {name: _binding(table.c[name], dialect) for name in (key, *columns)}
    sql = "UPDATE {} SET {} WHERE {} = {}".format(
        quote.format_table(table),
        ", ".join(f"{quote.quote(table.c[name].name)} = {bound[name][0]}" for name in columns),
        quote.quote(table.c[key].name),
        bound[key][0],
    )
    # Rows come as (key, *columns); the statement binds the columns first, the key last.
    given = tuple(
        _Given(position, bound[name][1]) for position, name in (*enumerate(columns, 1), (0, key))
    )
    return _Plan(sql, given)


def _plan(session: AsyncSession, shape: tuple[Any, ...]) -> _Plan | None:
    """The cached driver-level plan of `shape` on SQLite; None elsewhere or when unsafe."""
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        return None
    plans = _PLANS.setdefault(dialect, {})
    if shape not in plans:
        kind, table, *rest = shape
        if kind == "insert":
            plans[shape] = _insert_plan(dialect, table, rest[0])
        else:
            plans[shape] = _update_plan(dialect, table, rest[0], rest[1])
    return plans[shape]


def _tuples(plan: _Plan, rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows (dicts, or sequences for an update plan) as positional tuples, encoded
    column by column (C-level maps, no per-row Python loop); a row missing a key raises
    KeyError."""
    values: list[list[Any]] = []
    for column in plan.columns:
        if isinstance(column, _Given):
            raw = map(itemgetter(column.key), rows)
            values.append(list(map(column.process, raw) if column.process else raw))
        elif column.call is not None:
            made = [column.call() for _ in rows]
            values.append(list(map(column.process, made)) if column.process else made)
        else:
            values.append([column.value] * len(rows))
    return list(zip(*values, strict=True))


async def bulk_insert(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *, wait: bool = True
) -> None:
    """INSERT `rows` into `table` in the session's transaction, as one executemany.

    Like `session.execute(insert(table), rows)`: the first row's keys name the columns,
    and columns left out get their Python-side defaults (one call per row for callables).
    On SQLite the rows go to the driver as tuples (see the module docstring).

    Args:
        session: The session whose transaction the rows join.
        table: The table to insert into.
        rows: One dict per row, column key -> value, all with the first row's keys.
        wait: False sends the rows on SQLite without waiting for them (see the module
            docstring: the caller must `settle` the session before committing).
    """
    if not rows:
        return
    fast = _insert_params(session, table, rows)
    if fast is None:
        await session.execute(insert(table), list(rows))
        return
    plan, params = fast
    await _send(session, plan.sql, params, many=True, wait=wait)


def _insert_params(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[_Plan, list[tuple[Any, ...]]] | None:
    """The driver-level INSERT plan and encoded rows; None for SQLAlchemy's own path
    (not SQLite, a shape the plan cannot write, or a row lacking a column: SQLAlchemy
    then raises its usual error)."""
    plan = _plan(session, ("insert", table, tuple(rows[0])))
    if plan is None:
        return None
    try:
        return plan, _tuples(plan, rows)
    except KeyError:
        return None


async def insert_returning(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str],
) -> list[Sequence[Any]]:
    """INSERT `rows` RETURNING `returning` columns, one returned row per row.

    Like `session.execute(insert(table).returning(...), rows)`, but the returned rows come
    in no particular order; on SQLite they are written as `insert_skipping_returning`
    writes them.
    """
    return await _insert_returning(session, table, None, rows, returning)


async def insert_skipping_returning(
    session: AsyncSession,
    table: Table,
    unique: Sequence[str],
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str],
) -> list[Sequence[Any]]:
    """INSERT `rows` … ON CONFLICT (`unique`) DO NOTHING RETURNING `returning` columns.

    Like `session.execute(insert_skipping(...).returning(...), rows)`: one returned row
    per inserted row (skipped ones return none), in no particular order. On SQLite the
    rows go to the driver as positional tuples in multi-row VALUES statements and the
    returned values pass their columns' own result processors.
    """
    return await _insert_returning(session, table, unique, rows, returning)


async def _insert_returning(
    session: AsyncSession,
    table: Table,
    unique: Sequence[str] | None,
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str],
) -> list[Sequence[Any]]:
    """`insert_skipping_returning`, or a plain INSERT … RETURNING when `unique` is None."""
    if not rows:
        return []
    fast = _insert_params(session, table, rows)
    if fast is None:
        stmt = insert(table) if unique is None else insert_skipping(session, table, unique)
        return list(
            await session.execute(
                stmt.returning(*(table.c[name] for name in returning)), list(rows)
            )
        )
    plan, params = fast
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer
    head, values = plan.sql.rsplit(" VALUES ", 1)
    skip = (
        ""
        if unique is None
        else " ON CONFLICT ({}) DO NOTHING".format(
            ", ".join(quote.quote(table.c[name].name) for name in unique)
        )
    )
    tail = "{} RETURNING {}".format(
        skip, ", ".join(quote.quote(table.c[name].name) for name in returning)
    )
    processors = [table.c[name].type._cached_result_processor(dialect, None) for name in returning]
    per = max(1, min(dialect.insertmanyvalues_page_size, 32_000 // len(plan.columns)))
    connection = await session.connection()
    out: list[Sequence[Any]] = []
    for start in range(0, len(params), per):
        part = params[start : start + per]
        sql = f"{head} VALUES {', '.join([values] * len(part))}{tail}"
        flat = tuple(value for row in part for value in row)
        for raw in (await connection.exec_driver_sql(sql, flat)).all():
            out.append(
                tuple(p(v) if p is not None else v for p, v in zip(processors, raw, strict=True))
            )
    return out


_UPDATES: dict[tuple[Table, str, tuple[str, ...]], Update] = {}


def _update(table: Table, key: str, columns: tuple[str, ...]) -> Update:
    """UPDATE `table` SET `columns` WHERE `key` matches, with b_-prefixed bind names."""
    shape = (table, key, columns)
    if shape not in _UPDATES:
        _UPDATES[shape] = (
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in columns})
        )
    return _UPDATES[shape]


async def bulk_update(
    session: AsyncSession,
    table: Table,
    key: str,
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """UPDATE `table` SET `columns` WHERE `key` = each row's key, as one executemany.

    On SQLite the rows go to the driver as tuples (see the module docstring).

    Args:
        session: The session whose transaction the update joins.
        table: The table to update.
        key: The column that names each row (usually the primary key).
        columns: The columns to set, the same for every row.
        rows: One dict per row with `key` and every one of `columns`.
    """
    names = tuple(columns)
    get = itemgetter(key, *names)
    await bulk_update_values(session, table, key, names, [get(row) for row in rows])


async def bulk_update_values(
    session: AsyncSession,
    table: Table,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    wait: bool = True,
) -> None:
    """`bulk_update` with each row given as values, not a dict: (key, *columns).

    Saves a dict per row when the caller holds the values in order already.

    Args:
        session: The session whose transaction the update joins.
        table: The table to update.
        key: The column that names each row (usually the primary key).
        columns: The columns to set, the same for every row.
        rows: One sequence per row: the key's value, then one value per column.
        wait: False sends the rows on SQLite without waiting for them (see the module
            docstring: the caller must `settle` the session before committing).
    """
    names = tuple(columns)
    if not names:
        raise ValueError("bulk_update needs at least one column to set")
    if not rows:
        return
    plan = _plan(session, ("update", table, key, names))
    if plan is None:
        bound = tuple(f"b_{name}" for name in (key, *names))
        params_by_name = [dict(zip(bound, row, strict=True)) for row in rows]
        await session.execute(_update(table, key, names), params_by_name)
        return
    await _send(session, plan.sql, _tuples(plan, rows), many=True, wait=wait)


# The session.info key of the writes sent and not yet waited for.
_DEFERRED = "hdt.deferred_writes"
_PLAIN = (int, float, str, type(None))


async def _send(session: AsyncSession, sql: str, params: Any, *, many: bool, wait: bool) -> None:
    """Run driver-level SQL in the session's transaction, now or deferred (SQLite only)."""
    connection = await session.connection()
    if wait:
        await connection.exec_driver_sql(sql, params)
        return
    driver = (await connection.get_raw_connection()).driver_connection  # aiosqlite's
    assert driver is not None, "an open session's connection has a driver connection"
    send = driver.executemany if many else driver.execute
    task = asyncio.ensure_future(send(sql, params))
    session.info.setdefault(_DEFERRED, []).append((task, sql))
    # One turn of the loop lets the task queue its statement before anything sent after
    # this call: the driver runs statements in the order they were queued.
    await asyncio.sleep(0)


async def defer_statement(session: AsyncSession, statement: UpdateBase) -> None:
    """Send a Core UPDATE/DELETE without waiting for it on SQLite (elsewhere: execute it).

    Only for statements whose parameters need no bind processing (numbers, strings,
    None); any other statement is executed at once, as `session.execute` would.
    The caller must `settle` the session before it commits.
    """
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        await session.execute(statement)
        return
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    if not all(isinstance(value, _PLAIN) for value in params):
        await session.execute(statement)
        return
    await _send(session, str(compiled), tuple(params), many=False, wait=False)


async def settle(session: AsyncSession) -> None:
    """Wait for the session's deferred writes; raise the first one's error, if any.

    Every deferred write is waited for, failed or not, so none is left running (or
    unobserved) when the transaction ends. A driver error is raised as SQLAlchemy would
    have raised it (`sqlalchemy.exc.IntegrityError` and so on).
    """
    sent: list[tuple[asyncio.Future[Any], str]] = session.info.pop(_DEFERRED, [])
    if not sent:
        return
    results = await asyncio.gather(*(task for task, _ in sent), return_exceptions=True)
    for (_, sql), result in zip(sent, results, strict=True):
        if isinstance(result, sqlite3.Error):
            raise DBAPIError.instance(sql, None, result, sqlite3.Error) from result
        if isinstance(result, BaseException):
            raise result
