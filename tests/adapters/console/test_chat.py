"""ConsoleChat end to end: lines in, commands handled against the database, replies out."""

from __future__ import annotations

import asyncio
import io
import os
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.channel import ConsoleChannel
from adapters.console.inbound import ConsoleChat, console_user
from core.actions import ActionSigner
from core.chat import Reply
from core.clock import FakeClock
from core.db.models import Alert, Event, Identity, Watch
from core.domain import ActionKind, Button, ChannelKind, Level, OutboundMessage
from core.handlers import CommandHandlers

EVENTS = [
    ("Rockies at Diamondbacks", ["Colorado Rockies", "Arizona Diamondbacks"], "Chase Field"),
    ("Yankees at Red Sox", ["New York Yankees", "Boston Red Sox"], "Fenway Park"),
    ("Red Sox at Yankees", ["Boston Red Sox", "New York Yankees"], "Yankee Stadium"),
]


async def _seed(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessions() as session, session.begin():
        for day, (name, performers, venue) in enumerate(EVENTS, start=1):
            session.add(
                Event(
                    source="test",
                    external_id=str(day),
                    name=name,
                    performers=performers,
                    venue=venue,
                    category="mlb",
                    starts_at=datetime(2024, 4, day, 23, 0, tzinfo=UTC),
                    created_at=clock.now(),
                )
            )


def _chat(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    stream: io.TextIOBase | None,
    signer: ActionSigner | None = None,
) -> tuple[ConsoleChat, ConsoleChannel, io.StringIO]:
    out = io.StringIO()
    channel = ConsoleChannel(Console(file=out, width=120, color_system=None, highlight=False))
    handlers = CommandHandlers(
        sessions, clock, random.Random(7), signer or ActionSigner(b"k"), index_hook=None
    )
    chat = ConsoleChat(handlers, sessions, clock, channel=channel, stream=stream)  # type: ignore[arg-type]
    return chat, channel, out


async def _watches(sessions: async_sessionmaker[AsyncSession]) -> list[Watch]:
    async with sessions() as session:
        return list((await session.execute(select(Watch).order_by(Watch.id))).scalars())


async def test_watch_rockies_under_40_from_a_stream_creates_a_watch(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    stream = io.StringIO(
        "watch rockies under 40\n\nwatches\n1\nwatches\nwach yankees\n1\nquit\nwatches\n"
    )
    chat, _, out = _chat(sessions, clock, stream)

    await asyncio.wait_for(chat.run(), timeout=30)

    [row] = await _watches(sessions)
    assert row.max_price == 40.0 and row.label == "Rockies at Diamondbacks"
    assert not row.active  # "1" pressed the first button of the list: Pause
    text = out.getvalue()
    assert "Watching Rockies at Diamondbacks — Chase Field" in text and f"watch #{row.id}" in text
    assert "Your watches:" in text and f"[1] Pause #{row.id}" in text
    assert "unknown command 'wach' (did you mean watch?), e.g. watch yankees" in text
    assert f"Paused watch #{row.id}" in text
    # After the refused typo, "1" no longer presses the earlier list's button (Resume).
    assert "No option 1: there is nothing to choose from now" in text
    assert f"Resumed watch #{row.id}" not in text
    assert "Traceback" not in text
    assert text.count("Your watches:") == 2  # nothing is read after "quit"
    async with sessions() as session:
        identity = (await session.execute(select(Identity))).scalar_one()
    assert (identity.platform, identity.external_id, identity.display_name) == (
        "console",
        "local",
        "you",
    )


async def test_numbers_pick_choices_and_stop_at_end_of_input(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    # "２." and "7)" are numbers too; so is a long one (it was an unknown command)
    stream = io.StringIO("9\nwatch yankees qty 2\n２.\n7)\n12345678901234567\n")
    chat, _, out = _chat(sessions, clock, stream)

    await asyncio.wait_for(chat.run(), timeout=30)  # returns at end of input

    [row] = await _watches(sessions)
    assert (row.label, row.quantity) == ("Red Sox at Yankees", 2)
    text = out.getvalue()
    assert "No option 9: there is nothing to choose from now, e.g. type watches for a list." in text
    assert "[1] Yankees at Red Sox" in text and "[3] Any event matching 'yankees'" in text
    assert "No option 7: choose 1 to 2." in text  # the new reply's Pause/Remove buttons
    assert "No option 123456789012…: choose 1 to 2." in text


async def test_a_number_presses_a_button_of_the_last_alert(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    signer = ActionSigner(b"k")
    chat, channel, out = _chat(sessions, clock, io.StringIO(""), signer)
    await chat.handle_line("watch rockies under 40")
    [watch] = await _watches(sessions)
    user_id = await console_user(sessions, clock)
    async with sessions() as session, session.begin():
        alert = Alert(
            dedup_key="x", watch_id=watch.id, user_id=user_id, event_id=watch.event_id,
            kind="price_below", score=0.9, level=5, factors=[], price=28.0, status="open",
            opened_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        alert_id = alert.id
    ack = signer.sign(ActionKind.ACK, alert_id, now=clock.now(), nonce=b"1234")
    await channel.send(
        OutboundMessage(
            notification_id=1, idempotency_key="k1", channel=ChannelKind.CONSOLE,
            address="local", level=Level.CRITICAL, title="Rockies at Diamondbacks — $28",
            body="Chase Field", buttons=(Button("Acknowledge", ack), Button("Open", url="https://x.example")),
        )
    )  # fmt: skip

    opened = await chat.handle_line("2")
    acked = await chat.handle_line("1")

    assert opened is not None and opened.text == "Open https://x.example"
    assert acked is not None and not acked.is_error and "Acknowledged alert" in acked.text
    async with sessions() as session:
        row = await session.get(Alert, alert_id)
    assert row is not None and row.status == "acknowledged" and row.acked_via == "console"
    assert "Acknowledged alert" in out.getvalue()


async def test_reads_a_pipe_without_blocking_and_stops_when_cancelled(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as stream:
        chat, _, out = _chat(sessions, clock, stream)  # type: ignore[arg-type]
        task = asyncio.create_task(chat.run())
        os.write(write_fd, b"watch rockies under 40\n")
        for _ in range(300):  # bounded: the reply arrives while the pipe stays open
            if "Watching" in out.getvalue():
                break
            await asyncio.sleep(0.01)
        assert "Watching Rockies at Diamondbacks" in out.getvalue()
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
        assert not asyncio.get_running_loop().remove_reader(stream.fileno())  # unregistered
    os.close(write_fd)
    assert len(await _watches(sessions)) == 1


async def test_a_closed_pipe_ends_the_chat(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"help\nprefs")  # the last line has no newline
    os.close(write_fd)
    with os.fdopen(read_fd, "r") as stream:
        chat, _, out = _chat(sessions, clock, stream)  # type: ignore[arg-type]
        await asyncio.wait_for(chat.run(), timeout=30)
    assert "Commands (a leading / is optional):" in out.getvalue()
    assert "Your preferences:" in out.getvalue()


async def test_a_chart_is_saved_for_the_person_to_open(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path
) -> None:
    out = io.StringIO()
    channel = ConsoleChannel(Console(file=out, width=200, color_system=None, highlight=False))
    handlers = CommandHandlers(sessions, clock, random.Random(7), ActionSigner(b"k"))
    chat = ConsoleChat(handlers, sessions, clock, channel=channel, chart_dir=tmp_path / "charts")
    png = b"\x89PNG-a-chart"

    chat.show(Reply(lines=("Rockies at Diamondbacks",), image=png))

    [saved] = (tmp_path / "charts").iterdir()
    assert saved.read_bytes() == png and saved.suffix == ".png"
    assert f"price chart: {saved}" in out.getvalue()
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    chat = ConsoleChat(handlers, sessions, clock, channel=channel, chart_dir=blocked)
    chat.show(Reply(lines=("again",), image=b"\x89PNG-another"))  # still prints, with why
    assert "again" in out.getvalue() and "price chart not saved" in out.getvalue()


async def test_several_buttons_of_one_list_can_be_pressed_in_turn(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(sessions, clock)
    lines = "watch rockies under 40\nwatch #2 under 90\nwatches\n1\n3\n"
    chat, _, out = _chat(sessions, clock, io.StringIO(lines))

    await asyncio.wait_for(chat.run(), timeout=30)

    first, second = await _watches(sessions)
    assert not first.active and not second.active, out.getvalue()  # [1] and [3]: Pause


class _LockedHandlers:
    """Command handlers whose database another process holds locked."""

    async def handle_text(self, ctx: object, text: str) -> Reply:
        orig = sqlite3.OperationalError("database is locked")
        raise OperationalError("INSERT INTO activity ...", {}, orig)


async def test_a_locked_database_is_one_line_not_a_traceback(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None, highlight=False)
    handlers: Any = _LockedHandlers()
    chat = ConsoleChat(handlers, sessions, clock, console=console, stream=io.StringIO("watches\n"))

    await asyncio.wait_for(chat.run(), timeout=30)

    busy = "The database is busy (another process is writing to it); try again in a moment."
    assert busy in out.getvalue() and "Something went wrong" not in out.getvalue()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback on the terminal


async def test_a_latin1_terminal_is_read_in_its_own_encoding(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, "market björk\n".encode("latin-1"))  # ö is the one byte F6 there
    os.close(write_fd)
    with os.fdopen(read_fd, "r", encoding="latin-1") as stream:
        chat, _, out = _chat(sessions, clock, stream)  # type: ignore[arg-type]
        await asyncio.wait_for(chat.run(), timeout=30)
    assert "'björk'" in out.getvalue() and "\ufffd" not in out.getvalue()
