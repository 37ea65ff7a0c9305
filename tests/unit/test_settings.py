"""Settings: a wrong value stops start-up with one line naming the variable and an example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.parametrize(
    ("name", "value", "expects"),
    [
        # A bad window used to read as "calls allowed at any hour".
        ("escalation_voice_hours", "25:00-99:00", "HH:MM-HH:MM"),
        ("escalation_voice_hours", "8am-10pm", "HH:MM-HH:MM"),
        ("escalation_voice_hours", "08:00–22:00", "HH:MM-HH:MM"),  # an en dash
        ("escalation_voice_hours", "08:00", "HH:MM-HH:MM"),
        ("escalation_voice_throttle", "5/0", "n/seconds pairs"),  # never throttled
        ("escalation_voice_throttle", "5/-60", "n/seconds pairs"),
        ("escalation_sms_throttle", "abc", "n/seconds pairs"),
        ("escalation_sms_throttle", "0/900", "n/seconds pairs"),
        ("weights", "nan,0.2,0.2,0.15,0.1,0.1", "six non-negative finite numbers"),
        ("weights", "inf,0.2,0.2,0.15,0.1,0.1", "six non-negative finite numbers"),
        ("retry_attempts", "nan,6,8,10,12", "five attempt counts"),
        ("log_level", "loud", "one of DEBUG, INFO"),
        ("redis_url", "notredis", "a redis:// (or rediss://, unix://) URL"),
        # The usual slip: the URL without its async driver, which was answered by examples alone.
        (
            "database_url",
            "sqlite:///x.db",
            "a URL with the async driver, e.g. sqlite+aiosqlite:///x.db",
        ),
        (
            "database_url",
            "postgresql://u@h/db",
            "a URL with the async driver, e.g. postgresql+asyncpg://u@h/db",
        ),
        (
            "database_url",
            "postgres://u@h/db",
            "a URL with the async driver, e.g. postgresql+asyncpg://u@h/db",
        ),
        (
            "database_url",
            "garbage",
            "sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db, e.g.",
        ),
    ],
)
def test_a_wrong_value_is_refused_in_one_line(name: str, value: str, expects: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(**{name: value})
    [line] = str(refused.value).splitlines()
    assert line.startswith(f"configuration error: HDT_{name.upper()}: {expects}")
    assert "e.g. " in line


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("escalation_voice_hours", " 8:00-22:30 ", "8:00-22:30"),
        ("escalation_voice_hours", "22:00-07:00", "22:00-07:00"),  # across midnight
        ("escalation_voice_throttle", "3/900, 7/3600", "3/900, 7/3600"),
        ("log_level", "debug", "DEBUG"),
        ("redis_url", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis_url", "", None),
    ],
)
def test_good_values_are_kept(name: str, value: str, kept: object) -> None:
    assert getattr(load_settings(**{name: value}), name) == kept


def test_a_state_dir_that_cannot_hold_the_development_key_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings = load_settings(state_dir=blocker / "state")
    with pytest.raises(SettingsError) as refused:
        settings.secret_key_bytes()
    [line] = str(refused.value).splitlines()
    assert line.startswith("configuration error: HDT_STATE_DIR: cannot keep the development key")
    assert "e.g. HDT_STATE_DIR=.hdtickets" in line


def test_the_development_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    assert settings.existing_secret_key() is None  # reading never makes one
    assert not (tmp_path / "state").exists()
    key = settings.secret_key_bytes()
    path = tmp_path / "state" / "secret_key"
    assert len(key) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert settings.secret_key_bytes() == key == settings.existing_secret_key()
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]  # nothing staged


def test_processes_starting_at_once_share_one_development_key(tmp_path: Path) -> None:
    code = (
        "import sys; from bot.settings import load_settings; "
        "sys.stdout.write(load_settings(state_dir=sys.argv[1]).secret_key_bytes().decode())"
    )
    state = str(tmp_path / "state")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, state], stdout=subprocess.PIPE, cwd=Path.cwd()
        )
        for _ in range(6)
    ]
    keys = {proc.communicate(timeout=60)[0] for proc in procs}
    assert len(keys) == 1 and b"" not in keys
    assert keys == {(tmp_path / "state" / "secret_key").read_bytes()}


def test_a_platform_this_build_does_not_run_leaves_the_demo_on() -> None:
    # A Slack or Discord token alone turned the demo off, and the process then ran with
    # no chat platform and no market, and said nothing.
    slack = load_settings(slack_bot_token="xoxb-1", discord_application_id="42")
    assert slack.demo_enabled and not slack.platforms_configured
    assert slack.unbuilt_platform_settings() == [
        "HDT_SLACK_BOT_TOKEN",
        "HDT_DISCORD_APPLICATION_ID",
    ]
    telegram = load_settings(telegram_bot_token="123:abc")
    assert not telegram.demo_enabled and telegram.unbuilt_platform_settings() == []


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("delivery_workers", "0", "must be at least 1"),
        ("delivery_workers", "65", "must be at most 64"),
        ("http_port", "abc", "must be a whole number"),
    ],
)
def test_pydantics_own_checks_read_plainly(name: str, value: str, said: str) -> None:
    """Its words ("Input should be greater than or equal to 1") in plain ones, as the CLI's."""
    with pytest.raises(SettingsError) as refused:
        load_settings(**{name: value})
    assert str(refused.value) == f"configuration error: HDT_{name.upper()}: {said}"
