"""Streamed reports: fix.csv, dashboard.json and dashboard.html equal what the whole-list
implementation wrote (reference fix lists from loaded facts, one in-memory dump)."""

from __future__ import annotations

import datetime as dt
import json

from secops.grade.cli import run_grade
from secops.grade.sql import endpoint_max_age
from secops.inventory.tree import load_agencies
from secops.report.data import FIX_PREVIEW
from secops.report.export import fix_csv
from secops.report.publish import publish
from secops.report.render import render_html
from secops.sample.load import load_sample
from secops.targets import load_targets
from tests.reference_grader import load_facts, reference_fix_items

AS_OF = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def reference_outputs(app_state, dashboard):  # type: ignore[no-untyped-def]
    """What report/export.py wrote before streaming: every item in the model, dumped at once."""
    policy = load_targets(app_state.settings.policies)
    with app_state.db().session() as session:
        facts = load_facts(session, AS_OF, endpoint_max_age(policy))
        everything = reference_fix_items(policy, facts, set(load_agencies(session)))
    full = dashboard.model_copy(update={"fix": everything})
    # As the whole-list export dumped it: sections without the detail pages' content.
    dumped = full.model_copy(update={"sections": {
        name: {k: v for k, v in data.items() if k != "pages"} if isinstance(data, dict) else data
        for name, data in full.sections.items()}}).model_dump_json(indent=2)
    return full, fix_csv(full), json.loads(dumped)


def test_streamed_exports_equal_whole_list_exports(app_state, tmp_path):
    load_sample(app_state.db(), AS_OF, endpoints=3000)
    run_id = run_grade(app_state, AS_OF)
    dashboard, files = publish(app_state.db(), app_state.settings, tmp_path / "out", run_id=run_id, lang="en")
    full, csv_text, json_data = reference_outputs(app_state, dashboard)
    assert sum(1 for f in full.fix if f.entity == "endpoints") > FIX_PREVIEW  # the preview is really cut
    assert files["fix.csv"].read_text(encoding="utf-8") == csv_text
    written = json.loads(files["dashboard.json"].read_text(encoding="utf-8"))
    assert written == json_data
    assert dashboard.fix_counts == {t: sum(1 for f in full.fix if f.target_id == t) for t in dashboard.fix_counts}
    html = files["dashboard.html"].read_text(encoding="utf-8")
    assert html == render_html(full, app_state.settings.reports)
