"""Level-1 digest items are held, then merged into one message per person and destination."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Notification, User
from core.digest import compose_digests, summary_text
from core.outbox import claim


def _item(user_id: int, n: int, due, address: str = "chat-1") -> Notification:  # type: ignore[no-untyped-def]
    return Notification(
        kind="digest",
        user_id=user_id,
        channel="telegram",
        address=address,
        level=1,
        payload={"event_type": "digest", "title": f"alert {n}", "body": ""},
        idempotency_key=f"item-{n}",
        status="pending",
        due_at=due,
        created_at=due - timedelta(minutes=30),
    )


async def test_due_items_become_one_summary_per_destination(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    now = clock.now()
    async with sessions() as session, session.begin():
        user = User(display_name="Ada")
        session.add(user)
        await session.flush()
        session.add_all(
            [
                _item(user.id, 1, now - timedelta(minutes=1)),
                _item(user.id, 2, now),
                _item(user.id, 3, now + timedelta(hours=1)),  # not due yet
                _item(user.id, 4, now, address="chat-2"),
            ]
        )
    async with sessions() as session, session.begin():
        assert await claim(session, "w", now, 10, 60) == []  # items are never claimed alone
        assert await compose_digests(session, now) == 2
    async with sessions() as session:
        rows = list(
            (await session.execute(select(Notification).order_by(Notification.id))).scalars()
        )
    summaries = [r for r in rows if r.kind == "digest_summary"]
    assert sorted(s.address for s in summaries) == ["chat-1", "chat-2"]
    first = next(s for s in summaries if s.address == "chat-1")
    assert "alert 1" in first.payload["body"] and "alert 2" in first.payload["body"]
    assert first.payload["title"].startswith("📬 Your digest: 2 low-priority alerts")
    by_key = {r.idempotency_key: r for r in rows}
    assert by_key["item-1"].status == by_key["item-2"].status == "cancelled"
    assert by_key["item-1"].last_error == f"sent in digest notification {first.id}"
    assert by_key["item-3"].status == "pending"
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w", now, 10, 60)
    assert {r.kind for r in claimed} == {"digest_summary"}
    assert len(claimed) == 2


def test_long_digests_list_twenty_and_count_the_rest() -> None:
    title, body = summary_text([f"t{i}" for i in range(25)])
    assert title.startswith("📬 Your digest: 25")
    assert body.count("•") == 20
    assert "and 5 more" in body
