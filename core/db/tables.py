"""Plain Core tables of the ORM models, for bulk statements.

Core `insert`/`update` with executemany skip the ORM's per-row bookkeeping; the engine,
announcements, escalation and the outbox write through these.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from core.db.models import Alert, AuditEntry, Notification, Watch

ALERTS = cast(Table, Alert.__table__)
AUDIT_LOG = cast(Table, AuditEntry.__table__)
NOTIFICATIONS = cast(Table, Notification.__table__)
WATCHES = cast(Table, Watch.__table__)
