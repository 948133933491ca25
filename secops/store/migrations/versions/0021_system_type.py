"""register: the system type (Decree 331/2026 Art. 9.2) and the national-security list (Art. 20.4).

Revision ID: 0021
Revises: 0010
Create Date: 2026-12-07

`information_systems` gains `system_type` (internal, public_service, infrastructure,
industrial_control, other; NULL = not yet classified) and `national_security_list` (the system is on
the list of information systems important to national security). Form 08 section 1 counts the
classified systems from the type, not from the proposed level.
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of the table): on SQLite a batch rebuild drops the old table,
    # and its ON DELETE CASCADE would take every system's assessments with it.
    op.add_column("information_systems", sa.Column("system_type", sa.String(length=30), nullable=True))
    op.add_column("information_systems", sa.Column("national_security_list", sa.Boolean(), nullable=False,
                                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("information_systems", schema=None) as batch_op:
        batch_op.drop_column("national_security_list")
        batch_op.drop_column("system_type")
