"""`python -m bot run --no-chat` as a subprocess: monitoring, ingest, SIGTERM, bad settings."""

from __future__ import annotations

import asyncio
import gc
import re
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.process import tune_gc
from tests.e2e.proc_helpers import (
    INGEST_PATH,
    BotProcess,
    batch_body,
    bot_env,
    free_port,
    post_batch,
    snapshot,
    utc_now,
)

pytestmark = pytest.mark.slow
INGESTED = re.compile(r"^hdtickets_snapshots_ingested_total (\S+)$", re.MULTILINE)


async def ingested_total(http: aiohttp.ClientSession, base_url: str) -> float:
    async with http.get(base_url + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    match = INGESTED.search(text)
    assert match is not None, text[:2000]
    return float(match.group(1))


async def test_the_process_serves_monitoring_and_ingest_and_stops_on_sigterm(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    bot = BotProcess(tmp_path, bot_env(url, free_port()))
    await bot.start()
    try:
        await bot.wait_healthy(http, within_s=30)
        async with http.get(bot.base_url + "/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}
        async with http.get(bot.base_url + "/readyz") as response:
            ready = await response.json()
            assert response.status == 200, ready
        assert ready["status"] == "ready"
        assert ready["checks"]["database"] == {"status": "ok"}
        assert ready["checks"]["channel:webhook"] == {"status": "ok"}
        assert await ingested_total(http, bot.base_url) == 0.0

        now = utc_now()
        items = [
            snapshot("9001", 55.0, now - timedelta(minutes=3)),
            snapshot("9002", 75.0, now - timedelta(minutes=2)),
        ]
        status, report = await post_batch(http, bot.base_url, items)
        assert status == 202, report
        assert report == {"accepted": 2, "duplicates": 0, "rejected": []}
        status, report = await post_batch(http, bot.base_url, items[:1])
        assert (status, report["accepted"], report["duplicates"]) == (202, 0, 1)
        body = batch_body(items)
        async with http.post(bot.base_url + INGEST_PATH, data=body) as response:
            assert response.status == 401  # neither signed nor a bearer token
        assert await ingested_total(http, bot.base_url) == 2.0

        bot.send(signal.SIGTERM)
        assert await bot.wait_exit(within_s=15) == 0, bot.log_tail()
    finally:
        await bot.stop()
    log = bot.log_path.read_text()
    assert "Traceback" not in log, log
    assert "stopped" in log.splitlines()[-1], log


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HDT_HTTP_PORT", "abc"),
        ("HDT_DATABASE_URL", "mysql://localhost/db"),
        ("HDT_WEIGHTS", "1,2"),
        ("HDT_INGEST_SECRET", "whsec_!!not-base64"),
        ("HDT_WEBHOOK_ALLOW_HOSTS", "127.0.0.1,not a host!"),
        ("HDT_SECRET_KEY", ""),
    ],
)
async def test_a_wrong_setting_stops_start_up_with_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    line = await refused_start_up(tmp_path, bot_env(url, free_port(), **{name: value}))
    assert line.startswith(f"configuration error: {name}: "), line
    assert not value or value not in line


async def test_a_taken_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = await refused_start_up(tmp_path, bot_env(url, port))
    assert line.startswith(f"configuration error: HDT_HTTP_PORT: cannot listen on 127.0.0.1:{port}")
    assert f"e.g. HDT_HTTP_PORT={port + 1}" in line


async def test_port_zero_logs_the_port_it_listens_on(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    bot = BotProcess(tmp_path, bot_env(url, 0))
    await bot.start()
    try:
        listening = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
        for _ in range(600):
            found = listening.search(bot.log_path.read_text())
            if found:
                break
            await asyncio.sleep(0.05)
        assert found is not None, bot.log_tail()
        port = int(found.group(1))
        assert port != 0
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        bot.send(signal.SIGTERM)
        assert await bot.wait_exit(within_s=15) == 0, bot.log_tail()
    finally:
        await bot.stop()


async def refused_start_up(cwd: Path, env: dict[str, str]) -> str:
    """Run `python -m bot run --no-chat`, expect it to refuse; its one line on stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--no-chat",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = err.decode()
    assert proc.returncode not in (0, None), stderr
    assert "Traceback" not in stderr + out.decode(), stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    # One line naming the variable (log lines of a start-up that got further are errors).
    assert len(lines) == 1, stderr
    return lines[0]


def test_tune_gc_freezes_start_up_and_collects_the_young_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (50_000, 20, 20)
        assert gc.get_freeze_count() > 0  # start-up's objects are out of the generations
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_a_worker_serves_monitoring_only_and_survives_a_taken_port(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    port = free_port()
    worker = BotProcess(tmp_path, bot_env(url, port, HDT_ROLE="worker"), name="worker")
    second = BotProcess(tmp_path, bot_env(url, port, HDT_ROLE="worker"), name="second")
    await worker.start()
    try:
        await worker.wait_healthy(http, within_s=30)
        async with http.get(worker.base_url + "/readyz") as response:
            assert response.status == 200
            assert (await response.json())["checks"]["database"] == {"status": "ok"}
        async with http.get(worker.base_url + "/metrics") as response:
            assert response.status == 200
        status, answer = await post_batch(http, worker.base_url, [snapshot("1", 5.0, utc_now())])
        assert status == 404, answer  # ingest is the web role's; the error is JSON too
        await second.start()  # same port: it must run on without monitoring
        for _ in range(300):
            if "monitoring not served" in second.log_path.read_text():
                break
            await asyncio.sleep(0.05)
        assert "monitoring not served" in second.log_path.read_text(), second.log_tail()
        assert second.proc is not None and second.proc.returncode is None, second.log_tail()
        second.send(signal.SIGTERM)
        assert await second.wait_exit(within_s=15) == 0, second.log_tail()
        worker.send(signal.SIGTERM)
        assert await worker.wait_exit(within_s=15) == 0, worker.log_tail()
    finally:
        await second.stop()
        await worker.stop()
    assert "Traceback" not in worker.log_path.read_text() + second.log_path.read_text()


async def test_sighup_stops_the_process_gracefully(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A closed terminal sends SIGHUP: the process stops as on SIGTERM, not on the spot."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    bot = BotProcess(tmp_path, bot_env(url, free_port()))
    await bot.start()
    try:
        await bot.wait_healthy(http, within_s=30)
        bot.send(signal.SIGHUP)
        assert await bot.wait_exit(within_s=15) == 0, bot.log_tail()
        assert "shutting down" in bot.log_path.read_text()
    finally:
        await bot.stop()
