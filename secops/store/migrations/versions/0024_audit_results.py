"""audit results an officer can act on: per check its evidence, compliance mappings and rationale;
severity only where the pack gives one.

Revision ID: 0024
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_check_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rationale", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("compliance", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("evidence", sa.Text(), nullable=True))
        batch_op.alter_column("severity", existing_type=sa.String(length=10), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE audit_check_results SET severity = 'medium' WHERE severity IS NULL")
    with op.batch_alter_table("audit_check_results", schema=None) as batch_op:
        batch_op.alter_column("severity", existing_type=sa.String(length=10), nullable=False)
        batch_op.drop_column("evidence")
        batch_op.drop_column("compliance")
        batch_op.drop_column("rationale")
