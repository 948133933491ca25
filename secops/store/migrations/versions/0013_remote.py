"""remote scanners: the tasks sent to each site and their outcome.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A province-wide run scans several agencies (and several sites): one scan row per agency, not per run.
    with op.batch_alter_table("discovery_scans", schema=None) as batch_op:
        batch_op.drop_constraint("uq_discovery_scans_run_id", type_="unique")
        batch_op.create_index(batch_op.f("ix_discovery_scans_run_id"), ["run_id"], unique=False)
    op.create_table(
        "remote_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("scanner", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_remote_tasks_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_tasks")),
        sa.UniqueConstraint("task_id", name=op.f("uq_remote_tasks_task_id")),
    )
    with op.batch_alter_table("remote_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remote_tasks_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("remote_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_tasks_run_id"))
    op.drop_table("remote_tasks")
    with op.batch_alter_table("discovery_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_discovery_scans_run_id"))
        batch_op.create_unique_constraint("uq_discovery_scans_run_id", ["run_id"])
