"""inventory lifecycle: retired records and reorganisation links.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01

Agencies, systems, endpoints and staff gain `retired_at` (a date) and `retired_reason`: a retired
record is kept with its history and leaves grading from that date on. `agency_links` records
merges and splits (predecessor -> successor, effective date).
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("agencies", "information_systems", "endpoints", "staff")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("retired_at", sa.Date(), nullable=True))
            batch_op.add_column(sa.Column("retired_reason", sa.Text(), nullable=True))
    op.create_table(
        "agency_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("predecessor_id", sa.Integer(), nullable=False),
        sa.Column("successor_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["predecessor_id"], ["agencies.id"],
                                name=op.f("fk_agency_links_predecessor_id_agencies")),
        sa.ForeignKeyConstraint(["successor_id"], ["agencies.id"], name=op.f("fk_agency_links_successor_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_links")),
        sa.UniqueConstraint("predecessor_id", "successor_id", name="uq_agency_link"),
    )
    with op.batch_alter_table("agency_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_links_predecessor_id"), ["predecessor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agency_links_successor_id"), ["successor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agency_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_links_successor_id"))
        batch_op.drop_index(batch_op.f("ix_agency_links_predecessor_id"))
    op.drop_table("agency_links")
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("retired_reason")
            batch_op.drop_column("retired_at")
