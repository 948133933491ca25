"""Alembic: the schema is built from empty by migrations alone and matches the ORM tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from secops.store.db import HEAD_REVISION, Database, current_revision, head_revision, upgrade
from secops.store.metadata import metadata


def test_upgrade_from_empty_creates_every_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    database = Database(url, migrate=False)
    assert current_revision(database.engine) is None
    upgrade(database.engine)
    assert current_revision(database.engine) == head_revision(url)
    tables = set(inspect(database.engine).get_table_names())
    assert {"agencies", "information_systems", "endpoints", "protection_evidence", "staff", "runs", "grades",
            "meta", "alembic_version"} <= tables
    database.dispose()


def test_migrations_match_the_orm_models(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    # Tables managed outside our ORM (e.g. APScheduler's job store) are not ours to compare.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("apscheduler"))]
    assert diff == [], f"ORM and migrations disagree: {diff}"
    database.dispose()


def test_downgrade_to_base_and_back(tmp_path):
    from alembic import command

    from secops.store.db import alembic_config

    url = f"sqlite:///{tmp_path / 'round.db'}"
    database = Database(url)
    cfg = alembic_config(url)
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    upgrade(database.engine)
    assert "endpoints" in inspect(database.engine).get_table_names()
    database.dispose()


def test_opening_a_database_migrates_it_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'open.db'}"
    Database(url).dispose()
    again = Database(url)  # second open: already at head, nothing to do
    assert current_revision(again.engine) == head_revision(url)
    again.dispose()


def test_head_constant_is_alembics_head(tmp_path):
    """Database() compares with HEAD_REVISION instead of loading Alembic: it must be the real head."""
    assert HEAD_REVISION == head_revision(f"sqlite:///{tmp_path / 'x.db'}")


def test_opening_an_up_to_date_database_does_not_load_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'fast.db'}"
    Database(url).dispose()  # made and migrated here
    code = ("import sys; from secops.store.db import Database; d = Database(sys.argv[1]); "
            "d.dispose(); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "False"
    # (a database at an older revision is still upgraded on open: test_register_migration.py opens
    # one made by the 0004 release)
