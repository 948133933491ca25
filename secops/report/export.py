"""JSON and CSV exports of the dashboard data, and writing the output folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from secops.report.data import Dashboard
from secops.report.render import render_html

GRADE_COLUMNS = ["run_id", "target_id", "agency_code", "agency_name", "agency_kind", "parent", "numerator",
                 "denominator", "unknown", "value", "threshold", "comparison", "status", "gap"]
FIX_COLUMNS = ["target_id", "entity", "agency_code", "agency_name", "code", "label", "status", "reason", "detail"]
FORMATS = ("html", "json", "csv")


def _safe_cell(value: object) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs (CSV injection);
    # hostnames and banners are untrusted, so such cells get a leading apostrophe.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_csv(d: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GRADE_COLUMNS)
    for agency in d.agencies:
        for target in d.targets:
            c = agency.cells.get(target.id)
            if c is None:
                continue
            writer.writerow([_safe_cell(v) for v in (
                d.run.id, c.target_id, agency.code, agency.name, agency.kind, agency.parent, c.numerator,
                c.denominator, c.unknown, "" if c.value is None else f"{c.value:.4f}", c.threshold, c.comparison,
                c.status, "" if c.gap is None else c.gap)])
    return out.getvalue()


def fix_csv(d: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIX_COLUMNS)
    for item in d.fix:
        writer.writerow([_safe_cell(v) for v in (
            item.target_id, item.entity, item.agency_code, item.agency_name, item.code, item.label, item.status,
            item.reason, json.dumps(item.detail, ensure_ascii=False, default=str) if item.detail else "")])
    return out.getvalue()


def write_outputs(d: Dashboard, folder: Path, templates: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write each file to a temporary name and rename it, so a reader never sees half a report."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if "html" in formats:
        files["dashboard.html"] = render_html(d, templates)
    if "json" in formats:
        files["dashboard.json"] = d.model_dump_json(indent=2)
    if "csv" in formats:
        files["grades.csv"] = grades_csv(d)
        files["fix.csv"] = fix_csv(d)
    written: dict[str, Path] = {}
    for name, text in files.items():
        path = folder / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written[name] = path
    return written
