"""schedule: scheduler job store, run stages and locks (issue 5).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Reserved in the chain so the feature stages can land in any order; filled in by the
issue that builds the stage.
"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
