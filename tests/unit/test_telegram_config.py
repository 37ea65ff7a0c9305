"""Telegram webhook mode refuses, at start-up and in one line, what Telegram would refuse
(the bot would look up and never hear a message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from bot.telegram_hooks import telegram_config

TOKEN = "777:AAbbCCdd"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def _config(**settings: str) -> object:
    return telegram_config(
        load_settings(telegram_bot_token=TOKEN, telegram_mode="webhook", **settings)
    )


@pytest.mark.parametrize(
    ("settings", "expects"),
    [
        ({"telegram_webhook_secret": "bad!secret", "public_url": "https://a.example"},
         "HDT_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -"),
        ({"telegram_webhook_secret": "ok_1", "public_url": "notaurl"}, "HDT_PUBLIC_URL: "),
        ({"telegram_webhook_secret": "ok_1", "public_url": "http://alerts.example.com"},
         "HDT_PUBLIC_URL: HDT_TELEGRAM_MODE=webhook needs the https:// address"),
        ({"telegram_webhook_secret": "ok_1"}, "HDT_PUBLIC_URL: "),  # the 127.0.0.1 default
    ],
)  # fmt: skip
def test_what_telegram_would_refuse_stops_start_up(settings: dict[str, str], expects: str) -> None:
    with pytest.raises(SettingsError) as refused:
        _config(**settings)
    [line] = str(refused.value).splitlines()
    assert line.startswith(f"configuration error: {expects}") and "e.g. " in line


def test_a_good_webhook_configuration_and_a_self_hosted_api_over_http() -> None:
    config = _config(telegram_webhook_secret="ok_1", public_url="https://alerts.example.com/")
    assert config.webhook_url == "https://alerts.example.com/hooks/telegram"  # type: ignore[attr-defined]
    local = _config(
        telegram_webhook_secret="ok_1",
        public_url="http://127.0.0.1:8080",
        telegram_api_url="http://127.0.0.1:8081/bot",
    )
    assert local.webhook_url == "http://127.0.0.1:8080/hooks/telegram"  # type: ignore[attr-defined]
