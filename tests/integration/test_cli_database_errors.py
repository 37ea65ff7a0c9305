"""Every command that uses the database says in one line on stderr when it cannot.

Four broken databases: nothing listening (a PostgreSQL URL on a closed loopback port), an
SQLite file in a folder that does not exist, a file that is not a database, and a
database that was never migrated. No traceback, no second error from a driver thread
(pytest turns an unhandled thread exception into a failure), exit code 1.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

CSV = (
    "external_id,name,starts_at,observed_at,min_price\ne1,X,2030-01-01T20:00Z,2026-01-01T00:00Z,5\n"
)
BROKEN = {
    "nothing listening": (
        "postgresql+asyncpg://postgres@127.0.0.1:1/x",
        "error: cannot reach the database (HDT_DATABASE_URL):",
    ),
    "missing folder": (
        "sqlite+aiosqlite:///{tmp}/nope/hdtickets.db",
        "the folder {tmp}/nope does not exist; run `hdtickets migrate`",
    ),
    "not a database": (
        "sqlite+aiosqlite:///{tmp}/garbage.db",
        "error: database error: file is not a database; check HDT_DATABASE_URL",
    ),
    "not migrated": (
        "sqlite+aiosqlite:///{tmp}/empty.db",
        "; has `hdtickets migrate` been run?",
    ),
}
COMMANDS = [
    ["users", "list"],
    ["users", "add", "Ada"],
    ["tokens", "list"],
    ["watches", "list"],
    ["watches", "add", "1", "yankees"],
    ["alerts", "list"],
    ["alerts", "show", "1"],
    ["webhooks", "list"],
    ["webhooks", "add", "https://hooks.example.com/x"],
    ["webhooks", "rotate", "1"],
    ["webhooks", "test", "1"],
    ["webhooks", "enable", "1"],
    ["webhooks", "remove", "1"],
    ["import", "{tmp}/feed.csv", "--format", "generic"],
    ["train", "--data", "db", "--out", "{tmp}/model"],
    ["migrate"],  # these three make a missing folder and migrate an empty database
    ["chat"],
    ["demo"],
]


# migrate, chat and demo migrate a missing folder or an empty database: usable, not broken.
CASES = [
    pytest.param(broken, command, id=f"{broken}-{' '.join(command)}")
    for broken in BROKEN
    for command in COMMANDS
    if not (
        command[0] in ("migrate", "chat", "demo") and broken in ("missing folder", "not migrated")
    )
]


@pytest.mark.parametrize(("broken", "command"), CASES)
def test_a_database_that_cannot_be_used_is_one_line_not_a_traceback(
    broken: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env; any state dir stays inside tmp
    monkeypatch.setenv("HDT_SECRET_KEY", "cli-database-errors-key")
    (tmp_path / "garbage.db").write_bytes(b"this is not a database\n" * 200)
    sqlite3.connect(tmp_path / "empty.db").close()
    (tmp_path / "feed.csv").write_text(CSV)
    url, expected = (part.format(tmp=tmp_path) for part in BROKEN[broken])
    monkeypatch.setenv("HDT_DATABASE_URL", url)

    result = CliRunner().invoke(app, [arg.format(tmp=tmp_path) for arg in command])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and expected in line, line
    assert result.stdout == ""
    assert not (tmp_path / "nope").exists()  # nothing made on the way


@pytest.mark.parametrize("broken", ["nothing listening", "not a database"])
def test_run_says_in_one_line_why_it_cannot_start(
    broken: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hdtickets run` printed a 160-230 line traceback for these; the last line is now
    the reason (before it, at most the log lines of the migration it tried)."""
    import logging

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HDT_SECRET_KEY", "cli-database-errors-key")
    (tmp_path / "garbage.db").write_bytes(b"this is not a database\n" * 200)
    url, expected = (part.format(tmp=tmp_path) for part in BROKEN[broken])
    monkeypatch.setenv("HDT_DATABASE_URL", url)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(app, ["run", "--no-chat"])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ") and expected in last, last
