"""The metrics port: core counts and times things; `bot/` exports them to Prometheus."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Protocol

Labels = Mapping[str, str]


class Metrics(Protocol):
    """Hides the metrics backend. Reference implementation: `bot.metrics.PrometheusMetrics`.

    Names used by core: snapshots_ingested, alerts_opened (level), notifications
    (channel, status), delivery_latency_seconds (channel), queue_depth.
    """

    def count(self, name: str, amount: float = 1.0, labels: Labels | None = None) -> None:
        """Add `amount` to counter `name`."""
        ...

    def observe(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Record one observation of histogram `name`."""
        ...

    def gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Set gauge `name` to `value`."""
        ...


class NullMetrics:
    """Drops everything; the default where nobody reads metrics."""

    def count(self, name: str, amount: float = 1.0, labels: Labels | None = None) -> None:
        return None

    def observe(self, name: str, value: float, labels: Labels | None = None) -> None:
        return None

    def gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        return None


class RecordingMetrics:
    """Keeps everything in memory, for tests."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self.observations: list[tuple[str, float, dict[str, str]]] = []
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    @staticmethod
    def _key(name: str, labels: Labels | None) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted((labels or {}).items()))

    def count(self, name: str, amount: float = 1.0, labels: Labels | None = None) -> None:
        self.counts[self._key(name, labels)] += amount  # type: ignore[assignment]

    def observe(self, name: str, value: float, labels: Labels | None = None) -> None:
        self.observations.append((name, value, dict(labels or {})))

    def gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        self.gauges[self._key(name, labels)] = value

    def total(self, name: str) -> float:
        return float(sum(v for (n, _), v in self.counts.items() if n == name))
