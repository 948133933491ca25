"""register: level-dossier register fields on systems and their assessments

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

The former lifecycle `state` is mapped onto the register (secops.models.STATE_TO_REGISTER):
unclassified -> not_started / not_deployed; dossier_submitted -> sent_for_appraisal / not_deployed,
its level becoming the *proposed* level; level_approved -> approved / not_deployed;
plan_deployed -> approved / fully_deployed. A system's last_inspection_date becomes a periodic
assessment whose assessor is unknown. `state` stays, kept in step by the importer.
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MIGRATED_ASSESSOR = "(không rõ - chuyển từ last_inspection_date / unknown, from last_inspection_date)"


def upgrade() -> None:
    op.create_table('system_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('assessor', sa.String(length=300), nullable=False),
    sa.Column('independent', sa.Boolean(), nullable=False),
    sa.Column('report_ref', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['system_id'], ['information_systems.id'], name=op.f('fk_system_assessments_system_id_information_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_system_assessments')),
    sa.UniqueConstraint('system_id', 'kind', 'date', name='uq_assessment')
    )
    with op.batch_alter_table('system_assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_system_assessments_system_id'), ['system_id'], unique=False)

    with op.batch_alter_table('information_systems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operator', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('proposed_level', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approval_status', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('approval_body', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('regulation_decision', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('regulation_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('regulation_body', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('expected_approval_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('plan_deployment', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('expected_deployment_date', sa.Date(), nullable=True))

    op.execute("""UPDATE information_systems SET
        approval_status = CASE state WHEN 'dossier_submitted' THEN 'sent_for_appraisal'
            WHEN 'level_approved' THEN 'approved' WHEN 'plan_deployed' THEN 'approved' ELSE 'not_started' END,
        plan_deployment = CASE state WHEN 'plan_deployed' THEN 'fully_deployed' ELSE 'not_deployed' END,
        proposed_level = level""")
    # A submitted dossier's level was only proposed; `level` now means the approved level.
    op.execute("UPDATE information_systems SET level = NULL WHERE approval_status <> 'approved'")

    with op.batch_alter_table('information_systems', schema=None) as batch_op:
        batch_op.alter_column('approval_status', existing_type=sa.String(length=30), nullable=False)
        batch_op.alter_column('plan_deployment', existing_type=sa.String(length=20), nullable=False)
        batch_op.create_index(batch_op.f('ix_information_systems_approval_status'), ['approval_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_information_systems_plan_deployment'), ['plan_deployment'], unique=False)
    # Last: SQLite's batch mode rebuilds information_systems, and dropping the old copy would
    # cascade-delete rows that point at it.
    op.execute(sa.text("""INSERT INTO system_assessments (system_id, kind, date, assessor, independent, report_ref)
        SELECT id, 'periodic', last_inspection_date, :assessor, :no, NULL FROM information_systems
        WHERE last_inspection_date IS NOT NULL""").bindparams(assessor=MIGRATED_ASSESSOR, no=False))


def downgrade() -> None:
    op.execute("UPDATE information_systems SET level = proposed_level "
               "WHERE level IS NULL AND state = 'dossier_submitted'")
    with op.batch_alter_table('information_systems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_information_systems_plan_deployment'))
        batch_op.drop_index(batch_op.f('ix_information_systems_approval_status'))
        for column in ('expected_deployment_date', 'plan_deployment', 'expected_approval_date', 'regulation_body',
                       'regulation_date', 'regulation_decision', 'approval_body', 'approval_status',
                       'proposed_level', 'operator'):
            batch_op.drop_column(column)
    with op.batch_alter_table('system_assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_system_assessments_system_id'))
    op.drop_table('system_assessments')
