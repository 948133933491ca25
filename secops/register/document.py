"""Form 08 as an official document: the content every format renders (XLSX, DOCX, HTML, PDF).

One `Document` holds the header block (issuer, "Số:", subject, the place-and-date line, "Kính gửi"),
sections 1-3 as the form's cells, and the closing block (signer, seal, "Nơi nhận"). The values come
from the register (form08.py), the regime (policies/regimes/) and the issuers file
(policies/report_issuers.yaml); renderers only lay them out, so the formats never disagree.

Two recipients (Decree 331/2026 Art. 35.4): `ministry`, the owner's report (the owner issues it,
"Kính gửi" the regime's recipient); `owner`, the internal report that the owner's cybersecurity
unit and operators send to the owner (the unit issues it, "Kính gửi" the owner).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from secops.inventory.regime import Column, Regime
from secops.register.cells import row_cells, section1_cells, section2_cells, vn_date
from secops.register.form08 import Form08
from secops.register.issuers import BLANK, Issuer, Signer

Recipient = Literal["ministry", "owner"]
RECIPIENTS: tuple[Recipient, ...] = ("ministry", "owner")
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
SEAL_HINT = "(Ký, ghi rõ họ tên, đóng dấu)"
SIGN_HINT = "(Ký, ghi rõ họ tên)"


class Document(BaseModel):
    year: int
    owner_code: str
    to: Recipient
    summary: bool
    synthetic: bool
    parent: str | None
    issuer: str
    number: str
    subject: str
    place_date: str
    recipient: str
    period: str
    basis: str
    title: str
    section1_title: str
    section1: list[tuple[str, object]]
    section2_title: str
    section2: list[tuple[str, list[tuple[str, str]]]]
    section3_title: str
    columns: list[Column]
    rows: list[tuple[str, list[object]]]
    signer: Signer
    sign_hint: str
    recipients: list[str]

    def signer_lines(self) -> list[str]:
        """The bold lines above the signature: authority (if any) then position, upper case."""
        return [line.upper() for line in (self.signer.authority, self.signer.position) if line]

    def recipient_lines(self) -> list[str]:
        """'Nơi nhận' as written: "- Như trên;" first, each entry ending with ";", the last with "."."""
        items = ["Như trên", *(r.rstrip(" ;.") for r in self.recipients if r.strip())]
        return [f"- {item}{'.' if i == len(items) - 1 else ';'}" for i, item in enumerate(items)]


def place_date(place: str, year: int, day: dt.date | None) -> str:
    """"<place>, ngày dd tháng mm năm yyyy"; day and month left as "……" until the document is dated."""
    if day is None:
        return f"{place}, ngày {BLANK} tháng {BLANK} năm {year}"
    return f"{place}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def build_document(report: Form08, regime: Regime, issuer: Issuer, to: Recipient = "ministry", *,
                   issued_on: dt.date | None = None, summary: bool = False) -> Document:
    assert regime.form is not None
    form = regime.form
    owner_name = report.section2.owner.name or report.owner_name
    if to == "ministry":
        issuing, recipient, signer = report.owner_name, issuer.ministry_recipient or regime.recipient_text("vi"), \
            issuer.signer
    else:
        issuing, recipient, signer = report.section2.unit.name or BLANK, owner_name, issuer.unit_signer
    return Document(
        year=report.year, owner_code=report.owner_code, to=to, summary=summary, synthetic=report.synthetic,
        parent=issuer.parent, issuer=issuing, number=f"Số: {issuer.number}", subject=form.subject.vi,
        place_date=place_date(issuer.place, report.year, issued_on), recipient=recipient,
        period=f"Kỳ số liệu: từ {vn_date(report.period_start)} đến {vn_date(report.period_end)}",
        basis=f"Căn cứ: {regime.name.vi}", title=form.title.vi,
        section1_title=form.section1.title.vi, section1=section1_cells(report, form),
        section2_title=form.section2.title.vi, section2=section2_cells(report, form),
        section3_title=form.section3.title.vi, columns=form.section3.columns,
        rows=[(r.code, row_cells(r, form)) for r in report.rows],
        signer=signer, sign_hint=SEAL_HINT if issuer.seal else SIGN_HINT, recipients=issuer.recipients)
