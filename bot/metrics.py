"""Prometheus export of the core Metrics port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from core.metrics import Labels

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# name -> (kind, help, label names). Unknown names are ignored rather than crashing a send.
_SPECS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "snapshots_ingested": ("counter", "Market snapshots stored", ()),
    "snapshots_duplicate": ("counter", "Market snapshots ignored as duplicates", ()),
    "snapshots_rejected": ("counter", "Market snapshots rejected as invalid", ()),
    "alerts_opened": ("counter", "Alerts opened, by level", ("level",)),
    "alerts_resolved": ("counter", "Alerts resolved", ()),
    "notifications": ("counter", "Notification outcomes", ("channel", "status")),
    "delivery_latency_seconds": ("histogram", "Alert to platform send latency", ("channel",)),
    "queue_depth": ("gauge", "Outbox rows waiting to be sent", ()),
    "scheduler_runs": ("counter", "Periodic job runs", ("job",)),
}


class PrometheusMetrics:
    """Implements core.metrics.Metrics on a private prometheus registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}
        for name, (kind, doc, labels) in _SPECS.items():
            full = f"hdtickets_{name}"
            if kind == "counter":
                self._metrics[name] = Counter(full, doc, labels, registry=self.registry)
            elif kind == "gauge":
                self._metrics[name] = Gauge(full, doc, labels, registry=self.registry)
            else:
                self._metrics[name] = Histogram(
                    full, doc, labels, registry=self.registry, buckets=_LATENCY_BUCKETS
                )

    def _child(self, name: str, labels: Labels | None) -> Counter | Gauge | Histogram | None:
        metric = self._metrics.get(name)
        if metric is None:
            return None
        wanted = _SPECS[name][2]
        if not wanted:
            return metric
        values = labels or {}
        return metric.labels(*(str(values.get(label, "")) for label in wanted))

    def count(self, name: str, amount: float = 1.0, labels: Labels | None = None) -> None:
        child = self._child(name, labels)
        if isinstance(child, Counter):
            child.inc(amount)

    def observe(self, name: str, value: float, labels: Labels | None = None) -> None:
        child = self._child(name, labels)
        if isinstance(child, Histogram):
            child.observe(value)

    def gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        child = self._child(name, labels)
        if isinstance(child, Gauge):
            child.set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
