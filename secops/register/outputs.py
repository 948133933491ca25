"""Form 08 as CSV (formula-neutralised) and as a printable HTML page; writes every format asked for."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from secops.inventory.regime import Regime
from secops.register.cells import row_cells, section1_cells, vn_date
from secops.register.form08 import Form08
from secops.register.xlsx import workbook_bytes
from secops.safeio import ensure_folder, write_file
from secops.templating import environment, translator
from secops.textsafe import neutral_cell

FORMATS = ("xlsx", "csv", "html")
TEMPLATE = "annual_form08.html.j2"


def _csv(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([neutral_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")  # BOM: Excel then reads Vietnamese as UTF-8


def section3_csv(report: Form08, regime: Regime) -> bytes:
    assert regime.form is not None
    columns = regime.form.section3.columns
    headings: list[object] = ["code", *(c.vi for c in columns)]
    numbers: list[object] = ["", *(f"({c.col})" for c in columns)]
    rows: list[list[object]] = [headings, numbers]
    rows += [[r.code, *row_cells(r, regime.form)] for r in report.rows]
    return _csv(rows)


def section1_csv(report: Form08, regime: Regime) -> bytes:
    assert regime.form is not None
    return _csv([["muc", "gia_tri"], *([label, value] for label, value in section1_cells(report, regime.form))])


def html_page(report: Form08, regime: Regime, templates: Path, lang: str) -> bytes:
    assert regime.form is not None
    from secops.register.cells import section2_cells

    env = environment(templates)
    page = env.get_template(TEMPLATE).render(
        r=report, regime=regime, form=regime.form, t=translator(templates, lang), lang=lang,
        section1=section1_cells(report, regime.form), section2=section2_cells(report, regime.form),
        rows=[(r.code, row_cells(r, regime.form)) for r in report.rows], vn_date=vn_date)
    return page.encode("utf-8")


def file_stem(report: Form08) -> str:
    return f"form08-{report.year}-{report.owner_code}"


def write_report(report: Form08, regime: Regime, folder: Path, formats: tuple[str, ...], templates: Path,
                 lang: str) -> list[Path]:
    """Render every format first, then write: a rendering error leaves no partial set of files."""
    stem = file_stem(report)
    files: dict[str, bytes] = {}
    if "xlsx" in formats:
        files[f"{stem}.xlsx"] = workbook_bytes(report, regime)
    if "csv" in formats:
        files[f"{stem}-section1.csv"] = section1_csv(report, regime)
        files[f"{stem}-section3.csv"] = section3_csv(report, regime)
    if "html" in formats:
        files[f"{stem}.html"] = html_page(report, regime, templates, lang)
    ensure_folder(folder)
    return [write_file(folder / name, data) for name, data in files.items()]
