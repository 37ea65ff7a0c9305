"""Start-up and shutdown of the PTB Application under our own task."""

from __future__ import annotations

from core.command_help import SPECS
from tests.adapters.telegram.conftest import TelegramStack


async def test_start_publishes_the_command_menu_and_polls(tg: TelegramStack) -> None:
    assert [c["command"] for c in tg.api.commands] == [spec.name for spec in SPECS]
    assert all(c["description"] for c in tg.api.commands)
    assert tg.api.calls_of("getMe") and tg.api.calls_of("deleteWebhook")
    assert tg.api.webhook is None
    assert tg.channel.state() == "ok"

    reply = await tg.say(501, "/help")

    assert "Commands" in reply.plain and "watch <what>" in reply.plain
    assert tg.api.calls_of("getUpdates")
