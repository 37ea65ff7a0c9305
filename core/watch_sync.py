"""Keeps a process's in-memory watch index in step with watches changed elsewhere.

Watches changed in this process reach the index through the handlers' hook at once;
watches changed by another process (the CLI, a web process, another worker) are picked
up here, from `watches.updated_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Watch
from core.rules import WatchIndex, spec_from_row

# Rows committed a little before the last refresh may carry an older updated_at than
# the newest one seen (clocks of several processes, long transactions): look back this far.
OVERLAP = timedelta(seconds=30)


class WatchSync:
    """Refreshes a WatchIndex from rows updated since the last refresh."""

    def __init__(self, index: WatchIndex, since: datetime | None = None) -> None:
        self._index = index
        self._since = since

    async def refresh(self, session: AsyncSession) -> int:
        """Apply every watch updated since the last call to the index; return how many."""
        query = select(Watch).order_by(Watch.updated_at)
        if self._since is not None:
            query = query.where(Watch.updated_at >= self._since - OVERLAP)
        rows = list((await session.execute(query)).scalars())
        for row in rows:
            self._index.add(spec_from_row(row), stamp=row.updated_at)
        if rows:
            newest = rows[-1].updated_at
            self._since = newest if self._since is None else max(self._since, newest)
        return len(rows)
