"""JSON and CSV exports of the dashboard data, and writing the output folder."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from secops.collect.audit_csv import audit_csv as _audit_csv
from secops.report.data import Dashboard
from secops.report.render import render_html, render_page
from secops.safeio import ensure_folder, subfolder, write_file

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


PAGE_PATH = re.compile(r"[a-z]+/[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.html")


def section_pages(d: Dashboard) -> list[dict]:  # type: ignore[type-arg]
    """Detail pages requested by sections as `pages: [{path, template, context}]`.

    Paths come from data that may derive from the network (endpoint codes), so they are checked
    against a strict pattern: one sub-folder, a plain file name, never `..` or an absolute path.
    """
    pages = []
    for data in d.sections.values():
        for page in (data.get("pages") or []) if isinstance(data, dict) else []:
            if not PAGE_PATH.fullmatch(page["path"]):
                raise ValueError(f"refusing to write report page {page['path']!r}")
            pages.append(page)
    return pages


def write_outputs(d: Dashboard, folder: Path, templates: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write each file to a temporary name and rename it, so a reader never sees half a report."""
    ensure_folder(folder)  # a file in the way, another user's folder, read-only: `path: reason`
    files: dict[str, str] = {}
    if "html" in formats:
        files["dashboard.html"] = render_html(d, templates)
    pages = section_pages(d)
    if "html" in formats:
        for page in pages:
            files[page["path"]] = render_page(d, templates, page["template"], page["context"])
    if "json" in formats:
        # The pages' content is already in the sections' own data: only their paths go to JSON.
        files["dashboard.json"] = d.model_copy(update={"sections": {
            name: {k: v for k, v in data.items() if k != "pages"} if isinstance(data, dict) else data
            for name, data in d.sections.items()}}).model_dump_json(indent=2)
    if "csv" in formats:
        files["grades.csv"] = grades_csv(d)
        files["fix.csv"] = fix_csv(d)
        if (audit := _audit_csv(d.sections.get("audit"))) is not None:  # issue 9: per-check audit results
            files["audit_checks.csv"] = audit
    written: dict[str, Path] = {}
    for name, text in files.items():
        relative = Path(name)
        parent = subfolder(folder, relative.parent) if relative.parent != Path(".") else folder
        written[name] = write_file(parent / relative.name, text)  # unique temp name, no symlink followed
    return written
