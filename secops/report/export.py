"""JSON and CSV exports of the dashboard data, and writing the output folder."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from secops.collect.audit_csv import audit_csv as _audit_csv
from secops.report.data import Dashboard, FixItem
from secops.report.render import render_html, render_page
from secops.safeio import ensure_folder, subfolder, write_file, writing_file

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


def fix_csv_chunks(items: Iterable[FixItem], rows_per_chunk: int = 2000) -> Iterator[str]:
    """fix.csv a page at a time (the items may stream from a query)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIX_COLUMNS)
    for n, item in enumerate(items, 1):
        writer.writerow(_fix_row(item))
        if n % rows_per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _fix_row(item: FixItem) -> list[str]:
    return [_safe_cell(v) for v in (
        item.target_id, item.entity, item.agency_code, item.agency_name, item.code, item.label, item.status,
        item.reason, json.dumps(item.detail, ensure_ascii=False, default=str) if item.detail else "")]


def fix_csv(d: Dashboard) -> str:
    return "".join(fix_csv_chunks(d.fix))


FIX_SLOT = "__secops_fix_items__"


def _json_frame(d: Dashboard) -> tuple[str, str]:
    """dashboard.json before and after its `fix` array's items (the same JSON as one dump)."""
    # The pages' content is already in the sections' own data: only their paths go to JSON.
    data = d.model_copy(update={"fix": [], "sections": {
        name: {k: v for k, v in section.items() if k != "pages"} if isinstance(section, dict) else section
        for name, section in d.sections.items()}}).model_dump(mode="json")
    data["fix"] = FIX_SLOT
    head, tail = json.dumps(data, indent=2, ensure_ascii=False).split(json.dumps(FIX_SLOT), 1)
    return head + "[", "\n  ]" + tail


def _json_item(item: FixItem, first: bool) -> str:
    text = item.model_dump_json(indent=2)  # pydantic's serializer: json.dumps with indent is pure Python
    return ("" if first else ",") + "\n    " + text.replace("\n", "\n    ")


def dashboard_json_chunks(d: Dashboard, items: Iterable[FixItem]) -> Iterator[str]:
    head, tail = _json_frame(d)
    yield head
    for n, item in enumerate(items):
        yield _json_item(item, n == 0)
    yield tail


def _write_fix_exports(d: Dashboard, folder: Path, formats: tuple[str, ...], items: Iterable[FixItem]) -> list[str]:
    """dashboard.json and fix.csv in one pass over the records to fix (one query, not one per file)."""
    names = [n for n, f in (("dashboard.json", "json"), ("fix.csv", "csv")) if f in formats]
    if not names:
        return []
    with contextlib.ExitStack() as files:  # each file: unique temp name, no link followed, renamed at the end
        handles = {name: files.enter_context(writing_file(folder / name)) for name in names}
        json_out, csv_out = handles.get("dashboard.json"), handles.get("fix.csv")
        head, tail = _json_frame(d)
        writer = csv.writer(csv_out, lineterminator="\n") if csv_out else None
        if json_out:
            json_out.write(head)
        if writer:
            writer.writerow(FIX_COLUMNS)
        for n, item in enumerate(items):
            if json_out:
                json_out.write(_json_item(item, n == 0))
            if writer:
                writer.writerow(_fix_row(item))
        if json_out:
            json_out.write(tail)
    return names


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


def write_outputs(d: Dashboard, folder: Path, templates: Path, formats: tuple[str, ...] = FORMATS,
                  fix_stream: Callable[[], Iterable[FixItem]] | None = None) -> dict[str, Path]:
    """Write each file to a temporary name and rename it, so a reader never sees half a report.

    fix_stream gives every record to fix (d.fix may hold only a preview); it is read once, page
    by page, for dashboard.json and fix.csv together, so memory does not grow with the province."""
    stream = fix_stream or (lambda: d.fix)
    ensure_folder(folder)  # a file in the way, another user's folder, read-only: `path: reason`
    files: dict[str, str] = {}
    if "html" in formats:
        files["dashboard.html"] = render_html(d, templates)
    pages = section_pages(d)
    if "html" in formats:
        for page in pages:
            files[page["path"]] = render_page(d, templates, page["template"], page["context"])
    if "csv" in formats:
        files["grades.csv"] = grades_csv(d)
        if (audit := _audit_csv(d.sections.get("audit"))) is not None:  # issue 9: per-check audit results
            files["audit_checks.csv"] = audit
    written: dict[str, Path] = {}
    for name, text in files.items():
        relative = Path(name)
        parent = subfolder(folder, relative.parent) if relative.parent != Path(".") else folder
        written[name] = write_file(parent / relative.name, text)  # unique temp name, no symlink followed
    for name in _write_fix_exports(d, folder, formats, stream()):
        written[name] = folder / name
    return written
