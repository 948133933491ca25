"""What changed between two discovery runs: new hosts, gone hosts, newly open (and closed) ports.

Only addresses both runs actually scanned are compared (targets of chunks that finished): a host
is "gone" only if the later run scanned its address and did not find it, "new" only if the earlier
run scanned its address. Newly open ports that are on the risky list are flagged.
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from secops.discover.risky import RiskyList
from secops.discover.tables import DiscoveredHostRow, DiscoveryChunkRow, DiscoveryScanRow
from secops.errors import SecopsError
from secops.i18n import _, status_text
from secops.store.tables import RunRow


class PortChange(BaseModel):
    address: str
    hostname: str | None = None
    protocol: str
    port: int
    service: str | None = None
    product: str | None = None
    version: str | None = None
    risky: str | None = Field(default=None, description="why the service is risky (policies/risky_services.yaml)")


class HostChange(BaseModel):
    address: str
    hostname: str | None = None
    mac: str | None = None
    vendor: str | None = None
    match_status: str
    open_ports: list[int] = Field(default_factory=list)


class RunDiff(BaseModel):
    run_a: int
    run_b: int
    agency: str
    new_hosts: list[HostChange]
    gone_hosts: list[HostChange]
    opened_ports: list[PortChange]
    closed_ports: list[PortChange]
    warnings: list[str] = Field(default_factory=list)

    @property
    def risky_opened(self) -> list[PortChange]:
        return [p for p in self.opened_ports if p.risky]


class _RunView:
    def __init__(self, session: Session, run_id: int):
        scan = session.scalar(select(DiscoveryScanRow).where(DiscoveryScanRow.run_id == run_id))
        if scan is None:
            run = session.get(RunRow, run_id)
            if run is None:
                raise SecopsError(_("run {run} does not exist (`secops runs list` shows the runs)").format(run=run_id))
            if run.kind == "discover" or (run.kind == "job" and "discover" in (run.summary or {}).get("stages", {})):
                raise SecopsError(_("run {run} is a discovery run that {status} before it scanned anything: there is "
                                    "nothing to compare (`secops runs show {run}` says why)").format(
                    run=run_id, status=status_text(run.status)))
            raise SecopsError(_("run {run} is not a discovery run (it is a {kind} run)").format(run=run_id, kind=run.kind))
        self.run_id, self.scan = run_id, scan
        chunks = session.scalars(select(DiscoveryChunkRow).where(DiscoveryChunkRow.scan_id == scan.id,
                                                                 DiscoveryChunkRow.status == "ok"))
        self.covered = [ipaddress.ip_network(t) for c in chunks for t in c.targets]
        hosts = session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run_id)
                                .options(selectinload(DiscoveredHostRow.ports)))
        self.hosts = {h.address: h for h in hosts}

    def scanned(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.covered)

    def open_ports(self, address: str) -> dict[tuple[str, int], object]:
        host = self.hosts.get(address)
        return {(p.protocol, p.port): p for p in host.ports if p.state == "open"} if host else {}


def _host_change(host: DiscoveredHostRow) -> HostChange:
    return HostChange(address=host.address, hostname=host.hostname, mac=host.mac, vendor=host.vendor,
                      match_status=host.match_status, open_ports=[p.port for p in host.ports if p.state == "open"])


def _port_changes(a: _RunView, b: _RunView, risky: RiskyList | None) -> list[PortChange]:
    """Ports open in b but not in a, for addresses a scanned."""
    changes: list[PortChange] = []
    for address, host in sorted(b.hosts.items(), key=lambda kv: ipaddress.ip_address(kv[0])):
        if not a.scanned(address):
            continue
        before = a.open_ports(address)
        for (protocol, number), port in sorted(b.open_ports(address).items()):
            if (protocol, number) in before:
                continue
            changes.append(PortChange(address=address, hostname=host.hostname, protocol=protocol, port=number,
                                      service=port.service, product=port.product, version=port.version,  # type: ignore[attr-defined]
                                      risky=risky.reason(number, protocol, port.service) if risky else None))  # type: ignore[attr-defined]
    return changes


def diff_runs(session: Session, run_a: int, run_b: int, risky: RiskyList) -> RunDiff:
    a, b = _RunView(session, run_a), _RunView(session, run_b)
    warnings: list[str] = []
    if a.scan.agency_code != b.scan.agency_code:
        warnings.append(_("the runs scanned different agencies ({a}, {b})").format(
            a=a.scan.agency_code, b=b.scan.agency_code))
    if a.scan.arguments != b.scan.arguments:
        warnings.append(_("the runs used different nmap arguments (profile or ports): port changes may only reflect "
                          "that ({a})").format(a=f"{a.scan.profile}: {' '.join(a.scan.arguments)} / "
                                                 f"{b.scan.profile}: {' '.join(b.scan.arguments)}"))
    unscanned = [addr for addr in b.hosts if addr not in a.hosts and not a.scanned(addr)]
    if unscanned:
        warnings.append(_("{n} host(s) of run {run_b} lie outside what run {run_a} scanned; not compared").format(
            n=len(unscanned), run_b=run_b, run_a=run_a))
    key = lambda h: ipaddress.ip_address(h.address)  # noqa: E731
    new = [_host_change(h) for h in sorted(b.hosts.values(), key=key) if h.address not in a.hosts and a.scanned(h.address)]
    gone = [_host_change(h) for h in sorted(a.hosts.values(), key=key) if h.address not in b.hosts and b.scanned(h.address)]
    return RunDiff(run_a=run_a, run_b=run_b, agency=b.scan.agency_code, new_hosts=new, gone_hosts=gone,
                   opened_ports=_port_changes(a, b, risky), closed_ports=_port_changes(b, a, None),
                   warnings=warnings)


def last_two_runs(session: Session, agency_code: str | None) -> tuple[int, int]:
    """The two latest discovery runs (of the agency, or of the agency of the latest run) that stored results."""
    query = (select(DiscoveryScanRow.run_id, DiscoveryScanRow.agency_code).join(RunRow, RunRow.id == DiscoveryScanRow.run_id)
             .where(RunRow.status.in_(("ok", "partial"))).order_by(DiscoveryScanRow.run_id.desc()))
    if agency_code:
        query = query.where(DiscoveryScanRow.agency_code == agency_code)
    rows = session.execute(query).all()
    if rows and not agency_code:
        rows = [r for r in rows if r.agency_code == rows[0].agency_code]
    if len(rows) < 2:
        if agency_code:
            raise SecopsError(_("need two finished discovery runs for agency {agency} to compare, found {n}").format(
                agency=agency_code, n=len(rows)))
        raise SecopsError(_("need two finished discovery runs to compare, found {n}").format(n=len(rows)))
    return rows[1].run_id, rows[0].run_id
