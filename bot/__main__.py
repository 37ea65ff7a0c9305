"""`hdtickets` / `python -m bot`: the process and the admin CLI."""

from __future__ import annotations

import sys
from typing import Any

import typer

from bot.cli import app
from bot.settings import plain

# "  hdtickets import prices.csv -f generic" in a command's epilog (`bot.cli.common.examples`).
_EXAMPLE_PREFIX = "  hdtickets "


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


def first_example(epilog: str | None) -> str | None:
    """The first "hdtickets …" invocation of a command's epilog, unescaped, or None."""
    for line in (epilog or "").splitlines():
        if line.startswith(_EXAMPLE_PREFIX):
            return line.strip().replace("\\[", "[")
    return None


if __name__ == "__main__":
    main()
