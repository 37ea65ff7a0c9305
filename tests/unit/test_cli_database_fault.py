"""A database the CLI may read but not write says so, not "check HDT_DATABASE_URL".

The URL is right when the file is read-only (or its folder is): pointing the operator at
the URL sent them looking in the wrong place.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from adapters.console.inbound import database_busy
from bot.cli.common import _database_fault


def test_a_read_only_database_names_the_permissions() -> None:
    exc = OperationalError(
        "INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database")
    )
    line = _database_fault(exc)
    assert line.startswith("database error: attempt to write a readonly database; ")
    assert "HDT_DATABASE_URL" not in line
    assert "write" in line.split("; ", 1)[1]


def test_another_fault_still_points_at_the_url() -> None:
    exc = OperationalError("SELECT", {}, sqlite3.DatabaseError("file is not a database"))
    assert _database_fault(exc) == "database error: file is not a database; check HDT_DATABASE_URL"


def test_the_console_chat_says_a_read_only_database_in_one_line() -> None:
    """`hdtickets chat` on a file it may not write: one line a message, not a traceback."""
    exc = OperationalError(
        "INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database")
    )
    said = database_busy(exc)
    assert said is not None and said.startswith("The database is read-only"), said
    assert "run as a user who may write" in said
    assert database_busy(OperationalError("SELECT", {}, sqlite3.DatabaseError("boom"))) is None
