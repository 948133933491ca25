"""Form 08 as an XLSX workbook (openpyxl), laid out like the form: header, sections 1-3, and a sheet
of the allowed values; columns 6, 10 and 12 carry a drop-down of exactly those values."""

from __future__ import annotations

import io
from typing import Any, cast

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from secops.inventory.regime import Regime
from secops.register.cells import row_cells, section1_cells, section2_cells, vn_date
from secops.register.form08 import Form08
from secops.textsafe import FORMULA_START

SHEET = "Mẫu 08"
VALUES_SHEET = "Giá trị hợp lệ"
WIDTHS = [6, 36, 28, 28, 10, 20, 34, 34, 16, 26, 16, 26]
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def put(ws: Worksheet, row: int, col: int, value: Any, *, bold: bool = False) -> Cell:
    """A cell that is always data: text starting like a formula stays text (never evaluated)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    if bold:
        cell.font = Font(bold=True)
    return cast("Cell", cell)


def _header(ws: Worksheet, report: Form08, regime: Regime) -> int:
    assert regime.form is not None
    put(ws, 1, 1, report.owner_name.upper(), bold=True)
    put(ws, 1, 7, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True)
    put(ws, 2, 7, "Độc lập - Tự do - Hạnh phúc", bold=True)
    put(ws, 3, 1, regime.form.subject.vi)
    put(ws, 4, 1, f"Kính gửi: {regime.recipient_text('vi')}", bold=True)
    put(ws, 5, 1, f"Kỳ số liệu: từ {vn_date(report.period_start)} đến {vn_date(report.period_end)}")
    row = 6
    if report.synthetic:
        put(ws, row, 1, "DỮ LIỆU MẪU TỔNG HỢP - không phải số liệu thật", bold=True)
        row += 1
    return row + 1


def _sections_1_2(ws: Worksheet, report: Form08, regime: Regime, row: int) -> int:
    assert regime.form is not None
    put(ws, row, 1, regime.form.section1.title.vi, bold=True)
    for label, value in section1_cells(report, regime.form):
        row += 1
        put(ws, row, 2, f"- {label}:")
        put(ws, row, 12, value)
    row += 2
    put(ws, row, 1, regime.form.section2.title.vi, bold=True)
    for title, fields in section2_cells(report, regime.form):
        row += 1
        put(ws, row, 2, f"{title}:", bold=True)
        for label, value in fields:
            row += 1
            put(ws, row, 2, label)
            put(ws, row, 7, value)
    return row + 2


def _section_3(ws: Worksheet, report: Form08, regime: Regime, row: int) -> None:
    assert regime.form is not None
    put(ws, row, 1, regime.form.section3.title.vi, bold=True)
    head = row + 1
    for column in regime.form.section3.columns:
        put(ws, head, column.col, column.vi, bold=True).border = BOX
        put(ws, head + 1, column.col, f"({column.col})", bold=True).border = BOX
        ws.cell(row=head, column=column.col).alignment = Alignment(wrap_text=True, vertical="center",
                                                                   horizontal="center")
    first = head + 2
    for offset, item in enumerate(report.rows):
        for col, value in enumerate(row_cells(item, regime.form), start=1):
            written = put(ws, first + offset, col, value)
            written.border = BOX
            written.alignment = Alignment(wrap_text=True, vertical="top")
    last = max(first, first + len(report.rows) - 1)
    ws.freeze_panes = f"C{first}"  # names and codes stay in view while scrolling
    _validations(ws, regime, first, last)


def _validations(ws: Worksheet, regime: Regime, first: int, last: int) -> None:
    """Drop-downs of the allowed values, read from the values sheet (so the wording is never retyped)."""
    assert regime.form is not None
    values = regime.form.values
    both = values.assessments_both_separator.join(v.vi for v in values.assessments.values())
    lists = {6: [v.vi for v in values.approval_status.values()], 10: [v.vi for v in values.plan_deployment.values()],
             12: [v.vi for v in values.assessments.values()] + [both]}
    for position, (col, allowed) in enumerate(lists.items(), start=1):
        ref = f"'{VALUES_SHEET}'!${get_column_letter(position * 2)}$3:${get_column_letter(position * 2)}${2 + len(allowed)}"
        check = DataValidation(type="list", formula1=ref, allow_blank=True)
        check.add(f"{get_column_letter(col)}{first}:{get_column_letter(col)}{last}")
        ws.add_data_validation(check)


def _values_sheet(wb: Workbook, regime: Regime) -> None:
    assert regime.form is not None
    ws = wb.create_sheet(VALUES_SHEET)
    values = regime.form.values
    both = values.assessments_both_separator.join(v.vi for v in values.assessments.values())
    lists = [(6, list(values.approval_status.values())), (10, list(values.plan_deployment.values())),
             (12, list(values.assessments.values()))]
    for position, (col, texts) in enumerate(lists, start=1):
        key_col, value_col = position * 2 - 1, position * 2
        put(ws, 1, value_col, f"Cột ({col})", bold=True)
        put(ws, 2, key_col, "English", bold=True)
        put(ws, 2, value_col, "Tiếng Việt (giữ nguyên)", bold=True)
        for i, text in enumerate(texts, start=3):
            put(ws, i, key_col, text.en)
            put(ws, i, value_col, text.vi)
        if col == 12:
            put(ws, 3 + len(texts), key_col, "Both")
            put(ws, 3 + len(texts), value_col, both)
        ws.column_dimensions[get_column_letter(value_col)].width = 34
        ws.column_dimensions[get_column_letter(key_col)].width = 20


def workbook_bytes(report: Form08, regime: Regime) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new workbook has one worksheet
    ws.title = SHEET
    for col, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    row = _header(ws, report, regime)
    row = _sections_1_2(ws, report, regime, row)
    _section_3(ws, report, regime, row)
    _values_sheet(wb, regime)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
