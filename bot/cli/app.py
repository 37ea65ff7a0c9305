"""The typer application every CLI module registers its commands on."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption


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


class AdminGroup(TyperGroup):
    """`hdtickets` or one of its command groups (users, tokens, …)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


app = typer.Typer(
    cls=AdminGroup,
    help="HDTickets Alerts: ticket-market alerts for chat platforms.",
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
