"""Form 08 as a Word document (python-docx): officers open it in Word or LibreOffice, edit, sign.

A4 landscape (the table has twelve columns), Times New Roman as government documents use, the
header block as a borderless two-column table (issuer and number left, motto and date right), the
section 3 table with its two heading rows repeated on every page, then "Nơi nhận" and the
signature block side by side.
"""

from __future__ import annotations

import io
import re

from docx import Document as new_docx
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from secops.register.document import MOTTO, Document

FONT = "Times New Roman"
# Relative widths of columns (1)-(12), in mm of the 257 mm between the margins.
WIDTHS_MM = [10, 32, 25, 25, 12, 20, 30, 30, 18, 20, 17, 18]
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(value: object) -> str:
    return _XML_BAD.sub("", "" if value is None else str(value))  # XML 1.0 cannot hold control characters


def _para(where: Paragraph, text: object, *, bold: bool = False, italic: bool = False, size: float | None = None,
          center: bool = False) -> Paragraph:
    run = where.add_run(_clean(text))
    if bold:  # only when set: each property written is an XML element python-docx inserts slowly
        run.bold = True
    if italic:
        run.italic = True
    if size:
        run.font.size = Pt(size)
    if center:
        where.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return where


def _cell_lines(cell: _Cell, lines: list[tuple[str, dict[str, bool]]], size: float = 13) -> None:
    first = True
    for text, style in lines:
        paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        _para(paragraph, text, size=size, center=style.get("center", True), bold=style.get("bold", False),
              italic=style.get("italic", False))
        paragraph.paragraph_format.space_after = Pt(0)


def _no_borders(table: Table) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    table._tbl.tblPr.append(borders)


def _repeat_heading(table: Table, rows: int) -> None:
    for row in table.rows[:rows]:
        marker = OxmlElement("w:tblHeader")
        marker.set(qn("w:val"), "true")
        row._tr.get_or_add_trPr().append(marker)


def _header(doc: object, d: Document) -> None:
    table = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    _no_borders(table)
    left: list[tuple[str, dict[str, bool]]] = []
    if d.parent:
        left.append((d.parent.upper(), {}))
    left += [(d.issuer.upper(), {"bold": True}), ("-------", {}), (d.number, {}), (d.subject, {"italic": False})]
    right = [(MOTTO[0], {"bold": True}), (MOTTO[1], {"bold": True}), ("---------------", {}),
             (d.place_date, {"italic": True})]
    _cell_lines(table.cell(0, 0), left, 12)
    _cell_lines(table.cell(0, 1), right, 12)


def document_bytes(d: Document) -> bytes:
    doc = new_docx()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(13)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    section.left_margin, section.right_margin = Mm(25), Mm(15)
    section.top_margin, section.bottom_margin = Mm(20), Mm(15)
    _header(doc, d)
    if d.synthetic:
        _para(doc.add_paragraph(), "DỮ LIỆU MẪU TỔNG HỢP - không phải số liệu thật", bold=True, center=True)
    _para(doc.add_paragraph(), f"Kính gửi: {d.recipient}", bold=True, center=True)
    _para(doc.add_paragraph(), d.period, italic=True)
    _para(doc.add_paragraph(), d.section1_title, bold=True)
    for label, value in d.section1:
        _para(doc.add_paragraph(), f"- {label}: {value};")
    _para(doc.add_paragraph(), d.section2_title, bold=True)
    for title, fields in d.section2:
        _para(doc.add_paragraph(), f"{title}:", bold=True, italic=True)
        for label, value in fields:
            _para(doc.add_paragraph(), f"{label}: {value or ''}")
    _para(doc.add_paragraph(), d.section3_title, bold=True)
    _section3(doc, d)
    _closing(doc, d)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _section3(doc: object, d: Document) -> None:
    """Rows added one by one and each row's cells read once (python-docx's cell(i, j) rescans the
    whole table on every call, which made a province's table quadratic)."""
    table = doc.add_table(rows=0, cols=len(d.columns))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    widths = [Mm(w) for w in WIDTHS_MM]
    lines: list[list[tuple[object, bool]]] = [[(c.vi, True) for c in d.columns],
                                              [(f"({c.col})", True) for c in d.columns]]
    lines += [[(value, False) for value in cells] for _, cells in d.rows]
    for values in lines:
        cells = table.add_row().cells
        for i, (value, bold) in enumerate(values):
            cells[i].width = widths[i]
            _para(cells[i].paragraphs[0], value, bold=bold, size=10, center=bold or i in (0, 4))
    _repeat_heading(table, 2)


def _closing(doc: object, d: Document) -> None:
    doc.add_paragraph()  # type: ignore[attr-defined]
    table = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    _no_borders(table)
    left = [("Nơi nhận:", {"bold": True, "italic": True, "center": False})]
    left += [(line, {"center": False}) for line in d.recipient_lines()]
    _cell_lines(table.cell(0, 0), left, 11)
    right = [(line, {"bold": True}) for line in d.signer_lines()]
    right += [(d.sign_hint, {"italic": True}), ("", {}), ("", {}), ("", {}), (d.signer.name, {"bold": True})]
    _cell_lines(table.cell(0, 1), right, 13)
