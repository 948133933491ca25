"""JSON and CSV exports of the dashboard data, and writing the output folder."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from secops.report.audit_csv import audit_csv as _audit_csv
from secops.report.data import Dashboard
from secops.report.fixlist import EndpointFixRows, FixFields, FixItem, fix_item
from secops.report.render import render_html, render_page
from secops.safeio import ensure_folder, subfolder, write_file, writing_file
from secops.textsafe import neutral_cell, neutral_text

GRADE_COLUMNS = ["run_id", "target_id", "agency_code", "agency_name", "agency_kind", "parent", "numerator",
                 "denominator", "unknown", "value", "threshold", "comparison", "status", "gap"]
FIX_COLUMNS = ["target_id", "entity", "agency_code", "agency_name", "code", "label", "status", "reason", "detail"]
FORMATS = ("html", "json", "csv")


def grades_csv(d: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GRADE_COLUMNS)
    for agency in d.agencies:
        for target in d.targets:
            c = agency.cells.get(target.id)
            if c is None:
                continue
            writer.writerow([neutral_cell(v) for v in (
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
    return [neutral_cell(v) for v in (
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


class _Unusual(Exception):
    """A detail value the fast JSON path does not write (float, nested dict...): pydantic writes it."""


_quote = json.encoder.encode_basestring  # C; the escapes of pydantic's JSON for str (tests/test_report_fast.py)


def _json_value(value: Any, indent: str) -> str:
    """A detail value as pydantic's model_dump_json(indent=2) writes it at this indent."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is list:
        if not value:
            return "[]"
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _json_value(v, inner) for v in value) + "\n" + indent + "]"
    raise _Unusual


def _compact(value: Any) -> str:
    """A detail value as json.dumps(..., ensure_ascii=False) writes it (fix.csv's detail cell)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is list:
        return "[" + ", ".join([_compact(v) for v in value]) + "]"
    raise _Unusual


def fix_json_item(target_id: str, entity: str, fields: FixFields, first: bool) -> str:
    """_json_item(FixItem(target_id, entity, *fields), first) without building the model."""
    agency_code, agency_name, code, label, status, reason, detail = fields
    try:  # _quote refuses anything but a str (TypeError): such an item goes through pydantic
        if detail:
            detail_text = "{\n" + ",\n".join([
                "        " + _quote(k) + ": " + _json_value(v, "        ") for k, v in detail.items()]) + "\n      }"
        else:
            detail_text = "{}"
        return ("" if first else ",") + (
            '\n    {\n      "target_id": ' + _quote(target_id) + ',\n      "entity": ' + _quote(entity)
            + ',\n      "agency_code": ' + _quote(agency_code) + ',\n      "agency_name": ' + _quote(agency_name)
            + ',\n      "code": ' + _quote(code) + ',\n      "label": ' + _quote(label)
            + ',\n      "status": ' + _quote(status) + ',\n      "reason": ' + _quote(reason)
            + ',\n      "detail": ' + detail_text + "\n    }")
    except (_Unusual, TypeError):
        return _json_item(fix_item(target_id, entity, fields), first)


def _detail_cell(detail: dict[str, Any]) -> str:
    """json.dumps(detail, ensure_ascii=False, default=str), written by hand for plain values."""
    try:
        return "{" + ", ".join([_quote(k) + ": " + _compact(v) for k, v in detail.items()]) + "}"
    except (_Unusual, TypeError):
        return json.dumps(detail, ensure_ascii=False, default=str)


def _csv_line(cells: Sequence[str]) -> str:
    """csv.writer's line of these cells (fix.csv's dialect)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def fix_csv_row(target_id: str, entity: str, fields: FixFields) -> list[str]:
    """_fix_row(FixItem(target_id, entity, *fields)) without building the model: same cells, same
    neutralisation of formula-like text (neutral_cell)."""
    agency_code, agency_name, code, label, status, reason, detail = fields
    if (type(agency_code) is str and type(agency_name) is str and type(code) is str and type(label) is str
            and type(status) is str and type(reason) is str and type(target_id) is str and type(entity) is str):
        return [neutral_text(target_id), neutral_text(entity), neutral_text(agency_code), neutral_text(agency_name),
                neutral_text(code), neutral_text(label), neutral_text(status), neutral_text(reason),
                neutral_text(_detail_cell(detail)) if detail else ""]
    return [neutral_cell(v) for v in (target_id, entity, agency_code, agency_name, code, label, status, reason,
                                    _detail_cell(detail) if detail else "")]


# csv.writer (QUOTE_MINIMAL, lineterminator "\n") quotes a cell holding the delimiter, the quote
# character or a line terminator, doubling the quotes; CR and NUL are left to csv.writer itself.
_CSV_SPECIAL = re.compile('[,"\n\r\x00]')
# ips as SQLAlchemy stores a list of plain strings in SQLite (json.dumps): '["a", "b"]', no escape,
# no control character; its items are then the JSON strings themselves, already quoted (a quote is
# never inside an item, so _ITEM finds them).
_PLAIN_LIST = re.compile(r'\[(?:"[^"\\\x00-\x1f]*"(?:, "[^"\\\x00-\x1f]*")*)?\]\Z')
_ITEM = re.compile('"[^"]*"')
_UTC = dt.UTC


def _csv_text(text: str) -> str:
    """One cell as csv.writer writes it; _Unusual for CR or NUL (csv.writer decides those)."""
    if _CSV_SPECIAL.search(text) is None:
        return text
    if "\r" in text or "\x00" in text:
        raise _Unusual
    return '"' + text.replace('"', '""') + '"'


def _csv_cell(text: str) -> str:
    return _csv_text(neutral_text(text))


class EndpointTexts:
    """One endpoint fix item's dashboard.json text (fix_json_item's, without the leading comma) and
    fix.csv line (csv.writer's of fix_csv_row's cells) from a driver row of fixlist.endpoint_fix_rows,
    without building the fields tuple and detail dict in between: the same text
    (tests/test_report_fast.py checks it against raw.fields, fix_json_item, fix_csv_row and
    csv.writer on generated rows). `of` returns None for a row it does not take (a value not a str
    where text is expected, ips not a list of str, CR or NUL in a cell): FixExports writes that
    one through fix_json_item and fix_csv_row."""

    def __init__(self, target_id: str, raw: EndpointFixRows) -> None:
        self.raw, self.as_of, self.text_values, self.ips_text = raw, raw.as_of, raw.sqlite, raw.ips_text
        self.head = ('\n    {\n      "target_id": ' + _quote(target_id) + ',\n      "entity": "endpoints",\n'
                     '      "agency_code": ')
        self.csv_head = _csv_cell(target_id) + ",endpoints,"
        self.max_age = None if raw.max_age is None else dt.timedelta(days=raw.max_age)
        self.agency: tuple[Any, Any] = (None, None)
        self.agency_texts = ("", "")

    def _agency(self, code: Any, name: Any) -> tuple[str, str]:
        if (code, name) != self.agency:
            if type(code) is not str or type(name) is not str:
                raise TypeError
            self.agency_texts = (_quote(code) + ',\n      "agency_name": ' + _quote(name) + ',\n      "code": ',
                                 _csv_cell(code) + "," + _csv_cell(name) + ",")
            self.agency = (code, name)
        return self.agency_texts

    def of(self, row: tuple[Any, ...]) -> tuple[str, str] | None:
        (code, hostname, ips, protection, ev_status, product, ev_source, observed_at, ev_detail,
         agency_code, agency_name) = row
        quote = _quote
        try:
            agency_json, agency_csv = self._agency(agency_code, agency_name)
            if self.ips_text and type(ips) is str and _PLAIN_LIST.match(ips):
                ips_csv = ips
                ips_json = "[]" if ips == "[]" else "[\n          " + ",\n          ".join(_ITEM.findall(ips)) \
                    + "\n        ]"
            else:
                ips = self.raw.ips(ips)
                if type(ips) is not list:
                    return None
                quoted = [quote(ip) for ip in ips]  # TypeError on anything but a str
                ips_csv = "[" + ", ".join(quoted) + "]"
                ips_json = "[\n          " + ",\n          ".join(quoted) + "\n        ]" if quoted else "[]"
            if ev_status is None or observed_at is None:  # protection_from: no evidence
                reason, product_text, source_text, seen_text = "no evidence", "null", "null", "null"
            else:
                if self.text_values and type(observed_at) is str:  # SQLAlchemy's SQLite processing, inline
                    seen = dt.datetime.fromisoformat(observed_at).replace(tzinfo=_UTC)
                else:
                    seen = self.raw.seen(observed_at)
                age = self.as_of - seen
                if self.max_age is not None and age > self.max_age:
                    reason = f"evidence too old: {age.days} days (max {self.raw.max_age}), was {ev_status}"
                else:
                    reason = ev_detail or ""
                product_text = "null" if product is None else quote(product)
                source_text = "null" if ev_source is None else quote(ev_source)
                seen_text = '"' + seen.isoformat() + '"'
            json_text = (f'{self.head}{agency_json}{quote(code)},\n      "label": {quote(hostname)},\n'
                         f'      "status": {quote(protection)},\n      "reason": {quote(reason)},\n'
                         f'      "detail": {{\n        "ips": {ips_json},\n        "product": {product_text},\n'
                         f'        "source": {source_text},\n        "observed_at": {seen_text}\n      }}\n    }}')
            detail = (f'{{"ips": {ips_csv}, "product": {product_text}, "source": {source_text}, '
                      f'"observed_at": {seen_text}}}').replace('"', '""')  # always quoted: it holds quotes
            csv_line = (f"{self.csv_head}{agency_csv}{_csv_cell(code)},{_csv_cell(hostname)},"
                        f"{_csv_cell(protection)},{_csv_cell(reason)},\"{detail}\"\n")
        except (_Unusual, TypeError, ValueError, AttributeError):
            return None
        return json_text, csv_line


class FixExports:
    """dashboard.json and fix.csv written in one pass over every record to fix (tuples from
    fixlist.target_fix_fields), keeping the dashboard's preview (FIX_PREVIEW endpoint items per
    target, every other item) and the exact counts. The JSON around the `fix` array is the
    dashboard's own dump: its head before the pass, its tail (counts, sections) after it."""

    def __init__(self, d: Dashboard, folder: Path, formats: tuple[str, ...], files: contextlib.ExitStack,
                 rows_per_write: int = 2000) -> None:
        self.d, self.rows_per_write = d, rows_per_write
        self.json_out = files.enter_context(writing_file(folder / "dashboard.json")) if "json" in formats else None
        self.csv_out = files.enter_context(writing_file(folder / "fix.csv")) if "csv" in formats else None
        self.names = [n for n, out in (("dashboard.json", self.json_out), ("fix.csv", self.csv_out)) if out]
        self.writer = csv.writer(self.csv_out, lineterminator="\n") if self.csv_out else None
        self.preview: list[FixItem] = []
        self.counts: dict[str, int] = {}
        self.first = True
        if self.json_out:
            self.json_out.write(_json_frame(d)[0])
        if self.writer:
            self.writer.writerow(FIX_COLUMNS)

    def add_target(self, target_id: str, entity: str, rows: Iterable[FixFields], preview: int | None) -> None:
        json_parts: list[str] = []
        csv_rows: list[Sequence[str]] = []
        n = 0
        for n, fields in enumerate(rows, 1):
            if preview is None or n <= preview:
                self.preview.append(fix_item(target_id, entity, fields))
            if self.json_out:
                json_parts.append(fix_json_item(target_id, entity, fields, self.first))
                self.first = False
            if self.writer:
                csv_rows.append(fix_csv_row(target_id, entity, fields))
            if n % self.rows_per_write == 0:
                self._flush(json_parts, csv_rows)
        self._flush(json_parts, csv_rows)
        self.counts[target_id] = n

    def add_endpoints(self, target_id: str, raw: EndpointFixRows, preview: int | None) -> None:
        """add_target(target_id, "endpoints", (raw.fields(row) for row in raw.rows), preview), each
        row's JSON item and CSV line formatted straight from the driver's values (EndpointTexts);
        a row it does not take goes the way of add_target."""
        json_parts: list[str] = []
        csv_parts: list[str] = []
        n = 0
        texts = EndpointTexts(target_id, raw)
        for n, row in enumerate(raw.rows, 1):
            if preview is None or n <= preview:
                fields = raw.fields(row)
                self.preview.append(fix_item(target_id, "endpoints", fields))
            done = texts.of(row)
            if done is None:
                fields = raw.fields(row)
                json_text, csv_line = fix_json_item(target_id, "endpoints", fields, True), \
                    _csv_line(fix_csv_row(target_id, "endpoints", fields))
            else:
                json_text, csv_line = done
            if self.json_out:
                json_parts.append(json_text if self.first else "," + json_text)
                self.first = False
            if self.csv_out:
                csv_parts.append(csv_line)
            if n % self.rows_per_write == 0:
                self._flush(json_parts, [])
                self._write_csv(csv_parts)
        self._flush(json_parts, [])
        self._write_csv(csv_parts)
        self.counts[target_id] = n

    def _write_csv(self, parts: list[str]) -> None:
        if self.csv_out and parts:
            self.csv_out.write("".join(parts))
            parts.clear()

    def _flush(self, json_parts: list[str], csv_rows: list[Sequence[str]]) -> None:
        if self.json_out and json_parts:
            self.json_out.write("".join(json_parts))
            json_parts.clear()
        if self.writer and csv_rows:
            self.writer.writerows(csv_rows)
            csv_rows.clear()

    def finish(self) -> None:
        """Call after the pass and after the dashboard got its fix preview and counts."""
        if self.json_out:
            self.json_out.write(_json_frame(self.d)[1])


PAGE_PATH = re.compile(r"[a-z]+/[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.html")


def section_pages(d: Dashboard) -> list[dict[str, Any]]:
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


def _rendered(d: Dashboard, templates: Path, formats: tuple[str, ...]) -> dict[str, str]:
    files: dict[str, str] = {}
    if "html" in formats:
        files["dashboard.html"] = render_html(d, templates)
    pages = section_pages(d)
    if "html" in formats:
        for page in pages:
            files[page["path"]] = render_page(d, templates, page["template"], page["context"])
    if "csv" in formats:
        files["grades.csv"] = grades_csv(d)
        if (audit := _audit_csv(d.sections.get("audit"))) is not None:  # per-check audit results
            files["audit_checks.csv"] = audit
    return files


def _write_rendered(folder: Path, files: dict[str, str]) -> dict[str, Path]:
    written: dict[str, Path] = {}
    for name, text in files.items():
        relative = Path(name)
        parent = subfolder(folder, relative.parent) if relative.parent != Path(".") else folder
        written[name] = write_file(parent / relative.name, text)  # unique temp name, no symlink followed
    return written


def write_report(d: Dashboard, folder: Path, templates: Path, formats: tuple[str, ...],
                 fix_pass: Callable[[FixExports], None],
                 sections: Callable[[], dict[str, Any]] | None = None) -> dict[str, Path]:
    """`secops report`'s writer: d comes without fix lists; fix_pass(exports) streams every target's
    records to fix into exports.add_target, once; d then gets its sections (when given: sections()
    waits for them), the preview and counts, and the HTML, pages and grades are rendered from it.
    Each file is written to a temporary name and
    renamed (the exports last), so a reader never sees half a report."""
    ensure_folder(folder)  # a file in the way, another user's folder, read-only: `path: reason`
    with contextlib.ExitStack() as files:
        exports = FixExports(d, folder, formats, files)
        fix_pass(exports)
        if sections is not None:  # read beside the pass (publish.section_reader); they follow `fix` in the JSON
            d.sections = sections()
        d.fix = exports.preview
        d.fix_counts = {t.id: exports.counts.get(t.id, 0) for t in d.targets}
        exports.finish()
        written = _write_rendered(folder, _rendered(d, templates, formats))
        for name in exports.names:
            written[name] = folder / name
    return written
