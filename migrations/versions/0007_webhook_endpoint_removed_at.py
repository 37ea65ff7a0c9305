"""webhook_endpoints.removed_at: removing an endpoint keeps its row and delivery history

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    # Removed endpoints stay, inactive with disabled_reason "removed": no history lost.
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("removed_at")
