"""Two `hdtickets migrate` at once on an empty PostgreSQL database (two releases starting
together): the second waits for the first and finds the schema at head."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.migrate import alembic_config
from core.db.engine import make_engine
from tests.conftest import _create_pg_database, _drop_pg_database, postgres_skip_reason


@pytest.mark.postgres
def test_two_migrations_at_once_both_succeed() -> None:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    url = _create_pg_database()
    try:
        code = "import sys; from bot.migrate import upgrade_blocking; upgrade_blocking(sys.argv[1])"
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 0, err.decode()[-2000:]

        async def version() -> str | None:
            engine = make_engine(url)
            try:
                async with engine.connect() as conn:
                    return await conn.scalar(text("SELECT version_num FROM alembic_version"))
            finally:
                await engine.dispose()

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert asyncio.run(version()) == head
    finally:
        _drop_pg_database(url)
