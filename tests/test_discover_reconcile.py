"""Reconciliation rules on a real SQLite inventory: MAC, then IP, then hostname; conflicts reported."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from secops.discover.parse import Host, ScanOutput
from secops.discover.reconcile import EndpointIndex
from secops.discover.scope import ScopePlan
from secops.discover.store import create_scan, store_hosts
from secops.discover.tables import DiscoveredHostRow, DiscoveryChunkRow
from secops.runs import start_run
from secops.store.tables import EndpointRow
from tests.discover_helpers import days_ago, seed_inventory

INVENTORY = [
    {"code": "EP-A", "hostname": "pc-a.so-tc.local", "ips": ["198.18.0.10"], "mac": "52:54:00:00:00:0a"},
    {"code": "EP-B", "hostname": "pc-b", "ips": ["198.18.0.11"], "mac": "52:54:00:00:00:0b"},
    {"code": "EP-C", "hostname": "printer", "ips": ["198.18.0.12", "198.18.0.13"]},
    {"code": "EP-D1", "hostname": "dup1", "ips": ["198.18.0.20"]},
    {"code": "EP-D2", "hostname": "dup2", "ips": ["198.18.0.20"]},
    {"code": "EP-E", "hostname": "kiosk.a.local", "ips": []},
    {"code": "EP-F", "hostname": "kiosk.b.local", "ips": []},
]


@pytest.fixture
def inventory(db):  # type: ignore[no-untyped-def]
    seed_inventory(db, INVENTORY)
    return db


@pytest.mark.parametrize("host, status, rule, endpoint", [
    # MAC first: the DHCP address changed, the MAC still identifies EP-A.
    (Host(address="198.18.0.99", mac="52:54:00:00:00:0A"), "matched", "mac", "EP-A"),
    # MAC and IP agree: matched, reason is the first rule in the order.
    (Host(address="198.18.0.11", mac="52:54:00:00:00:0B"), "matched", "mac", "EP-B"),
    (Host(address="198.18.0.13"), "matched", "ip", "EP-C"),
    # Hostname last; FQDN vs inventory short name, case-insensitive.
    (Host(address="198.18.0.77", hostnames=["PC-B.so-tc.local."]), "matched", "hostname", "EP-B"),
    (Host(address="198.18.0.78", hostnames=["pc-a.so-tc.local"]), "matched", "hostname", "EP-A"),
    (Host(address="198.18.0.79", hostnames=["nobody.local"]), "unregistered", None, None),
    (Host(address="198.18.0.80", mac="52:54:00:00:00:ff"), "unregistered", None, None),
])
def test_match_order(inventory, host: Host, status: str, rule: str | None, endpoint: str | None) -> None:  # type: ignore[no-untyped-def]
    with inventory.session() as session:
        index = EndpointIndex(session)
        match = index.match(host)
        assert (match.status, match.rule) == (status, rule)
        assert (index.codes.get(match.endpoint_id) if match.endpoint_id else None) == endpoint


@pytest.mark.parametrize("host, candidates", [
    # MAC says A, IP says B: reported, not guessed.
    (Host(address="198.18.0.11", mac="52:54:00:00:00:0A"), {"mac": ["EP-A"], "ip": ["EP-B"]}),
    # Two endpoints registered with the same address.
    (Host(address="198.18.0.20"), {"ip": ["EP-D1", "EP-D2"]}),
    # IP says C, hostname says B.
    (Host(address="198.18.0.12", hostnames=["pc-b"]), {"ip": ["EP-C"], "hostname": ["EP-B"]}),
    # A short discovered name that fits two inventory FQDNs.
    (Host(address="198.18.0.90", hostnames=["KIOSK"]), {"hostname": ["EP-E", "EP-F"]}),
])
def test_conflicts_are_reported(inventory, host: Host, candidates: dict) -> None:  # type: ignore[no-untyped-def]
    with inventory.session() as session:
        match = EndpointIndex(session).match(host)
    assert match.status == "conflict" and match.endpoint_id is None
    assert match.candidates == candidates


def test_store_updates_last_seen_only_for_matches(inventory) -> None:  # type: ignore[no-untyped-def]
    db = inventory
    earlier, now = days_ago(3), dt.datetime.now(dt.UTC).replace(microsecond=0)
    with db.session() as session:
        session.get(EndpointRow, 3).last_seen = earlier  # type: ignore[union-attr]
        before = {e.code: e.updated_at for e in session.scalars(select(EndpointRow))}
    run_id = start_run(db, "discover", agency_code="DISC")
    scan_id = create_scan(db, run_id, ScopePlan(agency_code="DISC", scope_file="s", requested=[], networks=[]),
                          "quick", ["-sn"], "7.93")
    hosts = [Host(address="198.18.0.12"),  # EP-C by IP
             Host(address="198.18.0.11", mac="52:54:00:00:00:0A"),  # conflict A/B
             Host(address="198.18.0.50")]  # unregistered
    with db.session() as session:
        chunk = DiscoveryChunkRow(scan_id=scan_id, targets=["198.18.0.0/26"], status="ok", command=[])
        session.add(chunk)
        session.flush()
        counts = store_hosts(session, run_id, chunk.id, ScanOutput(hosts=hosts), now)
    assert counts == {"matched": 1, "conflict": 1, "unregistered": 1}
    with db.session() as session:
        seen = {e.code: e.last_seen for e in session.scalars(select(EndpointRow))}
        assert seen["EP-C"] == now
        assert seen["EP-A"] is None and seen["EP-B"] is None  # a conflict updates nobody
        # last_seen is a sighting, not an inventory edit
        assert {e.code: e.updated_at for e in session.scalars(select(EndpointRow))} == before
        rows = {h.address: h for h in session.scalars(select(DiscoveredHostRow))}
        assert rows["198.18.0.11"].match_detail == {"candidates": {"mac": ["EP-A"], "ip": ["EP-B"]}}
        assert rows["198.18.0.12"].endpoint_id == session.scalar(select(EndpointRow.id).where(EndpointRow.code == "EP-C"))
        assert rows["198.18.0.50"].match_status == "unregistered"
