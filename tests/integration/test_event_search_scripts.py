"""Searching events typed in scripts written without spaces (CJK, kana, Hangul): a word
may be any part of the event's text, as the watch index matches it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.event_search import search_events
from tests.integration.engine_helpers import STARTS, add_event

Sessions = async_sessionmaker[AsyncSession]


@pytest.mark.parametrize(
    ("typed", "names"),
    [
        ("東京", ["Tokyo Giants Fan Fest 東京ドーム"]),
        ("ドーム", ["Tokyo Giants Fan Fest 東京ドーム"]),
        ("東京ドーム", ["Tokyo Giants Fan Fest 東京ドーム"]),
        ("서울", ["KBO 서울 시리즈"]),
        ("大阪", []),
        ("tokyo 東京", ["Tokyo Giants Fan Fest 東京ドーム"]),
    ],
)
async def test_a_part_of_an_unspaced_word_finds_the_event(
    sessions: Sessions, typed: str, names: list[str]
) -> None:
    async with sessions() as session, session.begin():
        await add_event(session, external_id="t1", name="Tokyo Giants Fan Fest 東京ドーム")
        await add_event(session, external_id="k1", name="KBO 서울 시리즈")
        await add_event(session, external_id="r1")
    async with sessions() as session:
        found = await search_events(session, typed, now=STARTS - timedelta(days=5))
    assert [event.name for event in found.events] == names
