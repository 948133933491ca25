"""discovery: hosts, ports and raw XML per discovery run (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Reserved in the chain so the feature stages can land in any order; filled in by the
issue that builds the stage.
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
