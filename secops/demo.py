"""`secops demo`: the main job on the embedded default, end to end, in one command.

Creates a SQLite database in the demo folder, loads the synthetic sample province, grades it
and writes the dashboard with its exports. Stages that exist (discovery, audit) join in as they
land, always against local targets only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from secops.cliutil import console, state, user_errors
from secops.grade.cli import run_grade
from secops.inventory.load_sample import load_sample
from secops.report.publish import publish
from secops.report.terminal import print_summary


@user_errors
def demo_command(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("secops-demo"), "--dir", help="folder for the demo database and reports"),
    endpoints: int = typer.Option(10_000, "--endpoints", min=1, max=1_000_000, help="sample size"),
    seed: int = typer.Option(85, "--seed"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en"),
) -> None:
    """Run the whole pipeline on the synthetic sample province (SQLite, local only)."""
    app_state = state(ctx)
    if app_state.settings.db is None:  # keep the sample out of the user's real database
        app_state.use_database(str((folder / "secops.db").resolve()))
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    db = app_state.db()
    console.print(f"database: {db.url}", highlight=False, markup=False)
    load_sample(db, now, endpoints=endpoints, seed=seed)
    run_id = run_grade(app_state, now)
    dashboard, files = publish(db, app_state.settings, folder / "reports", run_id=run_id, lang=lang)
    print_summary(console, dashboard)
    for name, path in files.items():
        console.print(f"wrote {path.resolve()}", highlight=False, markup=False)
