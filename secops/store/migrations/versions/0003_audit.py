"""audit: audit results per host and check.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Host keys live in secops' own known_hosts file (OpenSSH format), not in the database.
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("endpoint_code", sa.String(length=64), nullable=True),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("transport", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error_kind", sa.String(length=30), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("os_info", sa.Text(), nullable=True),
        sa.Column("protection", sa.String(length=20), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column("protection_detail", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("round_trips", sa.Integer(), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_audit_hosts_endpoint_id_endpoints"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_audit_hosts_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_hosts")),
    )
    with op.batch_alter_table("audit_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_hosts_endpoint_id"), ["endpoint_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_hosts_run_id"), ["run_id"], unique=False)
    op.create_table(
        "audit_check_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("check_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("serves", sa.JSON(), nullable=False),
        sa.Column("remediation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["audit_hosts.id"], name=op.f("fk_audit_check_results_host_id_audit_hosts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_check_results")),
    )
    with op.batch_alter_table("audit_check_results", schema=None) as batch_op:
        batch_op.create_index("ix_audit_check_host_result", ["host_id", "result"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_check_results", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_check_host_result")
    op.drop_table("audit_check_results")
    with op.batch_alter_table("audit_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_hosts_run_id"))
        batch_op.drop_index(batch_op.f("ix_audit_hosts_endpoint_id"))
    op.drop_table("audit_hosts")
