"""bulk_insert / bulk_update (and bulk_update_values) store what SQLAlchemy stores.

Every column type the alert engine writes goes through both paths and is read back
through the ORM; on SQLite the stored text is compared too, and the fast (driver-level)
path must really have been taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import JSON, Table, bindparam, event, insert, null, select, update
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db.models import Alert, Watch
from core.db.statements import bulk_insert, bulk_update, bulk_update_values, insert_returning
from tests.integration.engine_helpers import add_seed

WATCHES = cast(Table, Watch.__table__)
ALERTS = cast(Table, Alert.__table__)
AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
ELSEWHERE = timezone(timedelta(hours=-5))


def _watch_rows(user_id: int, event_id: int, tag: str) -> list[dict[str, Any]]:
    """Watches covering JSON lists (and None), booleans, floats, strings and datetimes."""
    return [
        {
            "user_id": user_id,
            "label": f'{tag} O\'Brien "live" – Zürich ☃ 🎫',
            "event_id": event_id,
            "terms": ["a", 'b "quoted"', "ü", 3, None, {"k": [1.5, True]}],
            "category": None,
            "venue": "Hall 'A'",
            "max_price": 49.99,
            "quantity": 2,
            "zones": [],
            "platforms": ["telegram"],
            "triggers": ["price_below", "drop_pct"],
            "drop_pct": None,
            "low_inventory": 5,
            "min_level": 2,
            "cooldown_s": 60,
            "snoozed_until": AT.astimezone(ELSEWHERE),  # stored as UTC
            "snooze_below": 0.1,
            "favourite": True,
            "destination_channel": None,
            "destination_address": None,
            "active": False,
            "expires_at": None,
            "removed_at": AT + timedelta(days=1),
            "muted_event_ids": None,
            "created_at": AT,
            "updated_at": AT,
        },
        {
            "user_id": user_id,
            "label": f"{tag} plain",
            "event_id": None,
            "terms": [],
            "category": "music",
            "venue": None,
            "max_price": None,
            "quantity": 1,
            "zones": ["floor"],
            "platforms": [],
            "triggers": [],
            "drop_pct": 12.5,
            "low_inventory": None,
            "min_level": 1,
            "cooldown_s": 3600,
            "snoozed_until": None,
            "snooze_below": None,
            "favourite": False,
            "destination_channel": "telegram",
            "destination_address": "-100",
            "active": True,
            "expires_at": AT,
            "removed_at": None,
            "muted_event_ids": [7, 8],
            "created_at": AT,
            "updated_at": AT,
        },
    ]


def _alert_rows(
    watch_id: int, user_id: int, event_id: int, keys: list[str]
) -> list[dict[str, Any]]:
    """Alerts covering JSON dicts, lists and None next to the engine's other columns."""
    return [
        {
            "dedup_key": key,
            "watch_id": watch_id,
            "user_id": user_id,
            "event_id": event_id,
            "kind": "price_below",
            "score": 0.25,
            "level": 2,
            "factors": [{"name": "price", "value": 0.5, "reason": "€ < 50 'cheap'"}],
            "prediction": {"p_drop": 0.3, "horizon_h": 24, "n": None},
            "recommendation": None,
            "price": 40.0,
            "status": "open",
            "reason": "first",
            "opened_at": AT,
            "updated_at": AT,
            "escalation": None,
        }
        for key in keys
    ]


def _values(obj: Any, table: Table, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in table.columns if c.key not in skip}


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[tuple[str, bool, bool]]]:
    """Record (SQL, executemany, compiled by SQLAlchemy) of every statement sent."""
    sent: list[tuple[str, bool, bool]] = []

    def record(
        _conn: Connection,
        _cursor: Any,
        statement: str,
        _params: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        compiled = context is not None and getattr(context, "compiled", None) is not None
        sent.append((statement, executemany, compiled))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _raw(session: AsyncSession, table: str, ids: list[int]) -> list[tuple[Any, ...]]:
    """SQLite only: the stored values as the driver returns them (no type processing)."""
    connection = await session.connection()
    marks = ", ".join("?" for _ in ids)
    result = await connection.exec_driver_sql(
        f"SELECT * FROM {table} WHERE id IN ({marks}) ORDER BY id", tuple(ids)
    )
    return [tuple(row)[1:] for row in result]  # without the id


async def test_bulk_insert_stores_what_sqlalchemy_stores(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        u, e = seed.user.id, seed.event.id
        with _statements(engine) as sent:
            await bulk_insert(session, WATCHES, _watch_rows(u, e, "x"))
        await session.execute(insert(WATCHES), _watch_rows(u, e, "x"))
        await bulk_insert(session, ALERTS, _alert_rows(seed.watch.id, u, e, ["f1", "f2"]))
        await session.execute(insert(ALERTS), _alert_rows(seed.watch.id, u, e, ["s1", "s2"]))

        if sqlite:  # one executemany, sent by the driver-level path (not compiled)
            assert [(s.split(" (")[0], many, compiled) for s, many, compiled in sent] == [
                ("INSERT INTO watches", True, False)
            ]
        watches = (
            await session.scalars(select(Watch).where(Watch.id != seed.watch.id).order_by(Watch.id))
        ).all()
        alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
        assert len(watches) == 4 and len(alerts) == 4
        fast_w, slow_w = watches[:2], watches[2:]
        assert [_values(w, WATCHES) for w in fast_w] == [_values(w, WATCHES) for w in slow_w]
        assert _values(fast_w[0], WATCHES)["snoozed_until"] == AT
        assert _values(fast_w[0], WATCHES)["terms"][-1] == {"k": [1.5, True]}
        skip = ("id", "dedup_key")
        assert [_values(a, ALERTS, skip) for a in alerts[:2]] == [
            _values(a, ALERTS, skip) for a in alerts[2:]
        ]
        if sqlite:  # byte for byte the same stored text
            raw_w = await _raw(session, "watches", [w.id for w in watches])
            assert raw_w[:2] == raw_w[2:]
            raw_a = await _raw(session, "alerts", [a.id for a in alerts])
            assert [r[1:] for r in raw_a[:2]] == [r[1:] for r in raw_a[2:]]


async def test_insert_returning_stores_what_sqlalchemy_stores_and_returns_each_row(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sqlite = engine.dialect.name == "sqlite"

    def rows(keys: list[str]) -> list[dict[str, Any]]:
        plain, scalars, nulls = _alert_rows(seed.watch.id, seed.user.id, seed.event.id, keys)
        # JSON scalars, and SQL NULL next to JSON null: null() and JSON.NULL, as
        # SQLAlchemy tells them apart.
        scalars |= {"factors": [], "prediction": True, "recommendation": "wait"}
        nulls |= {"factors": [None], "prediction": null(), "recommendation": JSON.NULL}
        return [plain, scalars, nulls]

    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        with _statements(engine) as sent:
            returned = await insert_returning(
                session, ALERTS, rows(["f1", "f2", "f3"]), ("dedup_key", "id")
            )
        await session.execute(insert(ALERTS), rows(["s1", "s2", "s3"]))
        if sqlite:  # one multi-row INSERT by the driver-level path, JSON bound as bytes
            assert [(s.split(" (")[0], many, compiled) for s, many, compiled in sent] == [
                ("INSERT INTO alerts", False, False)
            ]
            assert "CAST(? AS TEXT)" in sent[0][0] and "ON CONFLICT" not in sent[0][0]
        ids = {key: id_ for key, id_ in await session.execute(select(Alert.dedup_key, Alert.id))}
        assert sorted(returned) == [(key, ids[key]) for key in ("f1", "f2", "f3")]
        alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
        skip = ("id", "dedup_key")
        assert [_values(a, ALERTS, skip) for a in alerts[:3]] == [
            _values(a, ALERTS, skip) for a in alerts[3:]
        ]
        assert (alerts[1].prediction, alerts[2].prediction) == (True, None)
        if sqlite:  # byte for byte the same stored values, NULLs where SQLAlchemy has them
            raw = [r[1:] for r in await _raw(session, "alerts", [a.id for a in alerts])]
            assert raw[:3] == raw[3:]
            prediction = [c.key for c in ALERTS.columns if c.key not in skip].index("prediction")
            assert [r[prediction] for r in raw[:3]] == [raw[0][prediction], "true", None]
            assert isinstance(raw[0][prediction], str)


async def test_bulk_insert_applies_python_side_defaults(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        before = datetime.now(UTC)
        rows = [{"user_id": seed.user.id, "label": f"bare {n}"} for n in range(3)]
        await bulk_insert(session, WATCHES, rows)
        after = datetime.now(UTC)
        stored = (
            await session.scalars(
                select(Watch).where(Watch.label.like("bare %")).order_by(Watch.id)
            )
        ).all()
        assert [w.label for w in stored] == ["bare 0", "bare 1", "bare 2"]
        for watch in stored:
            assert watch.triggers == ["price_below"]  # a callable default
            assert (watch.quantity, watch.cooldown_s, watch.min_level) == (1, 3600, 1)
            assert (watch.active, watch.favourite) == (True, False)
            assert watch.terms == [] and watch.muted_event_ids == []
            assert before <= watch.created_at <= after and watch.created_at.tzinfo is not None
            assert watch.snoozed_until is None and watch.event_id is None


async def test_bulk_insert_rejects_a_row_missing_a_column_like_sqlalchemy(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        rows = [{"user_id": seed.user.id, "label": "a"}, {"user_id": seed.user.id}]
        with pytest.raises(StatementError, match="label"):
            await bulk_insert(session, WATCHES, rows)


async def test_bulk_update_changes_exactly_the_named_rows(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    later = AT + timedelta(hours=3)
    changes = {
        "score": 0.875,
        "level": 4,
        "price": None,
        "updated_at": later.astimezone(ELSEWHERE),
        "status": "resolved",
        "reason": 'gone – "sold out"',
        "resolved_at": later,
        "factors": [],
        "prediction": None,
        "recommendation": {"action": "wait", "confidence": 0.5},
    }
    columns = tuple(changes)
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        keys = ["a", "b", "c", "d"]
        rows = _alert_rows(seed.watch.id, seed.user.id, seed.event.id, keys)
        await session.execute(insert(ALERTS), rows)
        ids = {key: id_ for key, id_ in await session.execute(select(Alert.dedup_key, Alert.id))}
        with _statements(engine) as sent:
            await bulk_update(
                session, ALERTS, "id", columns, [{"id": ids[k], **changes} for k in ("a", "c")]
            )
        # The same change through SQLAlchemy's own statement, for comparison.
        await session.execute(
            update(ALERTS)
            .where(ALERTS.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}", type_=ALERTS.c[name].type) for name in columns}),
            [{"b_id": ids["d"], **{f"b_{k}": v for k, v in changes.items()}}],
        )
        if sqlite:
            assert [(s.split(" SET")[0], many, compiled) for s, many, compiled in sent] == [
                ("UPDATE alerts", True, False)
            ]
        untouched = _alert_rows(seed.watch.id, seed.user.id, seed.event.id, ["b"])[0]
        session.expire_all()
        stored = {a.dedup_key: a for a in await session.scalars(select(Alert))}
        expected = {**changes, "updated_at": later}
        for key in ("a", "c", "d"):
            assert {name: getattr(stored[key], name) for name in columns} == expected
        assert {name: getattr(stored["b"], name) for name in columns} == {
            name: untouched.get(name) for name in columns
        }
        assert stored["b"].resolved_at is None and stored["b"].status == "open"
        if sqlite:
            raw = await _raw(session, "alerts", [ids[k] for k in keys])
            assert raw[0][1:] == raw[2][1:] == raw[3][1:]  # a, c, d: the same stored text
            assert raw[1][1:] != raw[0][1:]


async def test_bulk_update_needs_a_column(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError, match="at least one column"):
            await bulk_update(session, ALERTS, "id", (), [{"id": 1}])


async def test_bulk_update_values_stores_what_bulk_update_stores(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    later = AT + timedelta(hours=5)
    changes = {
        "score": 0.5,
        "level": 3,
        "price": None,
        "updated_at": later.astimezone(ELSEWHERE),
        "reason": 'gone – "sold out" ☃',
        "resolved_at": later,
        "factors": [{"name": "price", "value": 0.25, "reason": "€ 'x'"}],
        "prediction": None,
        "recommendation": {"action": "wait", "confidence": 0.5},
    }
    columns = tuple(changes)
    async with sessions() as session, session.begin():
        seed = await add_seed(session)
        keys = ["a", "b", "c", "d"]
        rows = _alert_rows(seed.watch.id, seed.user.id, seed.event.id, keys)
        await session.execute(insert(ALERTS), rows)
        ids = {key: id_ for key, id_ in await session.execute(select(Alert.dedup_key, Alert.id))}
        await bulk_update(session, ALERTS, "id", columns, [{"id": ids["a"], **changes}])
        with _statements(engine) as sent:
            values = [(ids[k], *changes.values()) for k in ("b", "c")]
            await bulk_update_values(session, ALERTS, "id", columns, values)
        if sqlite:  # the driver-level path, as one executemany
            assert [(s.split(" SET")[0], many, compiled) for s, many, compiled in sent] == [
                ("UPDATE alerts", True, False)
            ]
        session.expire_all()
        stored = {a.dedup_key: a for a in await session.scalars(select(Alert))}
        expected = {**changes, "updated_at": later}
        for key in ("a", "b", "c"):
            assert {name: getattr(stored[key], name) for name in columns} == expected
        assert stored["d"].reason == "first" and stored["d"].resolved_at is None
        if sqlite:
            raw = await _raw(session, "alerts", [ids[k] for k in keys])
            assert raw[0][1:] == raw[1][1:] == raw[2][1:]  # a, b, c: the same stored text
            assert raw[3][1:] != raw[0][1:]
        with pytest.raises(ValueError, match="at least one column"):
            await bulk_update_values(session, ALERTS, "id", (), [(1,)])
