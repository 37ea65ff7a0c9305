"""Messages as people really send them: mentions and newlines, captions and stickers,
group small talk, anonymous admins, and replies longer than one Telegram message."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from adapters.telegram.inbound import NOT_TEXT, command_text
from core.chat import CommandContext
from core.db.models import Identity, User, Watch
from tests.adapters.telegram.conftest import TelegramStack
from tests.adapters.telegram.helpers import add_event

GROUP = -100900


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("/watch@hdtickets_bot\nrockies under 40", "watch rockies under 40"),
        ("/help@hdtickets_bot\twatch", "help watch"),
        ("/watch\nrockies under 40", "watch rockies under 40"),
        ("/watches@other_bot\nall", None),
    ],
)
def test_any_whitespace_ends_the_command_name(text: str, wanted: str | None) -> None:
    assert command_text(text, "hdtickets_bot") == wanted


async def test_a_newline_or_tab_after_the_mention_still_gets_an_answer(tg: TelegramStack) -> None:
    await add_event(tg.container, "e1", "Rockies at Diamondbacks")

    watched = await tg.say(701, "/watch@hdtickets_bot\nrockies under 40")
    helped = await tg.say(701, "/help@hdtickets_bot\twatch")

    assert "Watching Rockies at Diamondbacks" in watched.plain
    assert "Example: watch yankees under 80 qty 2" in helped.plain


async def test_a_caption_is_read_as_text_and_other_media_get_a_hint(tg: TelegramStack) -> None:
    await add_event(tg.container, "e2", "Rockies at Diamondbacks")

    captioned = tg.api.media_update(user=702, kind="photo", caption="/watch rockies under 40")
    await tg.push(captioned)
    for kind in ("sticker", "voice", "location"):
        await tg.push(tg.api.media_update(user=702, kind=kind))

    watched, *hints = tg.api.chat(702)
    assert "Watching Rockies at Diamondbacks" in watched.plain
    assert [hint.plain for hint in hints] == ["⚠️ " + NOT_TEXT] * 3


async def test_groups_ignore_media_and_small_talk_without_asking_telegram(
    tg: TelegramStack,
) -> None:
    known = await tg.say(703, "/help", chat=GROUP)  # 703 is known from here on
    calls = len(tg.api.calls_of("getChatMember"))
    async with tg.container.sessions() as session:
        people = await session.scalar(select(func.count()).select_from(User))

    for user in range(710, 740):
        await tg.push(tg.api.text_update(user=user, text="lol who's going", chat=GROUP))
    await tg.push(tg.api.text_update(user=703, text="me!", chat=GROUP))
    await tg.push(tg.api.media_update(user=710, kind="sticker", chat=GROUP))
    await tg.push(tg.api.media_update(user=710, kind="photo", caption="look", chat=GROUP))

    assert tg.api.chat(GROUP) == [known]  # nothing said
    assert len(tg.api.calls_of("getChatMember")) == calls  # nobody looked up
    async with tg.container.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == people


async def test_an_anonymous_admin_acts_as_the_group(tg: TelegramStack) -> None:
    await add_event(tg.container, "e3", "Rockies at Diamondbacks")
    calls = len(tg.api.calls_of("getChatMember"))

    await tg.push(tg.api.anonymous_update(chat=GROUP, text="/watch rockies under 40"))
    await tg.push(tg.api.anonymous_update(chat=GROUP, text="/watches"))

    watched, listing = tg.api.chat(GROUP)
    assert "I'll alert this group" in watched.plain
    assert "This group's watches" in listing.plain and "Rockies at Diamondbacks" in listing.plain
    assert len(tg.api.calls_of("getChatMember")) == calls  # Telegram vouched already
    async with tg.container.sessions() as session:
        [watch] = (await session.execute(select(Watch))).scalars()
        [identity] = (await session.execute(select(Identity))).scalars()
    assert (watch.destination_channel, watch.destination_address) == ("telegram", str(GROUP))
    assert (identity.external_id, identity.dm_address) == (str(GROUP), None)


async def test_a_long_watch_list_comes_in_several_whole_messages(tg: TelegramStack) -> None:
    await tg.say(704, "/help")
    async with tg.container.sessions() as session:
        user_id = await session.scalar(
            select(Identity.user_id).where(Identity.external_id == "704")
        )
    ctx = CommandContext(int(user_id or 0), "telegram", "704")
    for n in range(60):
        what = f"any Some pretty long performer name number {n} with extra words"
        reply = await tg.container.handlers.handle_text(
            ctx, f"watch {what} under 99 qty 2 zone lower bowl behind the dugout"
        )
        assert not reply.is_error, reply
    before = len(tg.api.chat(704))

    await tg.push(tg.api.text_update(user=704, text="/watches"))

    messages = tg.api.chat(704)[before:]
    assert len(messages) >= 2
    assert all(len(m.plain) <= 4096 for m in messages)
    assert messages[0].plain.startswith("Your watches:")
    listed = [line for m in messages for line in m.plain.splitlines()]
    ids = [int(line.split()[0].lstrip("#")) for line in listed[1:]]
    assert len(listed) == 61 and not any(line.endswith("…") for line in listed)
    assert len(set(ids)) == 60 and ids == sorted(ids)  # every watch, in order
    assert all(m.keyboard is None for m in messages[:-1]) and messages[-1].keyboard


async def test_a_group_that_allows_no_photos_gets_the_market_answer_as_text(
    tg: TelegramStack,
) -> None:
    """`market` answers with a chart photo; a group that lets no member send photos refused
    it (400), and the whole answer, its text included, was given up: nothing was said."""
    event_id = await add_event(tg.container, "e9", "Rockies at Diamondbacks")
    tg.api.no_photos.add(str(GROUP))

    reply = await tg.say(612, f"/market@hdtickets_bot #{event_id}", chat=GROUP)

    assert not reply.photo and "Cheapest $60" in reply.plain
    assert [call.status for call in tg.api.calls_of("sendPhoto")] == [400]
