"""Settings: the only module that reads the environment (DESIGN.md §10).

Every variable is `HDT_<NAME>`; a `.env` file in the working directory is read too.
A wrong value stops start-up with one line naming the variable and what it expects.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook


class ProcessRole(StrEnum):
    ALL = "all"
    WEB = "web"
    WORKER = "worker"


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


def _floats(value: object) -> object:
    if isinstance(value, str):
        return [float(part) for part in value.split(",") if part.strip()]
    return value


_HHMM = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")


def throttle_windows(text: str) -> tuple[tuple[int, int], ...]:
    """Parse a throttle setting, "n/seconds" pairs such as "5/900,11/3600": at most n
    sends in any `seconds`.

    Raises:
        ValueError: a pair is malformed, or n or seconds is below 1.
    """
    example = "n/seconds pairs, n >= 1 and seconds >= 1, e.g. 5/900,11/3600"
    windows = []
    for part in (p for p in text.split(",") if p.strip()):
        count, slash, seconds = part.strip().partition("/")
        if not (slash and count.isdigit() and seconds.isdigit()):
            raise ValueError(example)
        if int(count) < 1 or int(seconds) < 1:
            raise ValueError(example)
        windows.append((int(count), int(seconds)))
    return tuple(windows)


def _strings(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HDT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./hdtickets.db"
    secret_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8080"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    role: ProcessRole = ProcessRole.ALL
    demo: bool | None = None
    ingest_secret: SecretStr | None = None
    state_dir: Path = Path(".hdtickets")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    telegram_bot_token: SecretStr | None = None
    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    discord_bot_token: SecretStr | None = None
    discord_application_id: str | None = None
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # Escalation (DESIGN.md §6): presence window, shortest wait, throttles "n/seconds,...".
    escalation_presence_window_s: int = Field(default=300, ge=0)
    escalation_min_wait_s: int = Field(default=30, ge=1)
    escalation_sms_throttle: str = "5/900,11/3600"
    escalation_voice_throttle: str = "3/900,7/3600"
    escalation_daily_cap: int = Field(default=30, ge=1)
    escalation_voice_hours: str = "08:00-22:00"
    redis_url: str | None = None

    model_dir: Path = Path("models")
    log_format: LogFormat = LogFormat.CONSOLE
    log_level: str = "INFO"

    # Delivery: backoff per level, "base,factor,cap,attempts" overrides per level 1..5.
    retry_base_s: float = Field(default=2.0, gt=0)
    retry_factor: float = Field(default=2.0, ge=1)
    retry_cap_s: float = Field(default=600.0, gt=0)
    retry_attempts: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [4.0, 6.0, 8.0, 10.0, 12.0]
    )
    delivery_workers: int = Field(default=4, ge=1, le=64)
    delivery_lease_s: float = Field(default=60.0, gt=0)
    shutdown_grace_s: float = Field(default=5.0, ge=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_rate_per_s: float = Field(default=20.0, gt=0)
    webhook_burst: int = Field(default=20, ge=1)

    # Planning
    alert_cooldown_s: int = Field(default=3600, ge=0)
    hysteresis_pct: float = Field(default=2.0, ge=0, le=50)
    resolve_hold_s: int = Field(default=900, ge=0)
    weights: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.25, 0.20, 0.20, 0.15, 0.10, 0.10]
    )
    feed_poll_s: float = Field(default=5.0, gt=0)
    retention_days: int = Field(default=90, ge=1)
    # Per-person learning: how often the `learn` job reads new feedback.
    learn_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("retry_attempts", "weights", mode="before")
    @classmethod
    def _split_floats(cls, value: object) -> object:
        return _floats(value)

    @field_validator("webhook_allow_hosts", mode="before")
    @classmethod
    def _split_strings(cls, value: object) -> object:
        return _strings(value)

    @field_validator("weights")
    @classmethod
    def _six_weights(cls, value: list[float]) -> list[float]:
        finite = all(math.isfinite(w) and w >= 0 for w in value)
        if len(value) != 6 or not finite or sum(value) <= 0:
            raise ValueError("six non-negative finite numbers, e.g. 0.25,0.2,0.2,0.15,0.1,0.1")
        return value

    @field_validator("escalation_sms_throttle", "escalation_voice_throttle")
    @classmethod
    def _throttle(cls, value: str) -> str:
        throttle_windows(value)
        return value

    @field_validator("escalation_voice_hours")
    @classmethod
    def _voice_hours(cls, value: str) -> str:
        start, dash, end = value.strip().partition("-")
        if not (dash and _HHMM.fullmatch(start.strip()) and _HHMM.fullmatch(end.strip())):
            raise ValueError("HH:MM-HH:MM in the person's time zone, e.g. 08:00-22:00")
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.strip().upper() not in levels:
            raise ValueError(f"one of {', '.join(levels)}, e.g. INFO")
        return value.strip().upper()

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            if not value.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(
                    "a redis:// (or rediss://, unix://) URL, e.g. redis://127.0.0.1:6379/0"
                )
            return value
        return None

    @field_validator("retry_attempts")
    @classmethod
    def _five_levels(cls, value: list[float]) -> list[float]:
        if len(value) != 5 or not all(math.isfinite(a) and a >= 1 for a in value):
            raise ValueError("five attempt counts >= 1, one per level 1..5, e.g. 4,6,8,10,12")
        return value

    @field_validator("webhook_allow_hosts")
    @classmethod
    def _allow_list(cls, value: list[str]) -> list[str]:
        from adapters.webhook.ssrf import ALLOW_SETTING, SsrfPolicy

        try:
            SsrfPolicy.parse(value)
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix(f"{ALLOW_SETTING}: ")) from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _non_empty_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty; set a long random string (or unset it in dev)")
        return value

    @field_validator("ingest_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here, not only when the web app is built, so start-up stops in one line.
        if value is not None and value.get_secret_value():
            try:
                Webhook(value.get_secret_value())
            except (ValueError, EmptyWebhookSecretError, RuntimeError):
                raise ValueError("a Standard Webhooks secret, e.g. whsec_<base64>") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            return value
        scheme, sep, rest = value.partition("://")
        driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
        driver["postgres"] = driver["postgresql"]
        if sep and scheme.casefold() in driver:  # the usual slip: no async driver
            fixed = f"{driver[scheme.casefold()]}://{rest}"
            raise ValueError(f"a URL with the async driver, e.g. {fixed}")
        raise ValueError(
            "sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db,"
            " e.g. sqlite+aiosqlite:///./hdtickets.db"
        )

    @property
    def platforms_configured(self) -> bool:
        """A chat platform this build runs is set up (Telegram; Slack and Discord are not
        built yet, so their tokens alone must not turn the demo off and leave nothing)."""
        return self.telegram_bot_token is not None

    def unbuilt_platform_settings(self) -> list[str]:
        """The settings given for a chat platform this build does not run yet."""
        given = {
            "HDT_SLACK_BOT_TOKEN": self.slack_bot_token,
            "HDT_SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "HDT_SLACK_APP_TOKEN": self.slack_app_token,
            "HDT_DISCORD_BOT_TOKEN": self.discord_bot_token,
            "HDT_DISCORD_APPLICATION_ID": self.discord_application_id,
        }
        return [name for name, value in given.items() if value is not None]

    @property
    def demo_enabled(self) -> bool:
        """Demo mode (simulated market + console channel): on when no platform is set up."""
        return self.demo if self.demo is not None else not self.platforms_configured

    def secret_key_bytes(self) -> bytes:
        """The key for action tokens and encryption at rest.

        In development a key is generated once and kept in `state_dir`; set
        HDT_SECRET_KEY in production.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.development_key_path()
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                _publish_once(path, secrets.token_urlsafe(32))
            return path.read_text().strip().encode()
        except OSError as exc:
            raise SettingsError(
                f"configuration error: HDT_STATE_DIR: cannot keep the development key in "
                f"{path} ({exc.strerror or exc}); set HDT_SECRET_KEY, or a writable "
                "HDT_STATE_DIR, e.g. HDT_STATE_DIR=.hdtickets"
            ) from None

    def existing_secret_key(self) -> bytes | None:
        """HDT_SECRET_KEY, or the development key if one was made; never makes one.

        For commands that only read: run from another directory, they must not leave a
        fresh key behind that a later start there would take for the real one.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.development_key_path()
        try:
            return path.read_text().strip().encode() if path.is_file() else None
        except OSError:
            return None

    def development_key_path(self) -> Path:
        return self.state_dir / "secret_key"


def _publish_once(path: Path, text: str) -> None:
    """Write `path` whole, unless it exists: of two processes starting at once, one key
    wins and both read it (a hard link cannot replace a file; a reader never sees half)."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable
        with os.fdopen(fd, "w") as file:
            file.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(staged, path)
    finally:
        staged.unlink(missing_ok=True)


# pydantic's words (settings, and the CLI's option values through typer) in plain ones,
# in this order.
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


def plain(reason: str) -> str:
    """`reason` without pydantic's prefix and phrasing ("Value error, ", "Input should be
    greater than or equal to 1") or click's quoted choices."""
    for pattern, words in _PLAIN:
        reason = pattern.sub(words, reason)
    return reason


class SettingsError(SystemExit):
    """Start-up refused: carries the one line that names the variable at fault."""


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, `.env` and `overrides` (tests).

    Raises:
        SettingsError: with one line per wrong variable, naming it and what it expects.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "HDT_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            message = plain(str(error["msg"]))
            lines.append(f"configuration error: {name}: {message}")
        raise SettingsError("\n".join(lines)) from None
