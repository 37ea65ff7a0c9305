"""contact point ids are never reused (SQLite AUTOINCREMENT)

The outbox addresses a contact point as `cp<id>` and resolves the number only at send
time, so a reused id would send a pending text to whoever got that id next. On SQLite
an INTEGER PRIMARY KEY without AUTOINCREMENT reuses the id of the newest deleted row;
adding AUTOINCREMENT needs a table rebuild. The rebuild starts the id sequence above
every `cp<id>` the outbox still names, so ids freed before this migration are not
handed out either. PostgreSQL sequences never reuse an id: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The highest contact point id the outbox addresses (SMS and voice rows, "cp<id>").
_NAMED = (
    "SELECT COALESCE(MAX(CAST(SUBSTR(address, 3) AS INTEGER)), 0) FROM notifications"
    " WHERE channel IN ('sms', 'voice') AND address LIKE 'cp%'"
)


def _rebuild(autoincrement: bool) -> None:
    with op.batch_alter_table(
        "contact_points",
        recreate="always",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    ):
        pass


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(True)
    # The copy set the sequence to the highest id kept (no row when the table is empty).
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'contact_points', 0"
        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'contact_points')"
    )
    op.execute(
        f"UPDATE sqlite_sequence SET seq = MAX(seq, ({_NAMED})) WHERE name = 'contact_points'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(False)
