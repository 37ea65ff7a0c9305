"""Fixtures of the end-to-end tests: an HTTP client and the CLI's environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.proc_helpers import INGEST_SECRET, SECRET_KEY


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for talking to the bot (no proxies from the environment)."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        yield session


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in `tmp_path` (no stray .env) with the variables the webhook CLI reads.

    Callers set HDT_DATABASE_URL themselves.
    """
    monkeypatch.chdir(tmp_path)
    for name in ("HDT_ROLE", "HDT_HTTP_PORT", "HDT_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HDT_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("HDT_INGEST_SECRET", INGEST_SECRET)
    monkeypatch.setenv("HDT_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("HDT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path
