"""an index of time-snoozed alerts by when their snooze ends (the wake job's query)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SNOOZED = sa.text("status = 'snoozed'")


def upgrade() -> None:
    op.create_index(
        "ix_alerts_snooze_due",
        "alerts",
        ["snoozed_until"],
        sqlite_where=_SNOOZED,
        postgresql_where=_SNOOZED,
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_snooze_due", table_name="alerts")
