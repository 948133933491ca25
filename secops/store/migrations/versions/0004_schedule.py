"""schedule: scheduler job store, run stages and locks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

`apscheduler_jobs` is APScheduler's SQLAlchemyJobStore table. It is created here (same columns
as APScheduler's own definition, declared in secops/schedule/tables.py) so that Alembic owns the
whole schema: APScheduler's create(checkfirst=True) finds it and does nothing, and autogenerate
never proposes to drop it.
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apscheduler_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apscheduler_jobs'))
    )
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apscheduler_jobs_next_run_time'), ['next_run_time'], unique=False)

    op.create_table('scheduler_locks',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('owner', sa.Text(), nullable=False),
    sa.Column('acquired_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_locks'))
    )
    op.create_table('schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('cron', sa.String(length=120), nullable=True),
    sa.Column('every_seconds', sa.Integer(), nullable=True),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('agency_code', sa.String(length=64), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('name', name=op.f('uq_schedules_name'))
    )
    op.create_table('run_stages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_stages_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_stages')),
    sa.UniqueConstraint('run_id', 'position', name='uq_run_stage_position')
    )
    with op.batch_alter_table('run_stages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_stages_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_stages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_stages_run_id'))

    op.drop_table('run_stages')
    op.drop_table('schedules')
    op.drop_table('scheduler_locks')
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apscheduler_jobs_next_run_time'))

    op.drop_table('apscheduler_jobs')
