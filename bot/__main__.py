"""`hdtickets` / `python -m bot`: the process and the admin CLI."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import typer

from bot.cli import app

# "  hdtickets import prices.csv -f generic" in a command's epilog (`bot.cli.common.examples`).
_EXAMPLE_PREFIX = "  hdtickets "
# Typer checks option values with pydantic: its words, in plain ones (in this order).
_PLAIN: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"Value error, "), ""),
    (
        re.compile(r"Input should be a valid integer[^,]*(, unable to parse [^,]*)?"),
        "must be a whole number",
    ),
    (
        re.compile(r"Input should be a valid number[^,]*(, unable to parse [^,]*)?"),
        "must be a number",
    ),
    (re.compile(r"Input should be greater than or equal to"), "must be at least"),
    (re.compile(r"Input should be less than or equal to"), "must be at most"),
    (re.compile(r"Input should be greater than"), "must be more than"),
    (re.compile(r"Input should be"), "must be"),
    # click's choices: "'x' is not one of 'a', 'b'" -> "'x' is not one of: a, b"
    (
        re.compile(r"is not one of ('[^']*'(?:, '[^']*')*)"),
        lambda m: "is not one of: " + m[1].replace("'", ""),
    ),
]


def main(argv: list[str] | None = None, prog_name: str | None = None) -> None:
    """Run the CLI; a usage error (a missing argument, a bad option value) is one line on
    stderr with the command's first example, exit code 2, instead of typer's boxed panel
    of usage text."""
    try:
        code = app(args=argv, prog_name=prog_name, standalone_mode=False)
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:  # typer's click exceptions (usage, bad files)
        print(error_line(exc), file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))
    sys.exit(code if isinstance(code, int) else 0)


def error_line(exc: Any) -> str:
    """`exc` (a click exception) as "error: <reason>, e.g. <example> (<path> --help)"."""
    # One line: click lists choices one a line ("Choose from:\n\tgeneric,").
    reason = plain(" ".join(str(exc.format_message()).split()).rstrip("."))
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"error: {reason}"
    example = first_example(ctx.command.epilog)
    tail = f", e.g. {example}" if example else ""
    return f"error: {reason}{tail} (more: {ctx.command_path} --help)"


def plain(reason: str) -> str:
    """`reason` without pydantic's prefix and phrasing ("Value error, ", "Input should be
    greater than or equal to 1") or click's quoted choices."""
    for pattern, words in _PLAIN:
        reason = pattern.sub(words, reason)
    return reason


def first_example(epilog: str | None) -> str | None:
    """The first "hdtickets …" invocation of a command's epilog, unescaped, or None."""
    for line in (epilog or "").splitlines():
        if line.startswith(_EXAMPLE_PREFIX):
            return line.strip().replace("\\[", "[")
    return None


if __name__ == "__main__":
    main()
