"""`hdtickets … --help` shows working examples; a negative id reaches our own one-line error.

Nothing here reaches a database: help is printed and ids are refused before any is opened.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from bot.cli import app

ROOT = typer.main.get_command(app)


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of `command` and of every command and group under it."""
    found = [path]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(ROOT)


def _resolve(words: list[str]) -> tuple[tuple[str, ...], Any, list[str]]:
    """Follow command names in `words` from `hdtickets`: (path, command, the rest)."""
    path: tuple[str, ...] = ()
    command: Any = ROOT
    while isinstance(command, TyperGroup) and words and words[0] in command.commands:
        command = command.commands[words[0]]
        path, words = (*path, words[0]), words[1:]
    return path, command, words


def _examples(shown: str) -> list[str]:
    """The lines under "Examples:" in a rendered help page, up to the first blank one."""
    lines = [line.strip() for line in shown.splitlines()]
    assert "Examples:" in lines, shown
    rest = lines[lines.index("Examples:") + 1 :]
    return rest[: rest.index("")] if "" in rest else rest


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env; files named in examples are made here
    monkeypatch.setenv("HDT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/none/db.sqlite")
    monkeypatch.setenv("COLUMNS", "80")
    return CliRunner()


def test_the_command_tree_is_the_one_expected() -> None:
    assert len(COMMANDS) == 1 + 5 + 7 + 18  # hdtickets, its groups, commands, sub-commands


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "hdtickets")
def test_every_help_page_ends_with_examples_that_work(
    runner: CliRunner, path: tuple[str, ...]
) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    examples = _examples(result.stdout)
    assert 1 <= len(examples) <= 3, examples
    for example in examples:
        # One a line: a wrapped example would leave a line not starting with the command.
        words = shlex.split(example)
        assert words[0] == "hdtickets", example
        found, command, rest = _resolve(words[1:])
        assert found[: len(path)] == path, f"{example!r} is not an example of {path}"
        assert not isinstance(command, TyperGroup), f"{example!r} names no command"
        for word in rest:
            if word.endswith(".csv"):
                Path(word).touch()  # `import FILE` wants the file to exist
        # Parses as the command would: every option exists and every value is accepted.
        command.make_context(" ".join(("hdtickets", *found)), rest)


def _refused(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["alerts", "show", "-5"], "hdtickets alerts show 12"),
        (["alerts", "ack", "-5"], "hdtickets alerts ack 12"),
        (["alerts", "snooze", "-5", "--for", "2h"], "hdtickets alerts snooze 12 --for 2h"),
        (["alerts", "resolve", "-5", "--reason", "sold out"], "hdtickets alerts resolve 12"),
        (["tokens", "revoke", "-5"], "hdtickets tokens revoke 3"),
        (["webhooks", "rotate", "-5", "--grace", "2h"], "hdtickets webhooks rotate 3"),
        (["webhooks", "test", "-5"], "hdtickets webhooks test 3"),
        (["webhooks", "enable", "-5"], "hdtickets webhooks enable 3"),
        (["webhooks", "remove", "-5"], "hdtickets webhooks remove 3"),
        (["watches", "add", "-5", "yankees", "--pick", "1"], "hdtickets watches add 3"),
        (["alerts", "list", "--user", "-5"], "--user 3"),
    ],
)
def test_a_negative_id_is_refused_by_our_own_one_line_error(
    runner: CliRunner, args: list[str], example: str
) -> None:
    result = runner.invoke(app, args)
    assert _refused(result).startswith("error: ")
    [line] = result.stderr.splitlines()
    assert "id must be a positive whole number, not '-5', e.g. " + example in line


def test_a_negative_decimal_is_a_value_too(runner: CliRunner) -> None:
    line = _refused(runner.invoke(app, ["alerts", "show", "-2.5"]))
    assert line.startswith("error: alert id must be a positive whole number, not '-2.5'")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["alerts", "show", "-5", "--jsn"], "No such option: --jsn"),
        (["alerts", "show", "--jsn", "-5"], "No such option: --jsn"),
        (["alerts", "snooze", "-5", "--fro", "2h"], "No such option: --fro"),
        (["alerts", "snooze", "-5", "--for"], "Option '--for' requires an argument"),
        (["alerts", "list", "-5"], "unexpected extra argument(s) (-5)"),
        (["backtest", "--jsn"], "No such option: --jsn"),
    ],
)
def test_a_mistyped_option_is_still_refused_by_name(
    runner: CliRunner, args: list[str], reason: str
) -> None:
    assert reason in _refused(runner.invoke(app, args))
