"""Import a protection console's CSV export as dated evidence (`secops evidence import`).

Columns, status words and date formats come from policies/evidence_import.yaml. Rows are matched
to inventory endpoints exactly as discovery matches hosts (secops/discover/reconcile.py: MAC, IP,
hostname; when the rules disagree the row is a conflict, reported and not stored).
All rows are validated first; any bad row aborts the import with `file:row: column: reason` and
nothing is written. Unmatched rows are reported, not stored. Re-importing a file is idempotent.
"""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from secops.errors import InputRowsError, RowError, SecopsError
from secops.models import EvidenceSource, normalise_mac
from secops.config import policy_path
from secops.discover.parse import Host
from secops.discover.reconcile import EndpointIndex
from secops.inputguard import input_errors
from secops.policyfile import load_model
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import EvidenceRow


class ImportMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    columns: dict[str, list[str]]
    statuses: dict[str, list[str]]
    date_formats: list[str]


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    unmatched: list[str] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    hostname: str
    ip: str | None
    mac: str | None
    product: str | None
    status: str
    observed_at: dt.datetime


def _columns(header: list[str], mapping: ImportMapping, path: Path) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    found = {}
    for name, aliases in mapping.columns.items():
        for alias in aliases:
            if alias.lower() in lowered:
                found[name] = lowered.index(alias.lower())
                break
    missing = [c for c in ("status", "last_update") if c not in found]
    if "hostname" not in found and "ip" not in found:
        missing.append("hostname or ip")
    if missing:
        raise SecopsError(f"{path}: missing column(s): {', '.join(missing)} (see policies/evidence_import.yaml)")
    return found


def _parse_date(text: str, formats: list[str]) -> dt.datetime:
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=dt.timezone.utc)
    raise ValueError(f"date {text!r} matches none of {', '.join(formats)}")


def read_rows(path: Path, mapping: ImportMapping) -> list[_Row]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SecopsError(f"{path}: cannot open: {exc.strerror}") from exc
    status_of = {word.lower(): status for status, words in mapping.statuses.items() for word in words}
    rows, errors = [], []
    now = utcnow()
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise SecopsError(f"{path}: empty file")
        cols = _columns(header, mapping, path)
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            get = lambda name: cells[cols[name]].strip() if name in cols and cols[name] < len(cells) else ""  # noqa: E731
            try:
                ip = get("ip") or None
                if ip:
                    ip = str(ipaddress.ip_address(ip))
            except ValueError:
                errors.append(RowError(str(path), line, "ip", f"{get('ip')!r} is not an IP address"))
                continue
            try:
                mac = normalise_mac(get("mac") or None)
            except ValueError as exc:
                errors.append(RowError(str(path), line, "mac", str(exc)))
                continue
            status = status_of.get(get("status").lower())
            if status is None:
                errors.append(RowError(str(path), line, "status", f"unknown status {get('status')!r}"))
                continue
            try:
                observed = _parse_date(get("last_update"), mapping.date_formats)
            except ValueError as exc:
                errors.append(RowError(str(path), line, "last_update", str(exc)))
                continue
            if observed > now + dt.timedelta(days=1):
                errors.append(RowError(str(path), line, "last_update", f"{get('last_update')} is in the future"))
                continue
            if not get("hostname") and not ip:
                errors.append(RowError(str(path), line, "hostname", "neither hostname nor ip given"))
                continue
            rows.append(_Row(line, get("hostname"), ip, mac, get("product") or None, status, observed))
    if errors:
        raise InputRowsError(errors)
    return rows


def import_evidence(db: Database, path: Path, source_name: str, policies_dir: Path,
                    run_id: int | None = None) -> ImportResult:
    mapping = load_model(policy_path(policies_dir, "evidence_import.yaml"), ImportMapping)
    with input_errors(path):  # undecodable bytes, NULs: `file: reason`, not a traceback
        rows = read_rows(path, mapping)
    result = ImportResult()
    with db.session() as session:
        # Matched exactly as discovery matches hosts (MAC, IP, hostname; disagreement = conflict,
        # never a guess), so a console row and a scan of the same machine land on the same endpoint.
        index = EndpointIndex(session)
        for row in rows:
            match = index.match(Host(address=row.ip or "", mac=row.mac, hostnames=[row.hostname] if row.hostname else []))
            endpoint_id = match.endpoint_id
            if endpoint_id is None:
                why = f" (conflict: {match.candidates})" if match.status == "conflict" else ""
                result.unmatched.append(f"{path}:{row.line}: {row.hostname or row.ip}{why}")
                continue
            exists = session.scalar(select(EvidenceRow.id).where(
                EvidenceRow.endpoint_id == endpoint_id, EvidenceRow.source == EvidenceSource.console.value,
                EvidenceRow.observed_at == row.observed_at))
            if exists is not None:
                result.duplicates += 1
                continue
            session.add(EvidenceRow(endpoint_id=endpoint_id, status=row.status, product=row.product or source_name,
                                    source=EvidenceSource.console.value, observed_at=row.observed_at, run_id=run_id,
                                    detail=f"console export {source_name}: {path.name} row {row.line}"))
            result.imported += 1
    return result
