"""Dashboard section "discovery": unregistered hosts, conflicts and stale endpoints of the scope.

Registered as a provider in secops/report/sections/__init__.py; rendered by
reports/sections/discovery.html.j2. Everything here is data (strings from the network included);
the template escapes it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.config import Settings
from secops.discover.gaps import gap_hosts, latest_scans, never_seen, stale_endpoints
from secops.discover.profiles import load_config
from secops.discover.risky import load_risky
from secops.report.data import Dashboard

LIST_LIMIT = 300


def discovery_section(session: Session, dashboard: Dashboard, settings: Settings) -> dict[str, Any] | None:
    codes = [a.code for a in dashboard.agencies]
    scans = latest_scans(session, codes)
    if not scans:
        return None  # no discovery run for this scope: nothing to say
    policies = settings.policies
    days = load_config(policies).stale_after_days
    risky = load_risky(policies)
    as_of = dashboard.run.as_of or dashboard.generated_at
    hosts = gap_hosts(session, [scan.run_id for scan, _ in scans])
    stale = stale_endpoints(session, codes, as_of, days)
    unregistered = [_host(h, risky) for h in hosts if h.match_status == "unregistered"]
    conflicts = [_host(h, risky) for h in hosts if h.match_status == "conflict"]
    return {
        "stale_after_days": days,
        "runs": [{"run_id": scan.run_id, "agency": scan.agency_code, "profile": scan.profile, "status": run.status,
                  "started_at": run.started_at.isoformat(), "targets": scan.targets,
                  "override": scan.override_reason} for scan, run in scans],
        "counts": {"unregistered": len(unregistered), "conflict": len(conflicts), "stale": len(stale),
                   "never_seen": never_seen(session, codes),
                   "risky_ports": sum(1 for h in unregistered + conflicts for p in h["ports"] if p["risky"])},
        "unregistered": unregistered[:LIST_LIMIT],
        "conflicts": conflicts[:LIST_LIMIT],
        "stale": [{"code": e.code, "hostname": e.hostname, "ips": e.ips, "agency": a.code, "agency_name": a.name,
                   "last_seen": e.last_seen.isoformat() if e.last_seen else None} for e, a in stale[:LIST_LIMIT]],
        "limit": LIST_LIMIT,
        "skipped": skipped_agencies([run for _, run in scans], set(codes),
                                    stage_errors(session, [run.id for _, run in scans])),
    }


def stage_errors(session: Session, run_ids: list[int]) -> dict[int, list[str]]:
    """The discover stage's error lines of job runs: a job's report stage is written before the
    job closes its run, so the skipped agencies are not in the run's own errors yet."""
    from secops.runs.tables import RunStageRow

    out: dict[int, list[str]] = {}
    rows = session.execute(select(RunStageRow.run_id, RunStageRow.errors)
                           .where(RunStageRow.run_id.in_(run_ids), RunStageRow.stage == "discover"))
    for run_id, errors in rows:
        out.setdefault(run_id, []).extend(str(e) for e in errors or [])
    return out


# The discover stage records an agency it left out as an error line (secops/discover/stage.py);
# the dashboard shows each one, in the report's language, so a partial run cannot look complete.
_SKIPPED = [
    ("budget", re.compile(r"^(?P<agency>[^:]+): skipped: (?P<addresses>\d+) addresses would exceed "
                          r"limits\.max_addresses \((?P<limit>\d+)\)")),
    ("not_in_inventory", re.compile(r"^(?P<agency>[^:]+): in the scope file but not in the inventory; skipped")),
    ("retired", re.compile(r"^(?P<agency>[^:]+): was retired on (?P<date>\d{4}-\d{2}-\d{2}): (?P<reason>.*); skipped$",
                           re.DOTALL)),
    ("failed", re.compile(r"^(?P<agency>[^:\s]+): (?P<reason>.+)$")),
]


def skipped_agencies(runs: list[Any], codes: set[str],
                     extra: dict[int, list[str]] | None = None) -> list[dict[str, str]]:
    """Agencies a discovery run left out (budget, not in the inventory, retired) or could not scan
    (in `codes`), from the run's errors and `extra` lines per run (its discover stage's)."""
    out: list[dict[str, str]] = []
    seen: set[int] = set()
    for run in runs:
        if run.id in seen:
            continue
        seen.add(run.id)
        lines = dict.fromkeys([*(run.errors or []), *(extra or {}).get(run.id, [])])  # a job copies them: once
        for line in lines:
            for kind, pattern in _SKIPPED:
                match = pattern.match(str(line))
                if match and (kind != "failed" or match.group("agency") in codes):
                    out.append({"run_id": str(run.id), "kind": kind, **match.groupdict()})
                    break
    return out


def _host(host: Any, risky: Any) -> dict[str, Any]:
    return {"run_id": host.run_id, "address": host.address, "hostname": host.hostname, "mac": host.mac,
            "vendor": host.vendor, "os": host.os_name, "os_accuracy": host.os_accuracy,
            "seen_at": host.seen_at.isoformat(),
            "candidates": (host.match_detail or {}).get("candidates", {}),
            "ports": [{"port": p.port, "protocol": p.protocol, "service": p.service, "product": p.product,
                       "version": p.version, "risky": risky.reason(p.port, p.protocol, p.service)}
                      for p in host.ports if p.state == "open"]}
