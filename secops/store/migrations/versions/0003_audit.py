"""audit: audit results per host and check, host keys (issue 4).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Reserved in the chain so the feature stages can land in any order; filled in by the
issue that builds the stage.
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
