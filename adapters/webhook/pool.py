"""Free connections for webhook sends, waited for before a request's deadline starts.

aiohttp counts the wait for a pooled connection (the connector allows `limit` at once, and
`limit_per_host` to one host) against `ClientTimeout(total=…)`: a burst to one slowish
receiver then fails requests that were never sent. `ConnectionSlots` mirrors the
connector's two limits with semaphores. A send first takes its slots, with no deadline
(every send ahead of it is bounded by its own timeout), and only then starts its
deadline, so aiohttp always finds a free connection and the timeout covers connecting,
sending and the answer alone. Chosen over a larger `limit_per_host`: a receiver still gets
at most that many connections from us, however long a burst is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from yarl import URL

_Key = tuple[str, str, int | None]
_ALL: _Key = ("", "", None)


class ConnectionSlots:
    """At most `limit` sends at once, and `limit_per_host` to one host (0: no limit).

    Semaphores exist only while a send holds or waits for them, so an idle channel keeps
    none (and none stays bound to an event loop that has ended).
    """

    def __init__(self, limit: int, limit_per_host: int) -> None:
        self._limit = limit
        self._per_host = limit_per_host
        # Per key: its semaphore and how many sends hold or wait for it.
        self._slots: dict[_Key, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, url: URL) -> AsyncIterator[None]:
        """Wait for a free connection to `url`'s host (keyed as aiohttp keys its pool)."""
        async with contextlib.AsyncExitStack() as stack:
            # The host's slot first: a send waiting for its busy host holds no shared one.
            await stack.enter_async_context(
                self._slot((url.scheme, url.host or "", url.port), self._per_host)
            )
            await stack.enter_async_context(self._slot(_ALL, self._limit))
            yield

    @contextlib.asynccontextmanager
    async def _slot(self, key: _Key, size: int) -> AsyncIterator[None]:
        if size <= 0:
            yield
            return
        semaphore, users = self._slots.get(key) or (asyncio.Semaphore(size), 0)
        self._slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[key]
            if users <= 1:
                del self._slots[key]
            else:
                self._slots[key] = (semaphore, users - 1)

    def in_use(self) -> int:
        """How many semaphores exist: 0 when no send holds or waits for a connection."""
        return len(self._slots)
