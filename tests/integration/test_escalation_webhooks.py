"""Each escalation step taken is an `alert.escalated` webhook event (DESIGN.md §9) to the
endpoints subscribed to it: the person's own and global ones, once per step, with the
whole data a receiver reads, also when the person has no phone for the step to reach."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Notification, WebhookEndpoint
from core.domain import Level
from core.escalation_rules import EscalationConfig
from tests.integration.engine_helpers import add_user
from tests.integration.escalation_helpers import seed_alert, sends, service, step_rows

Sessions = async_sessionmaker[AsyncSession]
CONFIG = EscalationConfig(public_url="https://alerts.example/")


async def _endpoints(sessions: Sessions, owner: int) -> dict[str, int]:
    """Endpoints: the owner's (escalated only), another person's (every event), a global
    one (every event) and a global one of triggered alerts only."""
    async with sessions() as session, session.begin():
        other = await add_user(session, name="Bo")
        rows = {
            "own": WebhookEndpoint(user_id=owner, url="https://own.example/h",
                                   event_types=["alert.escalated"]),
            "other": WebhookEndpoint(user_id=other.id, url="https://other.example/h",
                                     event_types=["*"]),
            "global": WebhookEndpoint(url="https://ops.example/h", event_types=["*"]),
            "triggered": WebhookEndpoint(url="https://crm.example/h",
                                         event_types=["alert.triggered"]),
        }  # fmt: skip
        session.add_all(rows.values())
        await session.flush()
        return {name: row.id for name, row in rows.items()}


async def _hooks(sessions: Sessions, alert_id: int) -> list[Notification]:
    return await step_rows(sessions, alert_id, "webhook")


async def _at(svc, clock: FakeClock, start: datetime, seconds: int) -> None:  # type: ignore[no-untyped-def]
    clock.set(start + timedelta(seconds=seconds))
    await svc.tick()


async def test_each_step_is_an_escalated_event_to_the_endpoints_subscribed(
    sessions: Sessions, clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL, prediction={"p_drop_72h": 0.4})
    ids = await _endpoints(sessions, alert.user_id)
    svc = service(sessions, clock, CONFIG)

    await _at(svc, clock, t0, 120)  # step 1: the SMS
    await _at(svc, clock, t0, 120)  # the same tick again: nothing twice
    first = await _hooks(sessions, alert.id)
    assert sorted(r.webhook_endpoint_id for r in first) == sorted([ids["own"], ids["global"]])
    row = first[0]
    assert (row.kind, row.address) == ("escalation", "https://own.example/h")
    assert row.payload["event_type"] == "alert.escalated"
    data = row.payload["data"]
    assert {"alert", "event", "market", "prediction", "recommendation", "watch", "links"} <= set(
        data
    )
    assert data["alert"]["id"] == alert.id and data["escalation"]["step"] == 1
    assert data["prediction"] == {"p_drop_72h": 0.4}
    assert data["links"] == {
        "alert": f"https://alerts.example/api/v1/alerts/{alert.id}",
        "timeline": f"https://alerts.example/api/v1/alerts/{alert.id}/timeline",
    }

    await _at(svc, clock, t0, 300)  # step 2: the call
    rows = await _hooks(sessions, alert.id)
    assert len(rows) == 4 and len({r.idempotency_key for r in rows}) == 4
    assert [r.payload["data"]["escalation"]["step"] for r in rows] == [1, 1, 2, 2]


async def test_a_person_without_a_phone_or_chat_still_escalates_to_their_webhook(
    sessions: Sessions, clock: FakeClock
) -> None:
    """An integrator with no phone or chat here pages its own people on `alert.escalated`:
    the step reaches nobody here, and is told all the same."""
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL, chats=(), phone=False, emergency=False)
    ids = await _endpoints(sessions, alert.user_id)
    svc = service(sessions, clock, CONFIG)

    await _at(svc, clock, t0, 120)

    assert await sends(sessions, alert.id) == [
        "webhook:https://own.example/h",
        "webhook:https://ops.example/h",
    ]
    rows = await _hooks(sessions, alert.id)
    assert {r.webhook_endpoint_id for r in rows} == {ids["own"], ids["global"]}
