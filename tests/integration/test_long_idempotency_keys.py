"""Messages to a long address (a group, a webhook URL) get an idempotency key that fits its
200-char column: on PostgreSQL a longer one fails the whole transaction, on SQLite it is
stored as is. Each test runs on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.clock import FakeClock
from core.db.models import Alert, Notification
from core.digest import compose_digests
from core.domain import EventInfo, SnapshotIn
from core.errors import RecipientGone
from core.ingest.store import store_snapshots
from core.reschedule import MOVED_KIND
from tests.fakes.channels import FakeChannel
from tests.integration.engine_helpers import T0, add_event, add_user, add_watch
from tests.integration.test_delivery import Sessions, add, load, person, service

COLUMN = 200
LONG_GROUP = "-100" + "7" * 246  # 250 chars: fits a watch's destination (256), not a key
MOVED = datetime(2024, 4, 7, 2, 10, tzinfo=UTC)


async def test_a_digest_to_a_long_address_is_queued_with_a_key_that_fits(
    sessions: Sessions, clock: FakeClock
) -> None:
    now = clock.now()
    async with sessions() as session, session.begin():
        user = await add_user(session)
        for n in (1, 2):
            session.add(
                Notification(
                    kind="digest", user_id=user.id, channel="telegram", address=LONG_GROUP,
                    level=1, payload={"event_type": "digest", "title": f"alert {n}", "body": ""},
                    idempotency_key=f"item-{n}", status="pending", due_at=now,
                    created_at=now - timedelta(minutes=30),
                )
            )  # fmt: skip
    async with sessions() as session, session.begin():
        assert await compose_digests(session, now) == 1
    async with sessions() as session:
        summary = (
            await session.scalars(select(Notification).where(Notification.kind != "digest"))
        ).one()
    assert summary.address == LONG_GROUP
    assert len(summary.idempotency_key) <= COLUMN
    assert summary.idempotency_key.startswith(f"digest:{user.id}:telegram:-100777")


async def test_a_move_told_in_a_long_named_group_is_queued_once(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        event = await add_event(session)
        ada = await add_user(session)
        watch = await add_watch(
            session, ada, event, destination_channel="telegram", destination_address=LONG_GROUP
        )
        session.add(
            Alert(
                dedup_key=f"{watch.id}:{event.id}:price_below", watch_id=watch.id,
                user_id=ada.id, event_id=event.id, kind="price_below", score=0.5, level=2,
                status="open", opened_at=T0, updated_at=T0,
            )
        )  # fmt: skip
    info = EventInfo(
        external_id="6100043", name="Rockies at Diamondbacks", starts_at=MOVED,
        venue="Chase Field", city="Phoenix", timezone="America/Phoenix",
    )  # fmt: skip
    for minutes in (60, 65):  # the same move seen twice is told once
        now = T0 + timedelta(minutes=minutes)
        item = SnapshotIn(source="seatgeek", event=info, observed_at=now, min_price=30.0)
        async with sessions() as session, session.begin():
            await store_snapshots(session, [item], now)
    async with sessions() as session:
        moved = list(
            await session.scalars(select(Notification).where(Notification.kind == MOVED_KIND))
        )
    assert [n.address for n in moved] == [LONG_GROUP]
    assert len(moved[0].idempotency_key) <= COLUMN
    assert moved[0].idempotency_key.startswith("moved:telegram:-100777")


async def test_a_message_with_a_key_at_the_limit_still_fails_over(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id = await person(sessions, {"telegram": "tg-1", "slack": "U1"}, ["telegram", "slack"])
    telegram, slack = FakeChannel("telegram"), FakeChannel("slack")
    telegram.script(RecipientGone("bot was blocked by the user"))
    key = "a1:alert.triggered:telegram:" + "x" * (COLUMN - 30) + ":1"
    assert len(key) == COLUMN
    spec = {"idempotency_key": key, "channel": "telegram", "address": "tg-1", "user_id": user_id}
    await add(sessions, clock, spec)
    await service(sessions, clock, {"telegram": telegram, "slack": slack}).deliver_batch()
    stored = await load(sessions)
    assert stored[key].status == "failed"
    (fo,) = [row for row in stored.values() if row.failover_of == stored[key].id]
    assert (fo.channel, fo.address, fo.status) == ("slack", "U1", "pending")
    assert len(fo.idempotency_key) <= COLUMN
