"""run requests carry their parameters: an evidence import queued by the console (the spooled
file's name, the agency subtree, the export's options) is done by the daemon; a schedule can be
disabled (kept, but the daemon does not run it).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("agency_code", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_run_requests_agency_code"), ["agency_code"], unique=False)
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("enabled")
    with op.batch_alter_table("run_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_requests_agency_code"))
        batch_op.drop_column("agency_code")
        batch_op.drop_column("params")
