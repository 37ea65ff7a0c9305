"""Who gets an alert: people's destinations and settings, and webhook endpoints, cached.

`load_recipients` batch-loads many people in three queries, ordering each person's
chat destinations exactly like `core.routing.destinations`. `RecipientCache` keeps the
answers for `ttl_s` seconds (by the injected `now`); call `invalidate(user_id)` after a
person's identities or preferences change, and `invalidate_webhooks()` after an
endpoint changes. Another process (the CLI) cannot invalidate this cache: an endpoint it
disables or removes may still be planned for until the cache expires; such rows insert
(the endpoint's row stays) and delivery cancels them unsent (core.delivery_lifecycle).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Identity, Preference, User, WebhookEndpoint
from core.delivery_plan import Recipient, WebhookTarget
from core.domain import ChannelKind
from core.routing import DEFAULT_ORDER, PLATFORM_CHANNEL, Destination

_CHUNK = 500
_KNOWN = frozenset(kind.value for kind in ChannelKind)
# Plain column rows, not ORM entities: people are loaded by the hundred on the hot path.
_USERS = select(
    User.id,
    User.timezone,
    User.quiet_start,
    User.quiet_end,
    User.learned_weights,
    User.feedback_count,
)
_PREFS = select(
    Preference.user_id,
    Preference.channel_order,
    Preference.min_level_per_channel,
    Preference.digest_schedule,
    Preference.escalation_overrides,
)


def _order(
    channel_order: Iterable[object], by_channel: dict[ChannelKind, str]
) -> tuple[Destination, ...]:
    order = [ChannelKind(str(name)) for name in channel_order if name in _KNOWN]
    order += [c for c in DEFAULT_ORDER if c not in order]
    return tuple(Destination(c, by_channel[c]) for c in order if c in by_channel)


async def load_recipients(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, Recipient]:
    """Load people, their preferences and reachable chat identities (3 queries a chunk)."""
    wanted = sorted(set(user_ids))
    out: dict[int, Recipient] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        users = (await session.execute(_USERS.where(User.id.in_(chunk)))).all()
        prefs = {
            p.user_id: p for p in await session.execute(_PREFS.where(Preference.user_id.in_(chunk)))
        }
        chats: dict[int, dict[ChannelKind, str]] = {}
        identities = await session.execute(
            select(Identity.user_id, Identity.platform, Identity.dm_address)
            .where(Identity.user_id.in_(chunk), Identity.unreachable_at.is_(None))
            .order_by(Identity.id)
        )
        for user_id, platform, address in identities:
            channel = PLATFORM_CHANNEL.get(platform)
            if channel is not None and address:
                chats.setdefault(user_id, {}).setdefault(channel, address)
        for user in users:
            pref = prefs.get(user.id)
            out[user.id] = Recipient(
                user_id=user.id,
                timezone=user.timezone or "UTC",
                quiet_start=user.quiet_start,
                quiet_end=user.quiet_end,
                destinations=_order(pref.channel_order if pref else (), chats.get(user.id, {})),
                min_level_per_channel=dict(pref.min_level_per_channel or {}) if pref else {},
                digest_schedule=pref.digest_schedule if pref else None,
                escalation_overrides=dict(pref.escalation_overrides or {}) if pref else {},
                learned_weights=user.learned_weights,
                feedback_count=user.feedback_count or 0,
            )
    return out


async def load_webhooks(session: AsyncSession) -> tuple[WebhookTarget, ...]:
    """Every active webhook endpoint (not removed), with the event types it subscribed to."""
    rows = await session.execute(
        select(
            WebhookEndpoint.id,
            WebhookEndpoint.user_id,
            WebhookEndpoint.event_types,
            WebhookEndpoint.url,
        ).where(WebhookEndpoint.active.is_(True), WebhookEndpoint.removed_at.is_(None))
    )
    return tuple(
        WebhookTarget(id_, user_id, frozenset(str(t) for t in types or ()), url)
        for id_, user_id, types, url in rows
    )


class RecipientCache:
    """People and webhook endpoints, cached for `ttl_s` seconds of injected time."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._people: dict[int, tuple[datetime, Recipient]] = {}
        self._webhooks: tuple[datetime, tuple[WebhookTarget, ...]] | None = None

    def invalidate(self, user_id: int | None = None) -> None:
        """Forget one person (or everyone when `user_id` is None)."""
        if user_id is None:
            self._people.clear()
        else:
            self._people.pop(user_id, None)

    def invalidate_webhooks(self) -> None:
        self._webhooks = None

    async def get_many(
        self, session: AsyncSession, user_ids: Iterable[int], now: datetime
    ) -> dict[int, Recipient]:
        """Return the people `user_ids` (unknown ids are left out), loading the stale ones."""
        out: dict[int, Recipient] = {}
        missing: list[int] = []
        for user_id in set(user_ids):
            cached = self._people.get(user_id)
            if cached is not None and now - cached[0] < self._ttl:
                out[user_id] = cached[1]
            else:
                missing.append(user_id)
        if missing:
            for user_id, person in (await load_recipients(session, missing)).items():
                self._people[user_id] = (now, person)
                out[user_id] = person
        return out

    async def webhooks(self, session: AsyncSession, now: datetime) -> tuple[WebhookTarget, ...]:
        if self._webhooks is None or now - self._webhooks[0] >= self._ttl:
            self._webhooks = (now, await load_webhooks(session))
        return self._webhooks[1]
