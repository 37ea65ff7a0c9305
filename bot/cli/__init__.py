"""The admin CLI. Each module registers its commands on `bot.cli.app.app`."""

from __future__ import annotations

import bot.cli.alerts  # registers commands
import bot.cli.chat  # registers commands
import bot.cli.demo  # registers commands
import bot.cli.ingest  # registers commands
import bot.cli.tokens  # registers commands
import bot.cli.users  # registers commands
import bot.cli.watches  # registers commands
import bot.cli.webhooks  # noqa: F401  (registers commands)
from bot.cli import admin  # noqa: F401  (registers commands)
from bot.cli import ml as _ml  # noqa: F401  (registers commands)
from bot.cli.app import app, use_admin_classes

use_admin_classes(app)

__all__ = ["app"]
