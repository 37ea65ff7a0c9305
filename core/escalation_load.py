"""What one escalation tick reads: due alerts and, for their people, everything a step needs.

A handful of bulk queries per chunk of due alerts: the people (chats, quiet hours),
voice preferences, verified phones and opted-in emergency contacts, presence within the
window, recent SMS/voice sends (throttles and the daily cap), events, watches and each
alert's open siblings (the alerts its messages also tell of, `OpenSibling`). A phone
that opted out of texts (`sms_opted_out_at`) still gets calls but no SMS; such an
emergency contact is left out (their step is SMS only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Alert, ContactPoint, Event, Notification, Preference, Presence, User
from core.db.models import Watch as WatchRow
from core.delivery_plan import WebhookTarget
from core.domain import ChannelKind, NotificationStatus
from core.escalation_rules import PersonNow
from core.history import event_currencies
from core.recipients import load_recipients, load_webhooks
from core.siblings import OpenSibling, open_alerts_by_place

ESCALATION_KIND = "escalation"
_COLUMNS = (
    Alert.id,
    Alert.user_id,
    Alert.event_id,
    Alert.watch_id,
    Alert.kind,
    Alert.level,
    Alert.score,
    Alert.price,
    Alert.status,
    Alert.reason,
    Alert.step,
    Alert.fence,
    Alert.escalation,
    Alert.next_step_at,
    Alert.prediction,
    Alert.opened_at,
    Alert.recommendation,
)


@dataclass(frozen=True, slots=True)
class DueAlert:
    id: int
    user_id: int
    event_id: int
    watch_id: int
    kind: str
    level: int
    score: float
    price: float | None
    status: str
    reason: str | None
    step: int
    fence: int
    escalation: dict[str, Any]
    next_step_at: datetime
    prediction: dict[str, Any] | None
    opened_at: datetime
    recommendation: dict[str, Any] | None = None


def phone_address(contact_id: int) -> str:
    """The outbox address of a contact point: its id, never the number itself."""
    return f"cp{contact_id}"


def contact_point_id(address: str) -> int | None:
    """The contact point an outbox address names (`phone_address` read back); None when
    `address` is not one."""
    digits = address[2:]
    if address.startswith("cp") and digits.isascii() and digits.isdigit():
        return int(digits)
    return None


async def due_alerts(session: AsyncSession, now: datetime, limit: int) -> list[DueAlert]:
    """Open alerts whose next step is due at `now`, earliest first."""
    rows = await session.execute(
        select(*_COLUMNS)
        .where(
            Alert.next_step_at <= now,
            Alert.status == "open",
            Alert.escalation.is_not(None),
        )
        .order_by(Alert.next_step_at, Alert.id)
        .limit(limit)
    )
    return [DueAlert(*row) for row in rows]


@dataclass(slots=True)
class Context:
    """Everything the due alerts of one chunk need, keyed by user, event and watch."""

    people: dict[int, PersonNow] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    events: dict[int, Event] = field(default_factory=dict)
    watches: dict[int, WatchRow] = field(default_factory=dict)
    currencies: dict[int, str | None] = field(default_factory=dict)  # by event id
    # By due alert id; the highest level, then score, first (as chat messages name them).
    siblings: dict[int, list[OpenSibling]] = field(default_factory=dict)
    endpoints: tuple[WebhookTarget, ...] = ()  # every active webhook endpoint


async def load_context(
    session: AsyncSession, alerts: Sequence[DueAlert], now: datetime, presence_window_s: int
) -> Context:
    """Load the people, events and watches of `alerts` in a few bulk queries."""
    ctx = Context()
    user_ids = sorted({a.user_id for a in alerts})
    recipients = await load_recipients(session, user_ids)
    prefs = {
        p.user_id: p
        for p in (
            await session.execute(select(Preference).where(Preference.user_id.in_(user_ids)))
        ).scalars()
    }
    names = await session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    ctx.names = {int(uid): str(name) for uid, name in names}
    phones: dict[int, str] = {}
    texts_off: dict[int, bool] = {}
    emergency: dict[int, list[str]] = defaultdict(list)
    contacts = await session.execute(
        select(ContactPoint.id, ContactPoint.user_id, ContactPoint.is_emergency,
               ContactPoint.owner_consent_at, ContactPoint.sms_opted_out_at,
               ContactPoint.address_hash)
        .where(ContactPoint.user_id.in_(user_ids), ContactPoint.verified_at.is_not(None))
        .order_by(ContactPoint.id)
    )  # fmt: skip
    # A number listed twice (rows added before `add_contact` merged them) is texted once.
    texted: set[tuple[int, str]] = set()
    for cid, uid, is_emergency, consent, opted_out, number_hash in contacts:
        if not is_emergency:
            phones[uid] = phone_address(cid)
            texts_off[uid] = opted_out is not None
        elif consent is not None and opted_out is None:
            if number_hash is not None:
                if (uid, number_hash) in texted:
                    continue
                texted.add((uid, number_hash))
            emergency[uid].append(phone_address(cid))
    seen = await session.execute(
        select(Presence.user_id, Presence.platform)
        .where(
            Presence.user_id.in_(user_ids),
            Presence.last_seen_at >= now - timedelta(seconds=presence_window_s),
        )
        .order_by(Presence.last_seen_at.desc())
    )
    active: dict[int, list[str]] = defaultdict(list)
    for uid, platform in seen:
        active[uid].append(platform)
    sent: dict[int, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    recent = await session.execute(
        select(Notification.user_id, Notification.channel, Notification.address,
               Notification.created_at)
        .where(
            Notification.user_id.in_(user_ids),
            Notification.kind == ESCALATION_KIND,
            Notification.channel.in_((ChannelKind.SMS.value, ChannelKind.VOICE.value)),
            Notification.created_at > now - timedelta(days=1),
            Notification.status != NotificationStatus.CANCELLED.value,
        )
    )  # fmt: skip
    for owner, channel, address, created in recent:
        if owner is not None:
            key = channel if address == phones.get(owner) else "emergency"
            sent[owner][key].append(created)
    for uid in user_ids:
        person = recipients.get(uid)
        pref = prefs.get(uid)
        if person is None:
            continue
        ctx.people[uid] = PersonNow(
            timezone=person.timezone,
            quiet_start=person.quiet_start,
            quiet_end=person.quiet_end,
            voice_start=pref.voice_start if pref else None,
            voice_end=pref.voice_end if pref else None,
            wake_for_critical=bool(pref.wake_for_critical) if pref else False,
            chats=person.destinations,
            min_levels=person.min_level_per_channel,
            active_platforms=tuple(active.get(uid, ())),
            phone=phones.get(uid),
            sms_opted_out=texts_off.get(uid, False),
            escalation_overrides=person.escalation_overrides,
            emergency=tuple(emergency.get(uid, ())),
            sent={k: list(v) for k, v in sent[uid].items()},
        )
    event_ids = {a.event_id for a in alerts}
    ctx.events = {
        e.id: e
        for e in (await session.execute(select(Event).where(Event.id.in_(event_ids)))).scalars()
    }
    ctx.currencies = await event_currencies(session, event_ids)
    watch_ids = {a.watch_id for a in alerts}
    ctx.watches = {
        w.id: w
        for w in (
            await session.execute(select(WatchRow).where(WatchRow.id.in_(watch_ids)))
        ).scalars()
    }
    ctx.siblings = await _open_siblings(session, alerts, ctx.watches)
    ctx.endpoints = await load_webhooks(session)
    return ctx


async def _open_siblings(
    session: AsyncSession, alerts: Sequence[DueAlert], watches: dict[int, WatchRow]
) -> dict[int, list[OpenSibling]]:
    """Each due alert's `OpenSibling`s, read when its step fires: an alert acknowledged,
    snoozed or resolved since the message that told of it is not named again.

    The person's other open alerts about the event, to the same destination.
    """
    found = await open_alerts_by_place(
        session, {a.user_id for a in alerts}, {a.event_id for a in alerts}
    )
    out: dict[int, list[OpenSibling]] = {}
    for alert in alerts:
        watch = watches.get(alert.watch_id)
        where = watch.destination_address if watch is not None else None
        group = found.get((alert.user_id, alert.event_id, where), ())
        mine = [sibling for sibling in group if sibling.alert_id != alert.id]
        if mine:
            out[alert.id] = mine
    return out
