"""Write a discovery run: the scan row, then each chunk in its own transaction.

A chunk's XML is parsed completely before anything is written; its hosts, ports, reconciliation
and last_seen updates are committed together, so a chunk is stored whole or (on a parse error)
only as a failed chunk with its raw output for audit. Chunks already stored stay when a later one
fails or the run is interrupted.

Hosts and ports are written in bulk: one Core INSERT executemany for a chunk's hosts
(their ids returned in order), one for their ports, and the matched endpoints' last_seen in
UPDATEs of up to LAST_SEEN_BATCH ids each. tests/test_discover_store_bulk.py checks that this
writes the same rows as the former ORM writer (one object per host and port, one UPDATE per
matched endpoint).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, or_, update
from sqlalchemy.orm import Session

from secops.discover.nmap_runner import ChunkOutput
from secops.discover.parse import NmapParseError, ScanOutput, parse_nmap_xml
from secops.discover.reconcile import EndpointIndex
from secops.discover.scope import ScopePlan
from secops.discover.tables import DiscoveredHostRow, DiscoveredPortRow, DiscoveryChunkRow, DiscoveryScanRow
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import EndpointRow

HOSTS, PORTS, ENDPOINTS = (cast(Table, row.__table__) for row in (DiscoveredHostRow, DiscoveredPortRow, EndpointRow))
LAST_SEEN_BATCH = 500  # ids per UPDATE: far below SQLite's and PostgreSQL's bound-parameter limits


def compress(text: str) -> tuple[bytes | None, int]:
    raw = text.encode("utf-8")
    return (zlib.compress(raw, 6) if raw else None), len(raw)


def decompress(blob: bytes | None) -> str:
    return zlib.decompress(blob).decode("utf-8") if blob else ""


def create_scan(db: Database, run_id: int, plan: ScopePlan, profile: str, arguments: list[str],
                version: str | None) -> int:
    with db.session() as session:
        scan = DiscoveryScanRow(run_id=run_id, agency_code=plan.agency_code, profile=profile, arguments=arguments,
                                targets=plan.networks, requested=plan.requested, excluded=plan.trimmed,
                                scope_file=plan.scope_file, override_reason=plan.override_reason,
                                nmap_version=version)
        session.add(scan)
        session.flush()
        return scan.id


def finish_scan(db: Database, scan_id: int) -> None:
    with db.session() as session:
        scan = session.get(DiscoveryScanRow, scan_id)
        assert scan is not None
        scan.finished_at = utcnow()


def _chunk_row(scan_id: int, out: ChunkOutput, status: str, error: str | None, hosts_up: int) -> DiscoveryChunkRow:
    blob, size = compress(out.xml)
    return DiscoveryChunkRow(scan_id=scan_id, targets=out.targets, status=status, error=error, command=out.command,
                             started_at=out.started_at, finished_at=out.finished_at, hosts_up=hosts_up,
                             raw_xml=blob, raw_size=size)


@dataclass
class ChunkRecord:
    """What one stored chunk contributed (for the run's summary)."""

    targets: list[str]
    status: str
    error: str | None
    parsed: ScanOutput | None
    matches: Counter[str] = field(default_factory=Counter)


def record_chunk(db: Database, run_id: int, scan_id: int, out: ChunkOutput,
                 index: EndpointIndex | None = None) -> ChunkRecord:
    """Store one chunk whole: a failed parse stores the chunk as failed, with its raw output only.
    `index`: the inventory already read for this run (else it is read here, for this chunk)."""
    with db.session() as session:
        return store_chunk(session, run_id, scan_id, out, index)


def store_chunk(session: Session, run_id: int, scan_id: int, out: ChunkOutput,
                index: EndpointIndex | None = None) -> ChunkRecord:
    """record_chunk inside the caller's transaction (a remote scanner's task is stored in one)."""
    parsed: ScanOutput | None = None
    status, error = out.status, out.error
    if status == "ok":
        try:
            document = out.document if out.document is not None else out.xml
            parsed = parse_nmap_xml(document, f"nmap output for {' '.join(out.targets)}")
        except NmapParseError as exc:
            status, error = "failed", str(exc)
    row = _chunk_row(scan_id, out, status, error, len(parsed.hosts) if parsed else 0)
    session.add(row)
    session.flush()
    matches = store_hosts(session, run_id, row.id, parsed, out.finished_at, index) if parsed else Counter()
    return ChunkRecord(targets=out.targets, status=status, error=error, parsed=parsed, matches=matches)


def store_hosts(session: Session, run_id: int, chunk_id: int, parsed: ScanOutput, seen_at: dt.datetime,
                index: EndpointIndex | None = None) -> Counter[str]:
    """Hosts, ports and reconciliation of one parsed chunk, inside the caller's transaction."""
    index = index or EndpointIndex(session, in_service=True)
    matched: dict[int, None] = {}  # endpoint ids, in the order first seen
    statuses: Counter[str] = Counter()
    hosts: list[dict[str, Any]] = []
    for host in parsed.hosts:
        match = index.match(host)
        statuses[match.status] += 1
        hosts.append({"run_id": run_id, "chunk_id": chunk_id, "address": host.address, "mac": host.mac,
                      "vendor": host.vendor, "hostname": host.hostname, "hostnames": host.hostnames,
                      "status_reason": host.status_reason, "os_name": host.os_name, "os_accuracy": host.os_accuracy,
                      "os_family": host.os_family, "seen_at": seen_at, "match_status": match.status,
                      "match_rule": match.rule, "endpoint_id": match.endpoint_id,
                      "match_detail": {"candidates": match.candidates} if match.candidates else {}})
        if match.endpoint_id is not None:
            matched[match.endpoint_id] = None
    if hosts:
        # Ids come back in the order of the rows given, so each host's ports hang off the right one.
        ids = session.execute(insert(HOSTS).returning(HOSTS.c.id, sort_by_parameter_order=True), hosts).scalars()
        ports = [{"host_id": host_id, "protocol": p.protocol, "port": p.port, "state": p.state, "service": p.service,
                  "product": p.product, "version": p.version, "extrainfo": p.extrainfo}
                 for host_id, host in zip(ids, parsed.hosts, strict=True) for p in host.ports]
        if ports:
            session.execute(insert(PORTS), ports)
    endpoint_ids = list(matched)  # every host of a chunk is seen at the same time: one UPDATE per batch
    for start in range(0, len(endpoint_ids), LAST_SEEN_BATCH):
        # A sighting is not an inventory edit: keep updated_at as it was.
        session.execute(update(ENDPOINTS)
                        .where(ENDPOINTS.c.id.in_(endpoint_ids[start:start + LAST_SEEN_BATCH]),
                               or_(ENDPOINTS.c.last_seen.is_(None), ENDPOINTS.c.last_seen < seen_at))
                        .values(last_seen=seen_at, updated_at=ENDPOINTS.c.updated_at))
    return statuses


def record_interrupted(db: Database, scan_id: int, targets: list[str]) -> None:
    """A chunk that had not finished when the run was interrupted: recorded, with no results."""
    now = utcnow()
    out = ChunkOutput(targets=targets, command=[], started_at=now, finished_at=now)
    with db.session() as session:
        session.add(_chunk_row(scan_id, out, "interrupted", "the run was interrupted before this chunk finished", 0))
