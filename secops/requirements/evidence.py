"""Automated evidence for checklist items, read from what secops itself recorded.

Four sources, all judged up to an as-of time so any past date can be graded again:
- check results of audit runs (checks whose `secops.serves` names the item) on the system's hosts;
- audit runs that reached each host (vulnerability/configuration scans, `run:audit`);
- discovery scans whose targets covered each host's addresses (`run:discover`);
- each host's newest protection status, from an audit or a console export (`evidence:protection`).
Evidence is only as fresh as its oldest host: a system is "scanned" when every host was.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.collect.tables import AuditHostRow, CheckResultRow
from secops.discover.tables import DiscoveryScanRow
from secops.store.tables import EndpointRow, EvidenceRow, RunRow

DISCOVERY_OK = ("ok", "partial")
MAX_SCANS = 5000  # bound on discovery scans read for one system (newest first)


@dataclass
class Observation:
    """What secops saw for one item on one system."""

    status: str  # met | partly_met | not_met
    observed_at: dt.datetime  # the oldest of the newest per-host observations
    run_ids: list[int] = field(default_factory=list)
    hosts_ok: int = 0
    hosts_seen: int = 0
    hosts_total: int = 0
    detail: str = ""

    @property
    def run_id(self) -> int | None:
        return max(self.run_ids) if self.run_ids else None


def _verdict(ok: int, seen: int, total: int) -> str:
    if ok == total:
        return "met"
    return "partly_met" if ok else "not_met"


def audited_hosts(session: Session, endpoint_ids: list[int], as_of: dt.datetime) -> set[int]:
    """Of these endpoints, those with a successful audit finished at or before as_of: the only hosts
    from_checks and from_audit_runs can find anything for (a report asks once for every system)."""
    found: set[int] = set()
    for start in range(0, len(endpoint_ids), 5000):
        found.update(session.scalars(
            select(AuditHostRow.endpoint_id).distinct()
            .where(AuditHostRow.endpoint_id.in_(endpoint_ids[start:start + 5000]), AuditHostRow.status == "ok",
                   AuditHostRow.finished_at <= as_of)))
    return found


def _none_audited(hosts: list[EndpointRow], audited: set[int] | None) -> bool:
    return audited is not None and not any(h.id in audited for h in hosts)


def from_checks(session: Session, hosts: list[EndpointRow], refs: list[str], as_of: dt.datetime,
                audited: set[int] | None = None) -> Observation | None:
    """Newest audit result per host for the checks that serve an item; None when no host has one.
    audited: audited_hosts (when given, hosts outside it are known to have no audit: no query)."""
    pairs = [tuple(r.split(":", 1)) for r in refs if not r.startswith("run:")]
    if not hosts or not pairs or _none_audited(hosts, audited):
        return None
    ids = [h.id for h in hosts]
    rows = session.execute(
        select(AuditHostRow.endpoint_id, AuditHostRow.finished_at, AuditHostRow.run_id, CheckResultRow.policy_id,
               CheckResultRow.check_id, CheckResultRow.result)
        .join(CheckResultRow, CheckResultRow.host_id == AuditHostRow.id)
        .where(AuditHostRow.endpoint_id.in_(ids), AuditHostRow.status == "ok", AuditHostRow.finished_at <= as_of,
               CheckResultRow.policy_id.in_({p for p, _ in pairs}), CheckResultRow.check_id.in_({c for _, c in pairs}))
        .order_by(AuditHostRow.finished_at.desc(), AuditHostRow.id.desc())).all()
    latest = _newest_results(rows, set(pairs))
    verdicts = _verdicts(latest)
    if not verdicts:
        return None
    ok = sum(verdicts.values())
    oldest = min(latest[e][0] for e in verdicts)
    runs = sorted({latest[e][1] for e in verdicts})
    status = _verdict(ok, len(verdicts), len(hosts))
    return Observation(status, oldest, runs, ok, len(verdicts), len(hosts),
                       f"{ok}/{len(hosts)} hosts passed" + (f", {len(hosts) - len(verdicts)} without a result"
                                                            if len(verdicts) < len(hosts) else ""))


Newest = dict[int, tuple[dt.datetime, int, dict[tuple[str, str], str]]]  # host -> (audit time, run, results)


def _newest_results(rows: Any, pairs: set[tuple[str, ...]]) -> Newest:
    """Per host, its newest audit (time, run) and that audit's results of the wanted checks (rows newest first)."""
    latest: Newest = {}
    for endpoint_id, finished, run_id, policy_id, check_id, result in rows:
        if endpoint_id is None or (policy_id, check_id) not in pairs:
            continue
        seen = latest.setdefault(endpoint_id, (finished, run_id, {}))
        if seen[0] == finished and seen[1] == run_id:  # only the newest audit of each host counts
            seen[2][(policy_id, check_id)] = result
    return latest


def _verdicts(latest: Newest) -> dict[int, bool]:
    """A host passes when every decided check passed; not_applicable/error results say nothing either way."""
    verdicts: dict[int, bool] = {}
    for endpoint_id, (_, _, results) in latest.items():
        decided = [r for r in results.values() if r in ("passed", "failed")]
        if decided:
            verdicts[endpoint_id] = all(r == "passed" for r in decided)
    return verdicts


def from_audit_runs(session: Session, hosts: list[EndpointRow], as_of: dt.datetime,
                    audited: set[int] | None = None) -> Observation | None:
    """When each host was last audited successfully (a configuration/vulnerability scan)."""
    if not hosts or _none_audited(hosts, audited):
        return None
    rows = session.execute(
        select(AuditHostRow.endpoint_id, AuditHostRow.finished_at, AuditHostRow.run_id)
        .where(AuditHostRow.endpoint_id.in_([h.id for h in hosts]), AuditHostRow.status == "ok",
               AuditHostRow.finished_at <= as_of)
        .order_by(AuditHostRow.finished_at.desc())).all()
    latest: dict[int, tuple[dt.datetime, int]] = {}
    for endpoint_id, finished, run_id in rows:
        if endpoint_id is not None:
            latest.setdefault(endpoint_id, (finished, run_id))
    return _coverage(latest, len(hosts), "audited")


def _networks(targets: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for target in targets:
        try:
            nets.append(ipaddress.ip_network(str(target), strict=False))
        except ValueError:
            continue  # a hostname target cannot prove coverage of an address
    return nets


def _addresses(host: EndpointRow) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = []
    for ip in host.ips or []:
        try:
            out.append(ipaddress.ip_address(str(ip)))
        except ValueError:
            continue
    return out


def discovery_scans(session: Session, as_of: dt.datetime) -> list[tuple[Any, dt.datetime, int]]:
    """The finished discovery scans up to as_of, newest first (at most MAX_SCANS): targets, time, run."""
    return [tuple(row) for row in session.execute(
        select(DiscoveryScanRow.targets, DiscoveryScanRow.finished_at, DiscoveryScanRow.run_id)
        .join(RunRow, RunRow.id == DiscoveryScanRow.run_id)
        .where(DiscoveryScanRow.finished_at.is_not(None), DiscoveryScanRow.finished_at <= as_of,
               RunRow.status.in_(DISCOVERY_OK))
        .order_by(DiscoveryScanRow.finished_at.desc()).limit(MAX_SCANS))]


def from_discovery(session: Session, hosts: list[EndpointRow], as_of: dt.datetime,
                   scans: list[tuple[Any, dt.datetime, int]] | None = None) -> Observation | None:
    """The newest finished discovery scan whose targets covered each host's addresses.
    scans: discovery_scans(session, as_of) read once for many systems (else read here)."""
    if not hosts:
        return None
    wanted = {h.id: _addresses(h) for h in hosts}
    latest: dict[int, tuple[dt.datetime, int]] = {}
    for targets, finished, run_id in scans if scans is not None else discovery_scans(session, as_of):
        nets = _networks(targets or [])
        for endpoint_id, addresses in wanted.items():
            if endpoint_id not in latest and any(a in n for a in addresses for n in nets if a.version == n.version):
                latest[endpoint_id] = (finished, run_id)
        if len(latest) == len(wanted):
            break
    return _coverage(latest, len(hosts), "covered by discovery")


def _coverage(latest: dict[int, tuple[dt.datetime, int]], total: int, verb: str) -> Observation | None:
    if not latest:
        return None
    oldest = min(t for t, _ in latest.values())
    runs = sorted({r for _, r in latest.values()})
    return Observation(_verdict(len(latest), len(latest), total), oldest, runs, len(latest), len(latest), total,
                       f"{len(latest)}/{total} hosts {verb}")


def from_protection(session: Session, hosts: list[EndpointRow], as_of: dt.datetime) -> Observation | None:
    """The newest protection observation of each host (an audit, or a protection console's export):
    met when every host is `protected`; hosts never observed count against it."""
    if not hosts:
        return None
    rows = session.execute(
        select(EvidenceRow.endpoint_id, EvidenceRow.observed_at, EvidenceRow.status, EvidenceRow.run_id)
        .where(EvidenceRow.endpoint_id.in_([h.id for h in hosts]), EvidenceRow.observed_at <= as_of)
        .order_by(EvidenceRow.observed_at.desc(), EvidenceRow.id.desc())).all()
    latest: dict[int, tuple[dt.datetime, str, int | None]] = {}
    for endpoint_id, observed, status, run_id in rows:
        latest.setdefault(endpoint_id, (observed, status, run_id))
    if not latest:
        return None
    ok = sum(status == "protected" for _, status, _ in latest.values())
    oldest = min(observed for observed, _, _ in latest.values())
    runs = sorted({run_id for _, _, run_id in latest.values() if run_id is not None})
    unseen = len(hosts) - len(latest)
    return Observation(_verdict(ok, len(latest), len(hosts)), oldest, runs, ok, len(latest), len(hosts),
                       f"{ok}/{len(hosts)} hosts protected" + (f", {unseen} never observed" if unseen else ""))
