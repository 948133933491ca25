"""The archive of annual reports sent (`--record-sent`, `secops report sent`).

Each report written with --record-sent is one row: year, data period, regime, owner, recipient and
"Kính gửi" as printed, the formats, each file's name, size and sha256 (and one sha256 over that
list), whether the PDF was signed, the time (UTC), and a snapshot of what the report was built
from (sections 1 and 2 and every register row of section 3). Next year's report and an inspector
can then tell exactly what went out, and check a file someone shows them against its hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from secops.errors import SecopsError
from secops.inventory.regime import Regime
from secops.register.tables import SentReportRow
from secops.store.db import Database

if TYPE_CHECKING:
    from secops.register.annual import Options, Written


def manifest(files: list[dict[str, Any]]) -> str:
    """sha256 over "<sha256>  <name>" lines (sha256sum's format), sorted by name."""
    lines = "".join(f"{f['sha256']}  {f['name']}\n" for f in sorted(files, key=lambda f: f["name"]))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def record_sent(db: Database, written: list[Written], regime: Regime, options: Options) -> list[int]:
    ids = []
    with db.session() as session:
        for item in written:
            # The bytes written (held since rendering), not the files read back from the folder.
            files = [{"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                     for name, data in item.contents.items()]
            report, doc = item.report, item.document
            row = SentReportRow(
                year=report.year, period_start=report.period_start, period_end=report.period_end, regime=regime.id,
                owner_code=report.owner_code, owner_name=report.owner_name, summary=doc.summary,
                recipient=doc.to, recipient_name=doc.recipient, formats=",".join(options.formats), files=files,
                sha256=manifest(files), signed=options.sign is not None,
                snapshot={"section1": report.section1.model_dump(mode="json"),
                          "section2": report.section2.model_dump(mode="json"),
                          "rows": [r.model_dump(mode="json") for r in report.rows]},
                sent_at=dt.datetime.now(dt.UTC))
            session.add(row)
            session.flush()
            ids.append(row.id)
        session.commit()
    return ids


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SecopsError(f"report_issuers.yaml: timezone {name!r}: unknown zone") from exc


def sent_reports(db: Database, year: int | None = None) -> list[SentReportRow]:
    with db.session() as session:
        query = select(SentReportRow).order_by(SentReportRow.sent_at, SentReportRow.id)
        if year is not None:
            query = query.where(SentReportRow.year == year)
        return list(session.scalars(query))


def sent_lines(rows: list[SentReportRow], tz: ZoneInfo) -> list[list[str]]:
    """Rows for people: the time in the province's zone, named; the recipient in Vietnamese."""
    recipient = {"ministry": "Bộ/cơ quan quản lý", "owner": "Chủ quản (nội bộ)"}
    out = []
    for r in rows:
        local = r.sent_at.astimezone(tz)
        out.append([str(r.id), f"{local:%d/%m/%Y %H:%M} ({tz.key})", str(r.year), r.owner_code,
                    "tổng hợp" if r.summary else "chủ quản", recipient.get(r.recipient, r.recipient),
                    r.recipient_name, r.formats, "có" if r.signed else "không", r.sha256,
                    " ".join(f"{f['name']}={f['sha256'][:12]}" for f in r.files)])
    return out


SENT_HEADINGS = ["Số TT", "Thời điểm ghi", "Năm", "Mã chủ quản", "Loại", "Gửi", "Kính gửi", "Định dạng", "Ký số",
                 "sha256 (danh sách tệp)", "Tệp (sha256 12 ký tự đầu)"]


def sent_listing(db: Database, policies: Path, year: int | None = None) -> list[str]:
    """`secops report sent`: the headings, then one tab-separated line per report recorded."""
    from secops.register.issuers import load_issuers

    rows = sent_lines(sent_reports(db, year), zone(load_issuers(policies).timezone))
    clean = [[cell.replace("\t", " ").replace("\n", " ") for cell in row] for row in rows]
    return ["\t".join(SENT_HEADINGS), *("\t".join(row) for row in clean)]
