"""Logging set-up: readable lines in a terminal, JSON lines in production."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from pydantic import SecretStr

from bot.settings import LogFormat, Settings

MASK = "***"
_SHORTEST = 6  # shorter "secrets" would mask ordinary words


class SecretMasking(logging.Formatter):
    """Another formatter's lines with every configured secret shown as ***.

    Libraries log what they were given: python-telegram-bot's DEBUG lines quote the Bot
    API URL, which holds the bot token. Whatever a line or its traceback says, a secret
    from the settings never reaches the log.
    """

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = sorted({s for s in secrets if len(s) >= _SHORTEST}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self._inner.format(record)
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, MASK)
        return line


def configured_secrets(settings: Settings) -> list[str]:
    """The values of every secret setting that is set."""
    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [v.get_secret_value() for v in values if isinstance(v, SecretStr)]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    inner: logging.Formatter
    if settings.log_format is LogFormat.JSON:
        inner = JsonFormatter()
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    handler.setFormatter(SecretMasking(inner, configured_secrets(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("aiosqlite", "httpx", "apscheduler", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
