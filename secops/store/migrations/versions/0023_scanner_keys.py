"""remote scanners: enrolled public keys of the sites; longer task ids (site-prefixed); a discovered
address unique per chunk (so per agency and site), not per run.

Revision ID: 0023
Revises: 0010
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scanner_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scanner_keys")),
        sa.UniqueConstraint("site", name=op.f("uq_scanner_keys_site")),
    )
    with op.batch_alter_table("remote_tasks", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=64), type_=sa.String(length=128),
                              existing_nullable=False)
    with op.batch_alter_table("discovered_hosts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_discovered_host_address", type_="unique")
        batch_op.create_unique_constraint("uq_discovered_host_address", ["run_id", "chunk_id", "address"])


def downgrade() -> None:
    with op.batch_alter_table("discovered_hosts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_discovered_host_address", type_="unique")
        batch_op.create_unique_constraint("uq_discovered_host_address", ["run_id", "address"])
    with op.batch_alter_table("remote_tasks", schema=None) as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=128), type_=sa.String(length=64),
                              existing_nullable=False)
    op.drop_table("scanner_keys")
