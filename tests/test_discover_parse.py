"""Parser tests on recorded nmap XML, including malformed and truncated output (nothing stored half)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import func, select

from secops.discover.nmap_runner import ChunkOutput
from secops.discover.parse import NmapParseError, parse_nmap_xml
from secops.discover.scope import ScopePlan
from secops.discover.store import create_scan, decompress, record_chunk
from secops.discover.tables import DiscoveredHostRow, DiscoveredPortRow, DiscoveryChunkRow
from secops.runs import start_run

FIXTURES = Path(__file__).parent / "fixtures" / "discover"


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_recorded_loopback_scan_with_services_and_os() -> None:
    scan = parse_nmap_xml(read("loopback_services_os.xml"))
    assert scan.nmap_version == "7.93"
    assert [h.address for h in scan.hosts] == ["127.0.3.1", "127.0.3.2"]
    web = scan.hosts[0]
    assert [(p.port, p.state) for p in web.ports] == [(18080, "open"), (18081, "closed")]
    http = web.open_ports()[0]
    assert (http.service, http.product, http.version, http.extrainfo) == ("http", "SimpleHTTPServer", "0.6",
                                                                          "Python 3.11.7")
    # The best OS match (highest accuracy) is kept with its accuracy.
    assert (web.os_name, web.os_accuracy, web.os_family) == ("Linux 5.0 - 5.2", 97, "Linux")
    assert scan.hosts[1].os_name is None and scan.hosts[1].open_ports() == []
    assert scan.finished_at == dt.datetime(2026, 11, 23, 11, 16, 53, tzinfo=dt.UTC)


def test_ping_scan_has_hosts_without_ports() -> None:
    scan = parse_nmap_xml(read("loopback_ping.xml"))
    assert [h.address for h in scan.hosts] == ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
    assert all(h.ports == [] and h.status_reason == "localhost-response" for h in scan.hosts)


def test_lan_scan_mac_vendor_hostnames_and_down_hosts() -> None:
    scan = parse_nmap_xml(read("lan_sample.xml"))
    assert scan.hosts_down == 1
    pc, printer = scan.hosts
    assert (pc.mac, pc.vendor, pc.hostname) == ("52:54:00:12:34:56", "QEMU virtual NIC", "PC01.so-tc.local")
    assert printer.mac == "00:1A:2B:3C:4D:5E"
    assert [(p.port, p.state) for p in pc.ports] == [(22, "open"), (445, "open"), (8080, "filtered")]
    # Strings from the network are kept verbatim as data (escaping is the report's job).
    assert printer.hostname == "printer<script>alert(1)</script>"
    assert printer.ports[0].product == "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize("name", ["loopback_services_os.xml", "loopback_ping.xml", "lan_sample.xml"])
def test_a_document_parsed_once_reads_as_its_text(name: str) -> None:
    # run_chunk parses nmap's output once (to tell XML from an error) and storing reuses that tree.
    text = read(name)
    assert parse_nmap_xml(ET.fromstring(text.encode("utf-8")), name) == parse_nmap_xml(text, name)


@pytest.mark.parametrize("name, expected", [
    ("truncated.xml", r"truncated\.xml: line 21, column 0: malformed or truncated XML"),
    ("malformed.xml", r"malformed\.xml: line 5, column 62: malformed or truncated XML \(mismatched tag"),
    ("bad_address.xml", r"bad_address\.xml: host #2: address 'not-an-ip; -oN /tmp/x' is not an IP address"),
])
def test_bad_xml_is_a_clear_error(name: str, expected: str) -> None:
    with pytest.raises(NmapParseError, match=expected):
        parse_nmap_xml(read(name), name)


@pytest.mark.parametrize("text, expected", [
    ("", "empty output"),
    ("<html><body>proxy error</body></html>", r"not nmap XML \(root element <html>"),
    ('<nmaprun version="7.93"><host><status state="up"/><address addr="127.0.3.1" addrtype="ipv4"/></host></nmaprun>',
     r"truncated nmap XML: no <runstats><finished>"),
    ('<nmaprun><runstats><finished exit="error" errormsg="Failed to resolve"/></runstats></nmaprun>',
     "nmap reported error: Failed to resolve"),
    ('<nmaprun><host><status state="up"/><address addr="127.0.3.1" addrtype="ipv4"/><ports><port protocol="tcp" '
     'portid="70000"><state state="open"/></port></ports></host><runstats><finished exit="success"/></runstats></nmaprun>',
     "port 70000 is out of range"),
])
def test_incomplete_or_foreign_documents_are_refused(text: str, expected: str) -> None:
    with pytest.raises(NmapParseError, match=expected):
        parse_nmap_xml(text, "case")


def _chunk(xml: str, targets: list[str]) -> ChunkOutput:
    now = dt.datetime.now(dt.UTC)
    return ChunkOutput(targets=targets, command=["nmap", "-oX", "-", *targets], started_at=now, finished_at=now, xml=xml)


def _scan(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    run_id = start_run(db, "discover", agency_code="DISC")
    plan = ScopePlan(agency_code="DISC", scope_file="scope.yaml", requested=["127.0.3.0/30"], networks=["127.0.3.0/30"])
    return run_id, create_scan(db, run_id, plan, "standard", ["-T3"], "7.93")


def test_truncated_chunk_stores_nothing_half(db) -> None:  # type: ignore[no-untyped-def]
    run_id, scan_id = _scan(db)
    good = record_chunk(db, run_id, scan_id, _chunk(read("loopback_ping.xml"), ["127.0.3.0/30"]))
    bad = record_chunk(db, run_id, scan_id, _chunk(read("truncated.xml"), ["127.0.3.4/30"]))
    assert good.status == "ok" and good.matches["unregistered"] == 3
    assert bad.status == "failed" and bad.parsed is None and "malformed or truncated XML" in (bad.error or "")
    with db.session() as session:
        chunks = {tuple(c.targets): c for c in session.scalars(select(DiscoveryChunkRow))}
        hosts = session.scalars(select(DiscoveredHostRow.address).order_by(DiscoveredHostRow.address)).all()
        # The truncated chunk is recorded as failed, raw output kept for audit, and no host of it stored:
        # the truncated document does hold host 127.0.3.1 with an open port, which must not appear twice.
        assert chunks[("127.0.3.4/30",)].status == "failed"
        assert decompress(chunks[("127.0.3.4/30",)].raw_xml) == read("truncated.xml")
        assert chunks[("127.0.3.4/30",)].hosts_up == 0
        assert hosts == ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
        assert session.scalar(select(func.count(DiscoveredPortRow.id))) == 0
        assert decompress(chunks[("127.0.3.0/30",)].raw_xml) == read("loopback_ping.xml")


def test_lan_chunk_is_stored_with_ports(db) -> None:  # type: ignore[no-untyped-def]
    run_id, scan_id = _scan(db)
    record = record_chunk(db, run_id, scan_id, _chunk(read("lan_sample.xml"), ["192.0.2.0/29"]))
    assert record.status == "ok"
    with db.session() as session:
        pc = session.scalar(select(DiscoveredHostRow).where(DiscoveredHostRow.address == "192.0.2.10"))
        assert pc is not None and pc.mac == "52:54:00:12:34:56" and pc.os_accuracy == 96
        assert [(p.port, p.state, p.service) for p in pc.ports] == [(22, "open", "ssh"), (445, "open", "microsoft-ds"),
                                                                    (8080, "filtered", "http-proxy")]
