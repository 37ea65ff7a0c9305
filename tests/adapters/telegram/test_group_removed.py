"""The bot removed from a group (Telegram's my_chat_member update): the group's watches
pause, their open alerts close, and the admin who set them up hears why in private.

Real PTB against the fake Bot API, in the container `build()` makes, with a delivery worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db.models import Alert, Notification, Watch
from core.group_gone import GONE_KIND
from tests.adapters.telegram.conftest import TelegramStack
from tests.adapters.telegram.helpers import delivering, item

ADMIN = 5150
GROUP = -1004343
EVENT = "Rockies at Diamondbacks"


async def group_watch_with_an_alert(tg: TelegramStack) -> None:
    """The admin (known in private too) watches a $60 event from the group under $40; the
    price falls to $30 and the group is alerted."""
    await tg.say(ADMIN, "/help", name="Admin")  # a private chat the bot may write to
    now = datetime.now(UTC)
    await tg.container.ingest.ingest("test", [item("e1", EVENT, 60, now - timedelta(minutes=5))])
    tg.api.make_admin(GROUP, ADMIN)
    reply = await tg.say(ADMIN, "/watch rockies under 40", chat=GROUP, name="Admin")
    assert "I'll alert this group" in reply.plain
    await tg.container.ingest.ingest("test", [item("e1", EVENT, 30, datetime.now(UTC))])
    async with tg.container.sessions() as session:
        assert await session.scalar(select(Alert.status)) == "open"


async def stored(tg: TelegramStack) -> tuple[list[bool], list[str], list[Notification]]:
    async with tg.container.sessions() as session:
        watches = list(await session.scalars(select(Watch.active)))
        alerts = list(await session.scalars(select(Alert.reason)))
        told = list(
            await session.scalars(select(Notification).where(Notification.kind == GONE_KIND))
        )
    return watches, [a or "" for a in alerts], told


async def test_kicked_from_the_group_pauses_its_watches_and_tells_the_admin(
    tg: TelegramStack,
) -> None:
    await group_watch_with_an_alert(tg)
    await tg.push(tg.api.member_update(chat=GROUP, status="kicked", by=ADMIN, title="Fans"))

    watches, reasons, told = await stored(tg)
    assert watches == [False]
    assert reasons == ["bot removed from the group"]
    [dm] = told
    assert (dm.channel, dm.address) == ("telegram", str(ADMIN))
    async with delivering(tg.container):
        tg.container.signal.notify()
        await tg.api.wait_for(lambda: any("Fans" in m.plain for m in tg.api.chat(ADMIN)), 15)
    [message] = [m for m in tg.api.chat(ADMIN) if "no longer post" in m.plain]
    assert (
        "I can no longer post in Fans, so its 1 watch is paused. "
        "Add me back to the group and say resume all there."
    ) in message.plain
    assert tg.api.dropped == []

    # Telegram may say it again (the bot left, then was banned): nobody is told twice.
    await tg.push(tg.api.member_update(chat=GROUP, status="left", by=ADMIN, was="kicked"))
    assert len((await stored(tg))[2]) == 1


async def test_the_bot_added_back_or_promoted_changes_nothing(tg: TelegramStack) -> None:
    await group_watch_with_an_alert(tg)
    await tg.push(tg.api.member_update(chat=GROUP, status="member", by=ADMIN, was="left"))
    await tg.push(tg.api.member_update(chat=GROUP, status="administrator", by=ADMIN))
    watches, _, told = await stored(tg)
    assert (watches, told) == ([True], [])
    async with tg.container.sessions() as session:
        assert list(await session.scalars(select(Alert.status))) == ["open"]
