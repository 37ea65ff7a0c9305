"""Ingest: validate, normalise and store market snapshots, then hand them to the engine.

`schema` is the wire format, `rules` the domain checks every source passes, `events` and
`store` the bulk storage, `service` the transaction around it all (DESIGN.md §3).
"""

from core.ingest.events import EventCache, KnownEvent
from core.ingest.rules import FUTURE_TOLERANCE, check_snapshot, check_source, is_timezone
from core.ingest.schema import MAX_BATCH, parse_envelope, parse_item
from core.ingest.service import (
    IngestReport,
    IngestService,
    Rejection,
    Signal,
    SnapshotProcessor,
)
from core.ingest.store import StoreResult, store_snapshots

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_BATCH",
    "EventCache",
    "IngestReport",
    "IngestService",
    "KnownEvent",
    "Rejection",
    "Signal",
    "SnapshotProcessor",
    "StoreResult",
    "check_snapshot",
    "check_source",
    "is_timezone",
    "parse_envelope",
    "parse_item",
    "store_snapshots",
]
