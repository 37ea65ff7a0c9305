"""`hdtickets` / `python -m bot`: the process and the admin CLI."""

from __future__ import annotations

from bot.cli import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
