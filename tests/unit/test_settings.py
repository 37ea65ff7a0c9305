"""Settings: a wrong value stops start-up with one line naming the variable and an example."""

from __future__ import annotations

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
