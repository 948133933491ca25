"""evidence from protection consoles: console status text, central management.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Console exports say more than protected/unprotected: the console's own status text is kept
beside the mapped status, with whether the endpoint is centrally managed and whether the console
reports to the national platform (unknown = NULL, never assumed).
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('protection_evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('console_status', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('centrally_managed', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('reports_to_national_platform', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('protection_evidence', schema=None) as batch_op:
        batch_op.drop_column('reports_to_national_platform')
        batch_op.drop_column('centrally_managed')
        batch_op.drop_column('console_status')
