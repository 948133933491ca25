"""Import a protection console's export as dated evidence (`secops evidence import`).

The export is read by secops/evidence/rows.py (text, xlsx, SpreadsheetML), interpreted
by a profile (policies/evidence_profiles/*.yaml, chosen by name or recognised by its headers) and
matched to inventory endpoints exactly as discovery matches hosts (secops/discover/reconcile.py:
MAC, IP, hostname; when the rules disagree the row is a conflict, reported and not stored).
All rows are validated first; any bad row aborts the import with `file:row: field: reason` and
nothing is written. Unmatched rows are reported, not stored. Re-importing a file is idempotent
(same endpoint, source and observation time = already present). Rows are inserted in bulk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from secops.discover.parse import Host
from secops.discover.reconcile import EndpointIndex
from secops.errors import InputRowsError, RowError, SecopsError
from secops.evidence.profiles import Profile, choose_profile, find_header, load_profile, load_profiles, resolve_columns
from secops.evidence.rows import open_table
from secops.evidence.values import DateOrder, ValueProblem, parse_days, parse_when, state_of, zone
from secops.i18n import _
from secops.localtime import future_reason
from secops.models import EvidenceSource, normalise_mac
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import EndpointRow, EvidenceRow
from secops.textio import Limits
from secops.textsafe import looks_like_formula, printable

# Worst first: the row's status is the worst any of its fields says.
SEVERITY = {"unprotected": 3, "degraded": 2, "unknown": 1, "protected": 0}
MAX_ERRORS = 200  # listed; the rest are counted (a broken 1M-row file must not flood memory)
MAX_LISTED = 200  # unmatched rows listed
CHUNK = 1000


@dataclass(slots=True)
class ConsoleRow:
    line: int
    hostname: str
    ip: str | None
    mac: str | None
    product: str | None
    status: str
    console_status: str | None
    observed_at: dt.datetime
    reason: str


@dataclass
class ImportOptions:
    profile: str = "auto"
    source: str | None = None
    exported_at: dt.datetime | None = None
    date_order: DateOrder = ""
    encoding: str | None = None
    max_rows: int = 200_000
    max_age_days: int | None = None  # T2's evidence age: older matched rows are counted as stale
    dry_run: bool = False  # match and count, write nothing (the console's preview)
    agency_ids: set[int] | None = None  # only endpoints of these agencies; rows of others are refused


@dataclass
class ImportResult:
    profile: str = ""
    profile_title: str = ""
    chosen: str = ""  # "recognised by its headers" or "named"
    table: str = ""
    reference: dt.datetime | None = None
    reference_kind: str = ""  # "export time (--exported-at)" or "import time"
    imported: int = 0
    duplicates: int = 0
    stale: int = 0
    unmatched: list[str] = field(default_factory=list)
    unmatched_count: int = 0
    conflicting: int = 0
    outside: int = 0  # matched an endpoint outside ImportOptions.agency_ids: refused
    statuses: Counter[str] = field(default_factory=Counter)
    draft: bool = False


class _Interpreter:
    """One row's cells -> ConsoleRow, with the profile's rules."""

    def __init__(self, profile: Profile, cols: dict[str, int], reference: dt.datetime, date_order: DateOrder,
                 path: Path):
        self.profile, self.cols, self.reference, self.order, self.path = profile, cols, reference, date_order, path
        self.tz = zone(profile)

    def cell(self, cells: list[str], name: str) -> str:
        index = self.cols.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    def when(self, cells: list[str], name: str | None) -> dt.datetime | None:
        if name is None or name not in self.cols:
            return None
        try:
            return parse_when(self.cell(cells, name), self.profile, self.reference, self.order, self.tz)
        except ValueProblem as exc:
            raise _FieldProblem(name, str(exc)) from exc

    def row(self, line: int, cells: list[str]) -> ConsoleRow:
        profile = self.profile
        self._check_shape(cells)
        ip, mac = self._address(cells)
        hostname = self.cell(cells, "hostname")
        if not hostname and not ip:
            raise _FieldProblem("hostname", _("neither hostname nor ip given"))
        observed = self.when(cells, profile.observed_at) or self.reference
        future = future_reason(observed, "observed at")
        if future or observed > self.reference + dt.timedelta(days=1):
            raise _FieldProblem(profile.observed_at or "observed_at",
                                future or _("{value} is after the file was exported").format(
                                    value=self.cell(cells, profile.observed_at or "")))
        self._check_other(cells)
        status, reason = self._status(cells, observed)
        console = self.cell(cells, profile.console_status) if profile.console_status else ""
        return ConsoleRow(line, hostname, ip, mac, self.cell(cells, "product") or None, status,
                          printable(console, 200) or None, observed, reason)

    def _check_shape(self, cells: list[str]) -> None:
        """A whole row, its required cells filled, and no name a spreadsheet would run as a formula."""
        if self.cols and max(self.cols.values()) >= len(cells):
            raise _FieldProblem("row", _("truncated: {n} cell(s), the header has more").format(n=len(cells)))
        for name in self.profile.required:
            if not self.cell(cells, name):
                raise _FieldProblem(name, _("empty"))
        for name in ("hostname", "product"):
            text = self.cell(cells, name)
            if looks_like_formula(text):
                raise _FieldProblem(name, _("{value} looks like a spreadsheet formula; refused").format(
                    value=repr(printable(text, 60))))

    def _address(self, cells: list[str]) -> tuple[str | None, str | None]:
        """The row's IP (normalised) and MAC (normalised), or the reason they cannot be read."""
        ip = self.cell(cells, "ip") or None
        if ip:
            try:
                ip = str(ipaddress.ip_address(ip))
            except ValueError as exc:
                raise _FieldProblem("ip", _("{value} is not an IP address").format(value=repr(printable(ip, 60)))) from exc
        try:
            return ip, normalise_mac(self.cell(cells, "mac") or None)
        except ValueError as exc:
            raise _FieldProblem("mac", str(exc)) from exc

    def _check_other(self, cells: list[str]) -> None:
        """Dates and day counts that do not decide the status are still read: a cell the profile
        cannot read means the export is not what the profile describes."""
        decided = {self.profile.observed_at, self.profile.signature_date, self.profile.signature_age}
        for name, spec in self.profile.fields.items():
            if name in decided or name not in self.cols:
                continue
            if spec.kind == "date":
                self.when(cells, name)
            elif spec.kind == "days":
                try:
                    parse_days(self.cell(cells, name), spec)
                except ValueProblem as exc:
                    raise _FieldProblem(name, str(exc)) from exc

    def _status(self, cells: list[str], observed: dt.datetime) -> tuple[str, str]:
        """The worst status any field says, with every reason that says it."""
        votes = self._state_votes(cells) + self._signature_votes(cells, observed)
        if not votes:
            return "unknown", "no protection field filled"
        worst = max(SEVERITY[v] for v, _ in votes)
        status = next(v for v, _ in votes if SEVERITY[v] == worst)
        because = [why for v, why in votes if v == status]
        return status, "; ".join(because)

    def _state_votes(self, cells: list[str]) -> list[tuple[str, str]]:
        votes: list[tuple[str, str]] = []
        for name, spec in self.profile.fields.items():
            if spec.kind != "state" or name not in self.cols:
                continue
            try:
                mapped = state_of(self.cell(cells, name), spec)
            except ValueProblem as exc:
                raise _FieldProblem(name, str(exc)) from exc
            if mapped is not None and mapped != "ignore":
                votes.append((mapped, f"{name}={printable(self.cell(cells, name), 60)}"))
        return votes

    def _signature_votes(self, cells: list[str], observed: dt.datetime) -> list[tuple[str, str]]:
        """Signatures older than the profile's limit make the row degraded (by date or by day count)."""
        votes: list[tuple[str, str]] = []
        limit = self.profile.max_signature_age_days
        signed = self.when(cells, self.profile.signature_date)
        if signed is not None:
            age = (observed - signed).days
            votes.append(("degraded" if age > limit else "protected", f"signatures {age} day(s) old"))
        if self.profile.signature_age and self.profile.signature_age in self.cols:
            text = self.cell(cells, self.profile.signature_age)
            try:
                days = parse_days(text, self.profile.fields[self.profile.signature_age])
            except ValueProblem as exc:
                raise _FieldProblem(self.profile.signature_age, str(exc)) from exc
            if days is None and text:
                votes.append(("degraded", "signatures never updated"))
            elif days is not None:
                votes.append(("degraded" if days > limit else "protected", f"signatures {days} day(s) old"))
        return votes


class _FieldProblem(Exception):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def _pick(path: Path, options: ImportOptions, policies_dir: Path, limits: Limits,
          result: ImportResult) -> tuple[Profile, list[tuple[int, list[str]]], object]:
    named = None if options.profile == "auto" else load_profile(policies_dir, options.profile)
    profiles = [named] if named else load_profiles(policies_dir)
    sheets = [p.sheet for p in profiles if p.sheet]
    table = open_table(path, sheets=sheets, encoding=options.encoding, limits=limits)
    result.table = table.label
    head = list(islice(table.rows, 50))
    if not head:
        raise SecopsError(_("{path}: empty file").format(path=path))
    if named is None:
        fallbacks = [p for p in profiles if not p.recognise and table.kind in p.formats]
        try:
            profile = choose_profile(profiles, head, table.kind, path)
        except SecopsError:
            if len(fallbacks) == 1 and not any(p.recognise and table.kind in p.formats for p in profiles
                                               if find_header(p, head) is not None):
                _cols, missing = resolve_columns(fallbacks[0], head[0][1])
                raise SecopsError(_("{path}: missing column(s): {items} for profile {name}, and no other profile "
                                    "recognises the headers; see `secops evidence profile new`").format(
                                      path=path, items=', '.join(missing), name=fallbacks[0].name)) from None
            raise
        result.chosen = "recognised by its headers"
    else:
        profile, result.chosen = named, "named"
        if table.kind not in profile.formats:
            raise SecopsError(_("{path}: profile {name} reads {items}, this file is {kind}").format(
                                  path=path, name=profile.name, items=', '.join(profile.formats),
                                  kind=table.kind))
    return profile, head, table.rows


def read_rows(path: Path, options: ImportOptions, policies_dir: Path,
              result: ImportResult) -> tuple[Profile, list[ConsoleRow]]:
    limits = Limits(max_rows=options.max_rows)
    profile, head, rest = _pick(path, options, policies_dir, limits, result)
    result.profile, result.profile_title, result.draft = profile.name, profile.title, profile.draft
    result.reference = options.exported_at or utcnow()
    result.reference_kind = "export time (--exported-at)" if options.exported_at else "import time"
    index = find_header(profile, head)
    if index is None:
        _cols, missing = resolve_columns(profile, head[0][1])
        raise SecopsError(_("{path}: missing column(s): {items} (profile {name}: "
                            "policies/evidence_profiles/{name}.yaml)").format(
                              path=path, items=', '.join(missing), name=profile.name))
    cols, _missing = resolve_columns(profile, head[index][1])
    interpreter = _Interpreter(profile, cols, result.reference, options.date_order, path)
    rows: list[ConsoleRow] = []
    errors: list[RowError] = []
    bad = 0

    def body() -> Iterator[tuple[int, list[str]]]:  # the buffered head after the header, then the rest of the stream
        yield from head[index + 1:]
        yield from rest  # type: ignore[misc]

    for line, cells in body():
        if not any(c.strip() for c in cells):
            continue
        try:
            rows.append(interpreter.row(line, cells))
        except _FieldProblem as exc:
            bad += 1
            if len(errors) < MAX_ERRORS:
                errors.append(RowError(str(path), line, exc.name, str(exc)))
    if bad > len(errors):
        # English: InputRowsError.rows reads the count back from this line
        errors.append(RowError(str(path), 0, "rows", f"{bad - len(errors)} more invalid row(s) not listed"))
    if errors:
        raise InputRowsError(errors)
    for row in rows:
        result.statuses[row.status] += 1
    return profile, rows


def import_evidence(db: Database, path: Path, source_name: str | None, policies_dir: Path,
                    run_id: int | None = None, options: ImportOptions | None = None) -> ImportResult:
    options = options or ImportOptions()
    result = ImportResult()
    profile, rows = read_rows(path, options, policies_dir, result)
    source_label = source_name or profile.title
    stale_before = (result.reference - dt.timedelta(days=options.max_age_days)
                    if options.max_age_days is not None and result.reference else None)
    with db.session() as session:
        matched = _match(session, path, rows, result)
        if options.agency_ids is not None and matched:
            matched = _inside(session, path, matched, options.agency_ids, result)
        times = [row.observed_at for _, row in matched]
        seen = _existing(session, [e for e, _ in matched], min(times), max(times)) if matched else set()
        batch: list[dict[str, object]] = []
        for endpoint_id, row in matched:
            key = (endpoint_id, _naive(row.observed_at))
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
            if stale_before is not None and row.observed_at < stale_before:
                result.stale += 1
            batch.append(_evidence_row(endpoint_id, row, profile, source_label, path, run_id))
            result.imported += 1
            if len(batch) >= CHUNK:
                if not options.dry_run:
                    session.execute(insert(EvidenceRow), batch)
                batch = []
        if batch and not options.dry_run:
            session.execute(insert(EvidenceRow), batch)
    return result


def _match(session: Session, path: Path, rows: list[ConsoleRow], result: ImportResult) -> list[tuple[int, ConsoleRow]]:
    """Rows matched to endpoints exactly as discovery matches hosts (MAC, IP, hostname; disagreement =
    conflict, never a guess), so a console row and a scan of the same machine land on the same endpoint;
    the others are counted and listed (up to MAX_LISTED)."""
    index = EndpointIndex(session, in_service=True)  # a retired endpoint is no longer a match
    matched: list[tuple[int, ConsoleRow]] = []
    for row in rows:
        match = index.match(Host(address=row.ip or "", mac=row.mac, hostnames=[row.hostname] if row.hostname else []))
        if match.endpoint_id is not None:
            matched.append((match.endpoint_id, row))
            continue
        if match.status == "conflict":
            result.conflicting += 1
        else:
            result.unmatched_count += 1
        if len(result.unmatched) < MAX_LISTED:
            conflict = match.status == "conflict"
            why = " " + _("(conflict: {candidates})").format(candidates=match.candidates) if conflict else ""
            result.unmatched.append(f"{path}:{row.line}: {printable(row.hostname or row.ip or '', 200)}{why}")
    return matched


def _inside(session: Session, path: Path, matched: list[tuple[int, ConsoleRow]], agency_ids: set[int],
            result: ImportResult) -> list[tuple[int, ConsoleRow]]:
    """Only the endpoints of the agencies the importer may write for (the console's agency officer)."""
    owners = dict(session.execute(select(EndpointRow.id, EndpointRow.agency_id)
                                  .where(EndpointRow.id.in_({e for e, _ in matched}))).all())
    inside = [(e, r) for e, r in matched if owners.get(e) in agency_ids]
    result.outside = len(matched) - len(inside)
    for _endpoint, row in [(e, r) for e, r in matched if owners.get(e) not in agency_ids][:MAX_LISTED]:
        result.unmatched.append(f"{path}:{row.line}: {printable(row.hostname or row.ip or '', 200)} "
                                + _("(an endpoint of another agency)"))
    return inside


def _evidence_row(endpoint_id: int, row: ConsoleRow, profile: Profile, source_label: str, path: Path,
                  run_id: int | None) -> dict[str, object]:
    return {
        "endpoint_id": endpoint_id, "status": row.status, "source": EvidenceSource.console.value,
        "product": (row.product or profile.product or source_label)[:200], "observed_at": row.observed_at,
        "run_id": run_id, "console_status": row.console_status,
        "centrally_managed": profile.centrally_managed,
        "reports_to_national_platform": profile.reports_to_national_platform,
        "detail": printable(f"{source_label} ({profile.name}): {path.name} row {row.line}: {row.reason}", 1000),
    }


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None)


def _existing(session: Session, endpoint_ids: list[int], first: dt.datetime,
              last: dt.datetime) -> set[tuple[int, dt.datetime]]:
    """(endpoint, observed_at) of console evidence already stored in this file's time span, for the
    idempotent re-import (the span keeps a long history out of memory)."""
    found: set[tuple[int, dt.datetime]] = set()
    unique = sorted(set(endpoint_ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start:start + CHUNK]
        for endpoint_id, observed in session.execute(
                select(EvidenceRow.endpoint_id, EvidenceRow.observed_at).where(
                    EvidenceRow.endpoint_id.in_(chunk), EvidenceRow.source == EvidenceSource.console.value,
                    EvidenceRow.observed_at >= first, EvidenceRow.observed_at <= last)):
            found.add((endpoint_id, _naive(observed) if observed.tzinfo else observed))
    return found


__all__ = ["ConsoleRow", "ImportOptions", "ImportResult", "import_evidence", "read_rows"]
