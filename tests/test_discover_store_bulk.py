"""Discovery results stored in bulk (issue 12) write the same rows as the former ORM writer.

`orm_store_hosts` below is the writer as it was before (one ORM object per host and port, one
UPDATE per matched endpoint), kept as the reference. Both run on the same database state (each in
a transaction that is rolled back) for hypothesis-generated inventories and scans, for the
recorded nmap documents of tests/fixtures/discover and for a real nmap scan of loopback
listeners, on SQLite and on a real PostgreSQL server; the hosts, ports and endpoint changes they
leave, and the reconciliation counts they return, must be equal.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from secops.discover.nmap_runner import run_chunk
from secops.discover.parse import Host, Port, ScanOutput, parse_nmap_xml
from secops.discover.reconcile import EndpointIndex
from secops.discover.scope import ScopePlan
from secops.discover.store import create_scan, store_hosts
from secops.discover.tables import DiscoveredHostRow, DiscoveredPortRow, DiscoveryChunkRow
from secops.runs import start_run
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow
from tests.discover_helpers import NMAP, Listeners, seed_inventory

FIXTURES = Path(__file__).parent / "fixtures" / "discover"
SEEN = dt.datetime(2026, 11, 23, 11, 16, 53, tzinfo=dt.UTC)
EDITED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def orm_store_hosts(session: Session, run_id: int, chunk_id: int, parsed: ScanOutput,
                    seen_at: dt.datetime) -> Counter[str]:
    """The writer before issue 12, verbatim: the reference."""
    index = EndpointIndex(session)
    matched: dict[int, dt.datetime] = {}
    statuses: Counter[str] = Counter()
    for host in parsed.hosts:
        match = index.match(host)
        statuses[match.status] += 1
        row = DiscoveredHostRow(run_id=run_id, chunk_id=chunk_id, address=host.address, mac=host.mac,
                                vendor=host.vendor, hostname=host.hostname, hostnames=host.hostnames,
                                status_reason=host.status_reason, os_name=host.os_name, os_accuracy=host.os_accuracy,
                                os_family=host.os_family, seen_at=seen_at, match_status=match.status,
                                match_rule=match.rule, endpoint_id=match.endpoint_id,
                                match_detail={"candidates": match.candidates} if match.candidates else {})
        row.ports = [DiscoveredPortRow(protocol=p.protocol, port=p.port, state=p.state, service=p.service,
                                       product=p.product, version=p.version, extrainfo=p.extrainfo)
                     for p in host.ports]
        session.add(row)
        if match.endpoint_id is not None:
            matched[match.endpoint_id] = seen_at
    for endpoint_id, seen in matched.items():
        session.execute(update(EndpointRow)
                        .where(EndpointRow.id == endpoint_id,
                               or_(EndpointRow.last_seen.is_(None), EndpointRow.last_seen < seen))
                        .values(last_seen=seen, updated_at=EndpointRow.updated_at))
    return statuses


class Lab:
    """A database with an agency, a discovery run, its scan and one chunk, committed."""

    def __init__(self, url: str):
        self.db = Database(url)
        seed_inventory(self.db, [])
        self.run_id = start_run(self.db, "discover", agency_code="DISC")
        plan = ScopePlan(agency_code="DISC", scope_file="scope.yaml", requested=["192.0.2.0/24"],
                         networks=["192.0.2.0/24"])
        scan_id = create_scan(self.db, self.run_id, plan, "standard", ["-T3"], "7.93")
        with self.db.session() as session:
            chunk = DiscoveryChunkRow(scan_id=scan_id, targets=["192.0.2.0/24"], status="ok")
            session.add(chunk)
            session.flush()
            self.chunk_id = chunk.id
            self.agency_id = session.scalar(select(AgencyRow.id).where(AgencyRow.code == "DISC-SO"))

    def outcome(self, writer: str, inventory: list[dict[str, Any]], parsed: ScanOutput,
                prebuilt_index: bool = False) -> tuple[Any, ...]:
        """What one writer leaves, in a transaction rolled back afterwards (ids made relative:
        PostgreSQL sequences do not roll back)."""
        with self.db.engine.connect() as conn, Session(bind=conn) as session:
            transaction = conn.begin()
            try:
                if inventory:
                    session.execute(insert(EndpointRow.__table__),
                                    [{**e, "agency_id": self.agency_id, "os_family": "linux", "role": "server",
                                      "updated_at": EDITED} for e in inventory])
                before = _endpoints(session)
                if writer == "orm":
                    counts = orm_store_hosts(session, self.run_id, self.chunk_id, parsed, SEEN)
                else:
                    index = EndpointIndex(session) if prebuilt_index else None
                    counts = store_hosts(session, self.run_id, self.chunk_id, parsed, SEEN, index)
                session.flush()
                after = _endpoints(session)
                return counts, _hosts_and_ports(session, self.chunk_id), {
                    code: {k: (v, after[code][k]) for k, v in row.items() if after[code][k] != v}
                    for code, row in before.items() if after[code] != row}
            finally:
                transaction.rollback()

    def same(self, inventory: list[dict[str, Any]], parsed: ScanOutput) -> tuple[Any, ...]:
        reference = self.outcome("orm", inventory, parsed)
        assert self.outcome("bulk", inventory, parsed) == reference
        assert self.outcome("bulk", inventory, parsed, prebuilt_index=True) == reference
        return reference


def _endpoints(session: Session) -> dict[str, dict[str, Any]]:
    rows = session.execute(select(EndpointRow.__table__).order_by(EndpointRow.code)).mappings()
    return {row["code"]: {k: v for k, v in row.items() if k != "id"} for row in rows}


def _hosts_and_ports(session: Session, chunk_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    hosts = [dict(r) for r in session.execute(select(DiscoveredHostRow.__table__)
                                               .where(DiscoveredHostRow.chunk_id == chunk_id)
                                               .order_by(DiscoveredHostRow.id)).mappings()]
    host_rank = {h["id"]: n for n, h in enumerate(hosts)}
    codes = {row.id: row.code for row in session.execute(select(EndpointRow.id, EndpointRow.code))}
    ports = [dict(r) for r in session.execute(select(DiscoveredPortRow.__table__)
                                               .where(DiscoveredPortRow.host_id.in_(host_rank))
                                               .order_by(DiscoveredPortRow.id)).mappings()]
    for n, host in enumerate(hosts):
        host["id"] = n
        host["endpoint_id"] = codes.get(host["endpoint_id"])  # matched endpoint, by code
    for n, port in enumerate(ports):
        port["id"], port["host_id"] = n, host_rank[port["host_id"]]
    return hosts, ports


@pytest.fixture(params=["sqlite", "postgresql"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    url = f"sqlite:///{tmp_path / 'bulk.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    made = Lab(url)
    yield made
    made.db.dispose()


# --- generated inventories and scans: few distinct values, so that rules match, agree and conflict ---

ADDRESSES = [f"192.0.2.{n}" for n in range(1, 13)]
MACS = ["52:54:00:12:34:56", "00:1A:2B:3C:4D:5E", "AA:BB:CC:00:11:22", "02:00:00:00:00:01"]
NAMES = ["pc01", "PC01.so-tc.local", "pc02.so-tc.local", "printer", "srv", "srv.example.", "Web01"]
SERVICES = [None, "http", "ssh", "microsoft-ds", "<b>x</b>"]
text = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))

ports = st.lists(st.builds(Port, protocol=st.sampled_from(["tcp", "udp"]), port=st.integers(1, 65535),
                           state=st.sampled_from(["open", "closed", "filtered"]), service=st.sampled_from(SERVICES),
                           product=text, version=text, extrainfo=text),
                 max_size=5, unique_by=lambda p: (p.protocol, p.port))
hosts = st.lists(st.builds(Host, address=st.sampled_from(ADDRESSES), mac=st.one_of(st.none(), st.sampled_from(MACS)),
                           vendor=text, hostnames=st.lists(st.sampled_from(NAMES), max_size=2, unique=True),
                           status_reason=st.sampled_from([None, "syn-ack", "arp-response"]),
                           os_name=text, os_accuracy=st.one_of(st.none(), st.integers(0, 100)),
                           os_family=st.sampled_from([None, "Linux", "Windows"]), ports=ports),
                 max_size=10, unique_by=lambda h: h.address)
last_seen = st.one_of(st.none(), st.sampled_from([SEEN - dt.timedelta(days=3), SEEN, SEEN + dt.timedelta(days=1)]))
inventories = st.lists(st.fixed_dictionaries({
    "hostname": st.sampled_from(NAMES + ["other", "pc01.other.local"]),
    "ips": st.lists(st.sampled_from(ADDRESSES), max_size=2, unique=True),
    "mac": st.one_of(st.none(), st.sampled_from(MACS)), "last_seen": last_seen}), max_size=8,
    unique_by=lambda e: tuple(e["ips"])).map(
    lambda rows: [{**row, "code": f"EP-{n:02d}"} for n, row in enumerate(rows)])


def test_bulk_store_writes_what_the_orm_writer_wrote(lab: Lab) -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(inventory=inventories, found=hosts)
    def check(inventory: list[dict[str, Any]], found: list[Host]) -> None:
        counts, (_hosts, stored_ports), changed = lab.same(inventory, ScanOutput(hosts=found))
        seen.update(counts)
        seen["ports"] += len(stored_ports)
        seen["last_seen set"] += sum(1 for c in changed.values() if c["last_seen"][0] is None)
        seen["last_seen moved on"] += sum(1 for c in changed.values() if c["last_seen"][0] is not None)
        seen["last_seen kept"] += sum(1 for e in inventory if e["last_seen"] and e["last_seen"] >= SEEN)

    check()
    # The examples did reach every outcome, so equal results above mean something.
    assert all(seen[k] for k in ("matched", "unregistered", "conflict", "ports", "last_seen set",
                                 "last_seen moved on", "last_seen kept")), seen


@pytest.mark.parametrize("name", ["lan_sample.xml", "loopback_services_os.xml", "loopback_ping.xml"])
def test_recorded_scans_are_stored_alike(lab: Lab, name: str) -> None:
    parsed = parse_nmap_xml((FIXTURES / name).read_text(encoding="utf-8"), name)
    inventory = [{"code": "EP-PC", "hostname": "pc01", "ips": ["192.0.2.99"], "mac": "52:54:00:12:34:56",
                  "last_seen": None},
                 {"code": "EP-WEB", "hostname": "web01", "ips": ["127.0.3.1"], "mac": None,
                  "last_seen": SEEN - dt.timedelta(days=1)},
                 {"code": "EP-TWIN", "hostname": "twin", "ips": ["127.0.3.2", "192.0.2.11"], "mac": None,
                  "last_seen": None},
                 {"code": "EP-TWIN2", "hostname": "twin2", "ips": ["127.0.3.2"], "mac": None, "last_seen": None}]
    counts, (stored_hosts, stored_ports), _changed = lab.same(inventory, parsed)
    assert len(stored_hosts) == len(parsed.hosts) and sum(counts.values()) == len(parsed.hosts)
    assert len(stored_ports) == sum(len(h.ports) for h in parsed.hosts)


def test_a_real_loopback_scan_is_stored_alike(lab: Lab, tmp_path: Path) -> None:
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    listeners = Listeners()
    try:
        web = [listeners.http(f"127.0.3.{n}") for n in (1, 2, 5)]
        out = run_chunk(shutil.which("nmap") or NMAP, ["127.0.3.0/29"],
                        ["-T4", "-n", "-p", ",".join(map(str, sorted(set(web))))], 120)
    finally:
        listeners.close()
    assert out.status == "ok", out.error
    parsed = parse_nmap_xml(out.xml)
    assert out.document is not None and parse_nmap_xml(out.document) == parsed  # what storing a chunk reuses
    assert len(parsed.hosts) == 8 and sum(len(h.open_ports()) for h in parsed.hosts) >= 3
    inventory = [{"code": f"EP-{n}", "hostname": f"h{n}", "ips": [f"127.0.3.{n}"], "mac": None, "last_seen": None}
                 for n in (1, 2, 3)]
    counts, _rows, changed = lab.same(inventory, parsed)
    assert counts == Counter({"matched": 3, "unregistered": 5}) and len(changed) == 3
