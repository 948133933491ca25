"""Form 08 in every format asked for: XLSX, DOCX, PDF (WeasyPrint), CSV (formula-neutralised), HTML.

Everything is rendered first, then written (through safeio: never through a planted link), so a
rendering error leaves no partial set of files.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from secops.inventory.regime import Regime
from secops.register.document import MOTTO, Document
from secops.register.form08 import Form08
from secops.register.wordfile import WIDTHS_MM
from secops.register.xlsx import workbook_bytes
from secops.safeio import ensure_folder, write_file
from secops.templating import environment, translator
from secops.textsafe import neutral_cell

FORMATS = ("xlsx", "docx", "pdf", "csv", "html")
DEFAULT_FORMATS = ("xlsx", "csv", "html")
TEMPLATE = "annual_form08.html.j2"


def _csv(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([neutral_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")  # BOM: Excel then reads Vietnamese as UTF-8


def section3_csv(d: Document) -> bytes:
    headings: list[object] = ["Mã hệ thống", *(c.vi for c in d.columns)]
    numbers: list[object] = ["", *(f"({c.col})" for c in d.columns)]
    return _csv([headings, numbers, *([code, *cells] for code, cells in d.rows)])


def section1_csv(d: Document) -> bytes:
    return _csv([["Mục", "Giá trị"], *([label, value] for label, value in d.section1)])


def html_page(d: Document, regime: Regime, templates: Path, lang: str, *, pdf: bool = False) -> str:
    total = sum(WIDTHS_MM)
    return environment(templates).get_template(TEMPLATE).render(
        d=d, regime=regime, form=regime.form, t=translator(templates, "vi" if pdf else lang), motto=MOTTO,
        gloss=lang == "en" and not pdf, pdf=pdf, widths=[round(100 * w / total, 2) for w in WIDTHS_MM])


def pdf_bytes(d: Document, regime: Regime, templates: Path) -> bytes:
    """The same page printed by WeasyPrint: A4 landscape, headings repeated, columns fit to width.
    No URL is fetched: the page has no external resources and the fetcher refuses any."""
    from weasyprint import HTML

    def no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
        raise ValueError(f"the report fetches nothing ({url})")

    return HTML(string=html_page(d, regime, templates, "vi", pdf=True), url_fetcher=no_fetch).write_pdf()  # type: ignore[no-any-return]


def file_stem(report: Form08, to: str = "ministry", summary: bool = True) -> str:
    """form08-YEAR-CODE for the province summary (or a subtree), -chu-quan for one owner's report to
    the Ministry, -noi-bo for the internal report to the owner."""
    stem = f"form08-{report.year}-{report.owner_code}"
    if summary and to == "ministry":
        return stem
    return f"{stem}-{'noi-bo' if to == 'owner' else 'chu-quan'}"


def render(report: Form08, d: Document, regime: Regime, formats: tuple[str, ...], templates: Path,
           lang: str) -> dict[str, bytes]:
    """File name -> content, for every format asked for."""
    stem = file_stem(report, d.to, d.summary)
    files: dict[str, bytes] = {}
    if "xlsx" in formats:
        files[f"{stem}.xlsx"] = workbook_bytes(report, regime, d, lang)
    if "docx" in formats:
        from secops.register.wordfile import document_bytes

        files[f"{stem}.docx"] = document_bytes(d)
    if "pdf" in formats:
        files[f"{stem}.pdf"] = pdf_bytes(d, regime, templates)
    if "csv" in formats:
        files[f"{stem}-section1.csv"] = section1_csv(d)
        files[f"{stem}-section3.csv"] = section3_csv(d)
    if "html" in formats:
        files[f"{stem}.html"] = html_page(d, regime, templates, lang).encode("utf-8")
    return files


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    ensure_folder(folder)
    return [write_file(folder / name, data) for name, data in files.items()]
