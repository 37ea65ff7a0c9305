"""A digest held up after it was composed (a 429, an outage) lists only alerts still open
when it finally goes out, and is withdrawn when none is left.

Every other message announcing an alert as open is withdrawn once the alert closes
(`core.delivery_outcomes.withdrawals`); a digest summary belongs to no single alert, so its
items are checked one by one when it is claimed (`core.digest.prune_summaries`).
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select, update

from core.alerts import apply_action
from core.backoff import RetryPolicies
from core.clock import FakeClock
from core.db.models import Alert, Event, Notification
from core.delivery import DeliveryService
from core.digest import compose_digests
from core.domain import ActionKind
from core.errors import RetryableDeliveryError
from core.metrics import RecordingMetrics
from core.ratelimit import RateLimiter
from tests.fakes.channels import FakeChannel
from tests.integration.test_delivery import Sessions, alert_for, person


async def _held_digest(
    sessions: Sessions, clock: FakeClock, names: list[str]
) -> tuple[int, list[int], FakeChannel, DeliveryService]:
    """A digest of one level-1 alert per name, composed, then refused once with a 429."""
    user_id = await person(sessions, {"telegram": "tg-1"}, ["telegram"])
    first = await alert_for(sessions, user_id)
    alert_ids = [first] + [await _another(sessions, first, n) for n in range(1, len(names))]
    now = clock.now()
    async with sessions() as session, session.begin():
        await session.execute(update(Alert).values(level=1))
        for n, (alert_id, name) in enumerate(zip(alert_ids, names, strict=True)):
            session.add(
                Notification(
                    kind="digest", alert_id=alert_id, user_id=user_id, channel="telegram",
                    address="tg-1", level=1,
                    payload={"event_type": "digest", "title": f"📋 {name} — $28", "body": ""},
                    idempotency_key=f"item-{n}", status="pending", due_at=now,
                    created_at=now - timedelta(minutes=30),
                )
            )  # fmt: skip
    async with sessions() as session, session.begin():
        assert await compose_digests(session, now) == 1
    telegram = FakeChannel("telegram")
    telegram.script(RetryableDeliveryError("HTTP 429", retry_after=30))
    worker = DeliveryService(
        sessions, {"telegram": telegram}, clock, random.Random(5),
        RetryPolicies.from_settings(2.0, 2.0, 600.0, [4, 6, 8, 10, 12]),
        RateLimiter(clock), RecordingMetrics(), "w1", 30.0,
    )  # fmt: skip
    await worker.deliver_batch()  # 429: retry in 30 s
    assert telegram.sent == []
    return user_id, alert_ids, telegram, worker


async def _another(sessions: Sessions, alert_id: int, n: int) -> int:
    """An open alert of the same watch about another event (a watch of many games): an
    answer to one alert reaches the person's other alerts about the same event only."""
    async with sessions() as session, session.begin():
        first = await session.get(Alert, alert_id)
        assert first is not None
        event = await session.get(Event, first.event_id)
        assert event is not None
        other = Event(
            source=event.source, external_id=f"{event.external_id}-{n}", name=f"game {n}",
            starts_at=event.starts_at,
        )  # fmt: skip
        session.add(other)
        await session.flush()
        alert = Alert(
            dedup_key=f"{first.dedup_key}:{n}", watch_id=first.watch_id, user_id=first.user_id,
            event_id=other.id, kind="drop_pct", score=0.9, level=5,
            opened_at=first.opened_at, updated_at=first.updated_at,
        )  # fmt: skip
        session.add(alert)
        await session.flush()
        return alert.id


async def _ack(sessions: Sessions, clock: FakeClock, alert_id: int, user_id: int) -> None:
    async with sessions() as session, session.begin():
        await apply_action(
            session, alert_id, ActionKind.ACK, user_id=user_id, via="api", now=clock.now()
        )


async def test_an_alert_acknowledged_meanwhile_is_left_out(
    sessions: Sessions, clock: FakeClock
) -> None:
    names = ["Rockies at Diamondbacks", "Giants at Dodgers"]
    user_id, alert_ids, telegram, worker = await _held_digest(sessions, clock, names)
    clock.advance(10)
    await _ack(sessions, clock, alert_ids[0], user_id)

    clock.advance(25)
    await worker.deliver_batch()

    (sent,) = telegram.sent
    assert "Rockies" not in sent.body and f"#{alert_ids[1]} 📋 Giants at Dodgers" in sent.body
    assert sent.title == "📬 Your digest: 1 low-priority alert"
    async with sessions() as session:
        summary = await session.scalar(
            select(Notification).where(Notification.kind == "digest_summary")
        )
    assert summary is not None and summary.status == "sent"
    assert [i["alert_id"] for i in summary.payload["data"]["items"]] == [alert_ids[1]]


async def test_a_digest_with_nothing_open_left_is_withdrawn(
    sessions: Sessions, clock: FakeClock
) -> None:
    user_id, alert_ids, telegram, worker = await _held_digest(sessions, clock, ["Rockies"])
    clock.advance(10)
    await _ack(sessions, clock, alert_ids[0], user_id)

    clock.advance(25)
    await worker.deliver_batch()

    assert telegram.sent == []
    async with sessions() as session:
        summary = await session.scalar(
            select(Notification).where(Notification.kind == "digest_summary")
        )
    assert summary is not None and summary.status == "cancelled"
    assert "acknowledged, snoozed or resolved" in (summary.last_error or "")
