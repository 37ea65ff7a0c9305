"""A group upgraded to a supergroup gets a new chat id; its alerts follow it there.

Real PTB against the fake Bot API, which refuses the old id as Telegram does (400 with
`parameters.migrate_to_chat_id`), in the container `build()` makes, with a delivery worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from telegram.error import ChatMigrated

from adapters.telegram.channel import TelegramChannel, TelegramConfig
from adapters.telegram.errors import delivery_error
from bot.bootstrap import build
from core.clock import SystemClock
from core.db.models import Alert, Identity, Notification, Watch
from core.domain import ChannelKind, DeliveryReceipt, Level, OutboundMessage
from core.errors import ChatMoved
from tests.adapters.telegram.conftest import (
    WAIT_S,
    SteppingClock,
    TelegramStack,
    running,
    stack_settings,
)
from tests.adapters.telegram.helpers import delivering, item
from tests.fake_platforms.telegram import FakeBotApi

ADMIN = 5150
OLD, NEW = -4242, -1004242
EVENT = "Rockies at Diamondbacks"


async def watch_in_old_group(tg: TelegramStack) -> None:
    """A $60 event, and the old group's admin watching it under $40."""
    now = datetime.now(UTC)
    await tg.container.ingest.ingest("test", [item("e1", EVENT, 60, now - timedelta(minutes=5))])
    tg.api.make_admin(OLD, ADMIN)
    before = len(tg.api.chat(OLD))
    await tg.api.push(
        tg.api.text_update(
            user=ADMIN, text="/watch rockies under 40", chat=OLD, name="Admin", chat_type="group"
        )
    )
    await tg.api.wait_for(lambda: len(tg.api.chat(OLD)) > before, WAIT_S)
    assert "I'll alert this group" in tg.api.chat(OLD)[-1].plain


async def price_drops(tg: TelegramStack) -> None:
    """The price falls under the watch's max; wait for the alert in the new supergroup."""
    await tg.container.ingest.ingest("test", [item("e1", EVENT, 30, datetime.now(UTC))])
    tg.container.signal.notify()

    def arrived() -> bool:
        return any("Acknowledge" in str(m.keyboard) for m in tg.api.chat(NEW))

    await tg.api.wait_for(arrived, 15)


def refused_for_old_id(api: FakeBotApi) -> list[str]:
    return [
        c.method for c in api.calls if str(c.params.get("chat_id")) == str(OLD) and c.status == 400
    ]


async def stored(tg: TelegramStack) -> tuple[list[str | None], list[str], list[str]]:
    """Watch destinations, telegram identities' external ids, notification addresses."""
    async with tg.container.sessions() as session:
        watches = list(await session.scalars(select(Watch.destination_address)))
        ids = list(
            await session.scalars(
                select(Identity.external_id).where(Identity.platform == "telegram")
            )
        )
        addresses = list(await session.scalars(select(Notification.address)))
    return watches, ids, addresses


async def test_after_the_service_messages_alerts_go_to_the_supergroup(tg: TelegramStack) -> None:
    await watch_in_old_group(tg)
    tg.api.migrate(OLD, NEW)
    last_in_old, first_in_new = tg.api.migration_updates(old=OLD, new=NEW, user=ADMIN)

    await tg.push(last_in_old)
    watches, _, _ = await stored(tg)
    assert watches == [str(NEW)]
    await tg.push(first_in_new)  # the second service message of the same upgrade: harmless
    assert (await stored(tg))[0] == [str(NEW)]

    async with delivering(tg.container):
        await price_drops(tg)
    [message] = [m for m in tg.api.chat(NEW) if "Acknowledge" in str(m.keyboard)]
    assert f"{EVENT} — $30 (your max $40)" in message.plain
    assert refused_for_old_id(tg.api) == []  # sent straight to the new id
    assert tg.api.chat(ADMIN) == []  # nothing failed over to the admin's private chat

    # The group keeps its watches under its new id.
    tg.api.make_admin(NEW, ADMIN)
    listing = await tg.say(ADMIN, "/watches", chat=NEW, name="Admin")
    assert "This group's watches" in listing.plain and "Rockies" in listing.plain


async def test_an_anonymous_admin_is_still_the_group_after_the_upgrade(tg: TelegramStack) -> None:
    before = len(tg.api.chat(OLD))
    await tg.api.push(tg.api.anonymous_update(chat=OLD, text="/watches"))
    await tg.api.wait_for(lambda: len(tg.api.chat(OLD)) > before, WAIT_S)
    _, ids, _ = await stored(tg)
    assert ids == [str(OLD)]

    tg.api.migrate(OLD, NEW)
    for update in tg.api.migration_updates(old=OLD, new=NEW, user=ADMIN):
        await tg.push(update)
    await tg.say(ADMIN, "/watches", chat=NEW)  # an identity for the admin; none for the group

    _, ids, _ = await stored(tg)
    assert sorted(ids) == sorted([str(NEW), str(ADMIN)])


async def test_a_send_to_the_old_id_reaches_the_supergroup_and_moves_the_group(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service messages were missed (the bot was offline): the send finds the move."""
    monkeypatch.chdir(tmp_path)
    async with FakeBotApi(clock=SteppingClock()) as api:
        container = await build(stack_settings(api, database_url, tmp_path))
        try:
            async with running(api, container) as tg:
                await watch_in_old_group(tg)
                tg.api.migrate(OLD, NEW)

                async with delivering(container):
                    await price_drops(tg)

                assert refused_for_old_id(api) == ["sendMessage"]  # once, then the new id
                assert api.chat(ADMIN) == []  # no failover
                async with container.sessions() as session:
                    [note] = await session.scalars(select(Notification))
                    [alert] = await session.scalars(select(Alert))
                assert (note.status, note.address) == ("sent", str(NEW))
                assert note.receipt is not None and note.receipt["address"] == str(NEW)
                assert alert.status == "open"
                watches, _, _ = await stored(tg)
                assert watches == [str(NEW)]  # the next alerts go there directly
        finally:
            await container.aclose()


# --- the channel on its own (no inbound side: nothing stored to move) -----------------------


@pytest.fixture
async def channel() -> AsyncIterator[tuple[FakeBotApi, TelegramChannel]]:
    async with FakeBotApi(clock=SteppingClock()) as api:
        config = TelegramConfig(token=api.token, api_url=api.base_url)
        channel = TelegramChannel(config, None, SystemClock())
        task = asyncio.create_task(channel.run())
        async with asyncio.timeout(WAIT_S):
            await channel.ready.wait()
        try:
            yield api, channel
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert api.unexpected == []


def alert(n: int, edit_of: DeliveryReceipt | None = None) -> OutboundMessage:
    title = f"{EVENT} — $28 (your max $40)"
    return OutboundMessage(
        notification_id=n,
        idempotency_key=f"k{n}",
        channel=ChannelKind.TELEGRAM,
        address=str(OLD),
        level=Level.MEDIUM,
        title=title if edit_of is None else f"✅ Acknowledged: {title}",
        body="Chase Field, Phoenix",
        payload={"data": {"market": {"min_price": 28.0}}},
        edit_of=edit_of,
    )


async def test_every_send_to_the_old_id_is_redirected(
    channel: tuple[FakeBotApi, TelegramChannel],
) -> None:
    api, tg = channel
    api.migrate(OLD, NEW)

    first = await tg.send(alert(1))
    second = await tg.send(alert(2))

    assert [m.chat_id for m in api.sent] == [str(NEW), str(NEW)]
    assert (first.address, second.address) == (str(NEW), str(NEW))
    assert first.message_id == str(api.sent[0].message_id)
    assert len(refused_for_old_id(api)) == 2


async def test_a_message_from_before_the_upgrade_is_not_edited_and_does_not_fail(
    channel: tuple[FakeBotApi, TelegramChannel],
) -> None:
    api, tg = channel
    receipt = await tg.send(alert(1))
    api.migrate(OLD, NEW)

    edited = await tg.send(alert(2, edit_of=receipt))

    assert edited.address == str(OLD) and edited.message_id == receipt.message_id
    assert api.sent[0].edits == 0 and api.chat(NEW) == []


async def test_a_chat_that_keeps_moving_is_a_chat_moved_error(
    channel: tuple[FakeBotApi, TelegramChannel],
) -> None:
    api, tg = channel
    api.migrate(OLD, NEW)
    api.migrate(NEW, -1009999)  # the new id refused too (never seen): one retry, no loop

    with pytest.raises(ChatMoved) as caught:
        await tg.send(alert(1))

    assert caught.value.new_address == "-1009999"
    error = delivery_error(ChatMigrated(NEW))
    assert isinstance(error, ChatMoved) and error.new_address == str(NEW)
