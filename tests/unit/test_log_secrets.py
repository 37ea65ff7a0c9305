"""Secrets from the settings never reach the log, whoever logs them (a library's DEBUG
line quoting the Bot API URL carried the Telegram token)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging
from bot.settings import LogFormat, load_settings

TOKEN = "777:TGTOKENSECRETabc"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", [LogFormat.CONSOLE, LogFormat.JSON])
def test_a_token_in_a_library_line_or_a_traceback_is_masked(
    fmt: LogFormat, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(telegram_bot_token=TOKEN, log_level="DEBUG", log_format=fmt)
    configure_logging(settings)
    logging.getLogger("telegram.ext.ExtBot").debug("Set Bot API URL: http://x/bot%s", TOKEN)
    try:
        raise RuntimeError(f"GET http://x/bot{TOKEN}/getMe failed")
    except RuntimeError:
        logging.getLogger("bot.process").exception("request failed")
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "Set Bot API URL: http://x/bot***" in err and "/bot***/getMe failed" in err
