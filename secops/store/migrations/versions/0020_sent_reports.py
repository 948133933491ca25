"""sent_reports: the archive of annual reports (Form 08) generated with --record-sent.

Revision ID: 0020
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("regime", sa.String(length=40), nullable=False),
        sa.Column("owner_code", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Boolean(), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("recipient_name", sa.String(length=300), nullable=False),
        sa.Column("formats", sa.String(length=60), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_reports")),
    )
    with op.batch_alter_table("sent_reports", schema=None) as batch_op:
        batch_op.create_index("ix_sent_reports_year_owner", ["year", "owner_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sent_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_sent_reports_year_owner")
    op.drop_table("sent_reports")
