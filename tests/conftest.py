"""Shared fixtures: a FakeClock, a seeded Random, and migrated databases on both backends."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.migrate import upgrade_blocking
from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker

PG_ADMIN_URL = os.environ.get(
    "HDT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 3, 20, 12, 0, tzinfo=UTC))


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


def _postgres_available() -> str | None:
    """Return None when PostgreSQL answers, else the reason it does not."""
    import asyncpg  # type: ignore[import-untyped]

    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # the server is absent or refuses: say why, visibly
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
    return None


_PG_REASON: list[str | None] = []


def postgres_skip_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_postgres_available())
    return _PG_REASON[0]


def _create_pg_database() -> str:
    import asyncpg

    name = f"hdt_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def _drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def make_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new, migrated, empty database on `backend`."""
    if backend == "postgres":
        reason = postgres_skip_reason()
        if reason:
            pytest.skip(reason)
        url = _create_pg_database()
        try:
            upgrade_blocking(url)
            yield url
        finally:
            _drop_pg_database(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'hdtickets.db'}"
        upgrade_blocking(url)
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database on each backend: tests using it run on SQLite and PostgreSQL."""
    yield from make_database_url(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield from make_database_url("sqlite", tmp_path)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from make_database_url("postgres", tmp_path)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)
