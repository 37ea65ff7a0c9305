"""A pair watch that only a few listed tickets fit is told "buy now" (`advice_sentence`):
by its first message and by every later rendering of it, the in-place edits included.
The stored recommendation, webhooks' `data.recommendation`, stays the model's."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.announce import edit_late
from core.db.models import Notification, SnapshotListing
from core.domain import ActionKind, Listing
from tests.integration.engine_helpers import (
    T0,
    add_seed,
    add_webhook,
    alerts_of,
    fresh_engine,
    minutes,
    notifications_of,
    snapshot,
)

Sessions = async_sessionmaker[AsyncSession]
RECEIPT = {"channel": "telegram", "address": "tg-100", "message_id": "m-1", "detail": None}
SCARCE = "Only 8 tickets fit your search — buy now rather than wait"
EVENT_WIDE = "chance the cheapest price drops"


async def _scarce_pair_alert(sessions: Sessions) -> tuple[int, int]:
    """(alert id, user id) of an open pair alert that 8 of the event's tickets fit, its
    chat message sent."""
    async with sessions() as session, session.begin():
        seed = await add_seed(session, max_price=100.0, quantity=2)
        await add_webhook(session, seed.user, ["alert.triggered", "alert.acknowledged"])
    engine = await fresh_engine(sessions)
    single = Listing("L1", 28.0, section="101", quantity=1, url="https://tix.example/L1")
    pair = Listing("L2", 80.0, section="112", quantity=8, url="https://tix.example/L2")
    async with sessions() as session, session.begin():
        stored = await snapshot(session, seed, T0, 28.0, listings=[single, pair])
        session.add_all(  # as ingest stores them
            SnapshotListing(
                snapshot_id=stored.snapshot_id, event_id=seed.event.id, listing_id=item.listing_id,
                section=item.section, row=item.row, quantity=item.quantity, price=item.price,
                url=item.url,
            )
            for item in (single, pair)
        )  # fmt: skip
        assert (await engine.process(session, [stored], T0)).alerts_opened == 1
    async with sessions() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.channel == "telegram")
            .values(status="sent", receipt=RECEIPT)
        )
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (first,) = [n for n in await notifications_of(session) if n.channel == "telegram"]
    assert SCARCE in first.payload["body"]
    return alert.id, seed.user.id


async def test_an_acknowledged_scarce_pair_alerts_edit_still_says_buy_now(
    sessions: Sessions,
) -> None:
    alert_id, user_id = await _scarce_pair_alert(sessions)
    async with sessions() as session, session.begin():
        await apply_action(
            session, alert_id, ActionKind.ACK, user_id=user_id, via="telegram",
            now=T0 + minutes(1),
        )  # fmt: skip
    async with sessions() as session:
        notes = await notifications_of(session, alert_id)
        (alert,) = await alerts_of(session)
    (edit,) = [n for n in notes if n.kind == "update" and n.channel == "telegram"]
    assert edit.payload["edit_of"] == RECEIPT
    assert SCARCE in edit.payload["body"]
    assert EVENT_WIDE not in edit.payload["body"]
    (hook,) = [
        n
        for n in notes
        if n.channel == "webhook" and n.payload["event_type"] == "alert.acknowledged"
    ]
    assert SCARCE in hook.payload["body"]  # the same text as the person's
    # The stored recommendation, and what webhooks are given of it, stay the model's.
    assert alert.recommendation["advice"] != "BUY NOW"
    assert EVENT_WIDE in alert.recommendation["sentence"]
    assert hook.payload["data"]["recommendation"] == alert.recommendation


async def test_a_late_edit_of_a_snoozed_scarce_pair_alert_still_says_buy_now(
    sessions: Sessions,
) -> None:
    """A message still being sent when the alert was snoozed is edited by delivery
    (`edit_late`), from the alert's last change: with the same sentence."""
    alert_id, user_id = await _scarce_pair_alert(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.channel == "telegram")
            .values(status="sending", receipt=None)
        )
        await apply_action(
            session, alert_id, ActionKind.SNOOZE, user_id=user_id, via="telegram",
            now=T0 + minutes(1),
        )  # fmt: skip
    async with sessions() as session:
        (first,) = [n for n in await notifications_of(session, alert_id) if n.kind != "update"
                    and n.channel == "telegram"]  # fmt: skip
    async with sessions() as session, session.begin():
        queued = await edit_late(
            session, [(first.id, alert_id, "telegram", "tg-100", RECEIPT)], T0 + minutes(2)
        )
    assert queued == 1
    async with sessions() as session:
        notes = await notifications_of(session, alert_id)
    (edit,) = [n for n in notes if n.kind == "update" and n.channel == "telegram"]
    assert edit.payload["title"].startswith("💤")
    assert SCARCE in edit.payload["body"]
    assert EVENT_WIDE not in edit.payload["body"]
