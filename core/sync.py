"""Keeps a process's cached people and webhook endpoints in step with other processes.

The alert engine caches each person's zone, quiet hours, preferences and destinations,
and the webhook endpoints, for minutes (`core.recipients.RecipientCache`). A change made
in this process reaches the cache at once (`CommandHandlers(person_hook=...)`, the REST
routes); one made by another process — a second web process, the CLI, the worker's
`learn` job — is picked up here, from `users.settings_changed_at`, within one run of the
`people-sync` job. The endpoint list is small and simply read again each run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import User
from core.watch_sync import OVERLAP


async def mark_settings_changed(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Mark the person's cached settings stale for every process (in the caller's
    transaction)."""
    await session.execute(update(User).where(User.id == user_id).values(settings_changed_at=now))


class PeopleSync:
    """Tells `forget` about people whose settings changed since the last refresh."""

    def __init__(
        self,
        forget: Callable[[int], None],
        forget_webhooks: Callable[[], None],
        since: datetime | None = None,
    ) -> None:
        self._forget = forget
        self._forget_webhooks = forget_webhooks
        self._since = since

    async def refresh(self, session: AsyncSession) -> int:
        """Forget every person changed since the last call (and the endpoint list);
        return how many people."""
        query = select(User.id, User.settings_changed_at).where(
            User.settings_changed_at.is_not(None)
        )
        if self._since is not None:
            query = query.where(User.settings_changed_at >= self._since - OVERLAP)
        rows = [(user_id, at) for user_id, at in await session.execute(query) if at is not None]
        for user_id, _ in rows:
            self._forget(user_id)
        if rows:
            newest = max(at for _, at in rows)
            self._since = newest if self._since is None else max(self._since, newest)
        self._forget_webhooks()
        return len(rows)
