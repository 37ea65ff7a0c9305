"""users.settings_changed_at: other processes reload a person's cached settings

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("settings_changed_at", sa.DateTime(timezone=True)))
    op.create_index(
        op.f("ix_users_settings_changed_at"), "users", ["settings_changed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_users_settings_changed_at"), table_name="users")
    op.drop_column("users", "settings_changed_at")
