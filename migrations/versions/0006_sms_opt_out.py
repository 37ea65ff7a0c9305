"""contact_points.sms_opted_out_at: the phone opted out of texts (STOP, or Twilio 21610)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contact_points",
        sa.Column("sms_opted_out_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("contact_points") as batch:
        batch.drop_column("sms_opted_out_at")
