"""Logging a failure that repeats (a database or a store that is away) without a flood.

A loop that fails every second would otherwise write a long traceback every second for
as long as the outage lasts. `RepeatedFailures` writes the first failure of a kind with
its traceback (or, when the database cannot be reached, one line saying so: every loop
of the process fails at once then, for the same known reason), then at most one line a
minute per kind (counting the ones left out), and one line when the work succeeds again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.db.engine import database_unavailable

QUIET_S = 60.0


@dataclass(slots=True)
class _Streak:
    failures: int = 0
    left_out: int = 0
    logged_at: float = 0.0


class RepeatedFailures:
    """Logs failures of named pieces of work to `logger`, one full traceback per streak."""

    def __init__(
        self,
        logger: logging.Logger,
        every_s: float = QUIET_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every = every_s
        self._now = monotonic
        self._streaks: dict[str, _Streak] = {}

    def failed(self, what: str, exc: BaseException) -> None:
        """Call from an `except` block: the traceback first, then a line now and then."""
        streak = self._streaks.setdefault(what, _Streak())
        streak.failures += 1
        now = self._now()
        if streak.failures == 1:
            if (outage := database_unavailable(exc)) is not None:
                self._logger.error("%s failed: %s", what, outage)
            else:
                self._logger.error("%s failed", what, exc_info=exc)
            streak.logged_at = now
        elif now - streak.logged_at >= self._every:
            self._logger.warning(
                "%s still failing (%d times, %d not logged): %s: %s",
                what, streak.failures, streak.left_out, type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )  # fmt: skip
            streak.logged_at, streak.left_out = now, 0
        else:
            streak.left_out += 1

    def succeeded(self, what: str) -> None:
        """Call after the work went through: ends a streak with one line."""
        streak = self._streaks.pop(what, None)
        if streak is not None and streak.failures > 1:
            self._logger.warning("%s works again after %d failures", what, streak.failures)
