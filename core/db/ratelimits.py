"""Rate-limit state shared through the database (`core.ratelimit.SharedLimits`).

For several delivering processes on PostgreSQL (DESIGN.md §11): each claimed batch books
its sends in one transaction that locks the batch's scope rows in key order, so two
processes never book the same slot and never deadlock on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import RateLimitState
from core.db.statements import insert_skipping
from core.ports import Clock
from core.ratelimit import Limit, Scope, SharedSlot, book_shared, penalise_shared, scope_key

_T = cast(Table, RateLimitState.__table__)
_WRITE = (
    update(_T)
    .where(_T.c.scope == bindparam("b_scope"))
    .values(tat=bindparam("b_tat"), blocked_until=bindparam("b_blocked"))
)


class DatabaseLimits:
    """`SharedLimits` in the `rate_limit_state` table."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        limit_for: Callable[[Scope], Limit | None],
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._limit_for = limit_for

    async def reserve_many(
        self, requests: Sequence[tuple[Scope, ...]], max_wait: float
    ) -> list[float]:
        """Book each request in order (see `book_shared`); one transaction per call."""
        scopes = {scope for request in requests for scope in request}
        if not scopes:
            return [0.0 for _ in requests]
        async with self._sessions() as session, session.begin():
            slots = await self._lock(session, scopes)
            before = {scope: (slot.tat, slot.blocked_until) for scope, slot in slots.items()}
            now = self._clock.now().timestamp()
            waits = [book_shared(slots, r, self._limit_for, now, max_wait) for r in requests]
            await self._write(session, slots, before)
        return waits

    async def penalise(self, scope: Scope, retry_after: float) -> None:
        """Block `scope` for every process (a platform's 429)."""
        async with self._sessions() as session, session.begin():
            slots = await self._lock(session, {scope})
            penalise_shared(slots[scope], self._clock.now().timestamp(), retry_after)
            await self._write(session, slots, {})

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(select(_T.c.scope).limit(1))

    async def aclose(self) -> None:
        """Nothing to release: the sessions belong to the container."""

    async def _lock(self, session: AsyncSession, scopes: set[Scope]) -> dict[Scope, SharedSlot]:
        by_key = {scope_key(scope): scope for scope in scopes}
        keys = sorted(by_key)
        await session.execute(
            insert_skipping(session, _T, ["scope"]),
            [{"scope": key, "tat": 0.0, "blocked_until": 0.0} for key in keys],
        )
        query = select(_T.c.scope, _T.c.tat, _T.c.blocked_until).where(_T.c.scope.in_(keys))
        if session.get_bind().dialect.name == "postgresql":
            query = query.order_by(_T.c.scope).with_for_update()
        rows = await session.execute(query)
        return {by_key[key]: SharedSlot(tat, blocked) for key, tat, blocked in rows}

    @staticmethod
    async def _write(
        session: AsyncSession,
        slots: dict[Scope, SharedSlot],
        before: dict[Scope, tuple[float, float]],
    ) -> None:
        changed = [
            {"b_scope": scope_key(scope), "b_tat": slot.tat, "b_blocked": slot.blocked_until}
            for scope, slot in slots.items()
            if before.get(scope) != (slot.tat, slot.blocked_until)
        ]
        if changed:
            await session.execute(_WRITE, changed)
