"""The typer application every CLI module registers its commands on."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from bot.cli.common import examples

# "-5" or "-2.5": to click an unknown option ("No such option: -5"), to hdtickets a value
# (it declares no numeric options), so that parse_id and the other checks explain it.
_NEGATIVE_NUMBER = re.compile(r"-\d+(?:\.\d+)?")


def _bare_flags(params: list[Any]) -> list[Any]:
    """`params`, with flags (--admin, --json, --help) shown in help without a value type:
    typer labels every flag `<bool>`, which reads as if a value had to follow it."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class AdminCommand(TyperCommand):
    """One `hdtickets` command."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse `args`, taking a negative number (`alerts show -5`) as a value."""
        if any(_NEGATIVE_NUMBER.fullmatch(arg) for arg in args):
            # First as if each number were a plain word: a mistyped option (--jsn) is
            # still refused by name. Then with unknown options let through, which now
            # can only be the numbers.
            words = ["0" if _NEGATIVE_NUMBER.fullmatch(arg) else arg for arg in args]
            self.make_parser(ctx).parse_args(args=words)
            ctx.ignore_unknown_options = True
        return super().parse_args(ctx, args)


class AdminGroup(TyperGroup):
    """`hdtickets` or one of its command groups (users, tokens, …)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """With no command named, print the help and exit with code 2, as click does, but
        without its error, whose message is that help (it came out as "error: , e.g. …")."""
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            shown = ctx.get_help()  # rich help prints itself and returns ""
            if shown:
                typer.echo(shown)
            raise typer.Exit(code=2)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=AdminGroup,
    help="HDTickets Alerts: ticket-market alerts for chat platforms.",
    epilog=examples("hdtickets migrate", "hdtickets demo", "hdtickets alerts show 12"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def use_admin_classes(typer_app: typer.Typer) -> None:
    """Build every command and group registered on `typer_app` with the classes above.

    Called once all modules have registered their commands (bot/cli/__init__.py), so a
    command added later needs nothing special.
    """
    typer_app.info.cls = AdminGroup
    for command in typer_app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = AdminCommand
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            use_admin_classes(group.typer_instance)
