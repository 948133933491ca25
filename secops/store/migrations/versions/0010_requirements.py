"""requirements: system hosts, checklist status history, plan overrides, protection management.

Revision ID: 0010
Revises: 0013
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0013"  # was "0004"; chained after main's head (0013) when main was merged into issue-11
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_hosts",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["information_systems.id"],
                                name=op.f("fk_system_hosts_system_id_information_systems"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_system_hosts_endpoint_id_endpoints"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("system_id", "endpoint_id", name=op.f("pk_system_hosts")),
    )
    with op.batch_alter_table("system_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_hosts_endpoint_id"), ["endpoint_id"], unique=False)
    op.create_table(
        "requirement_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("standard", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("evidence_date", sa.Date(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("responsible_unit", sa.String(length=200), nullable=True),
        sa.Column("milestone", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["information_systems.id"],
                                name=op.f("fk_requirement_status_system_id_information_systems"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_requirement_status_run_id_runs"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirement_status")),
    )
    with op.batch_alter_table("requirement_status", schema=None) as batch_op:
        batch_op.create_index("ix_requirement_status_lookup", ["system_id", "standard", "item_id", "recorded_at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_requirement_status_run_id"), ["run_id"], unique=False)
    op.create_table(
        "plan_deployment_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["information_systems.id"],
                                name=op.f("fk_plan_deployment_overrides_system_id_information_systems"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_deployment_overrides")),
    )
    with op.batch_alter_table("plan_deployment_overrides", schema=None) as batch_op:
        batch_op.create_index("ix_plan_override_lookup", ["system_id", "recorded_at"], unique=False)
    op.create_table(
        "protection_management",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("centrally_managed", sa.Boolean(), nullable=True),
        sa.Column("reports_national", sa.Boolean(), nullable=True),
        sa.Column("console", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"],
                                name=op.f("fk_protection_management_endpoint_id_endpoints"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_protection_management_run_id_runs"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_management")),
    )
    with op.batch_alter_table("protection_management", schema=None) as batch_op:
        batch_op.create_index("ix_protection_management_endpoint_time", ["endpoint_id", "observed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("protection_management", schema=None) as batch_op:
        batch_op.drop_index("ix_protection_management_endpoint_time")
    op.drop_table("protection_management")
    with op.batch_alter_table("plan_deployment_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_override_lookup")
    op.drop_table("plan_deployment_overrides")
    with op.batch_alter_table("requirement_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requirement_status_run_id"))
        batch_op.drop_index("ix_requirement_status_lookup")
    op.drop_table("requirement_status")
    with op.batch_alter_table("system_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_hosts_endpoint_id"))
    op.drop_table("system_hosts")
