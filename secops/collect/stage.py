"""The audit stage: audit the hosts in scope into an existing run (a job run or `secops audit`).

options.extra keys (all optional):
    hosts: list[str]    endpoint codes, hostnames or addresses instead of the agency's endpoints
    local: bool         audit the machine secops runs on
    endpoint: str       with local, the inventory endpoint the local machine is
    config: str         audit config file (scopes, credentials references, known_hosts)
    checks: str         check-pack folder [default: the bundled checks/]
    progress: bool      show a progress bar
    save_facts: str     write what each host answered to this JSON file (secops.evaluate.facts_file)
    waivers: str        waiver file [default: <policies>/waivers.yaml] (secops.evaluate.waivers)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from secops.collect.audit import HostAudit, audit_hosts
from secops.collect.config import load_config
from secops.collect.record import record_host
from secops.collect.registry_evidence import load_registry_evidence
from secops.collect.targets import agency_targets, host_targets, load_protection_settings, local_target
from secops.evaluate.sca_load import load_packs
from secops.stages import StageContext, StageOptions, StageResult
from secops.store.base import utcnow
from secops.store.tables import RunRow
from secops.textsafe import printable


def _advance_as_of(db, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Evidence is dated when each host finished; grading this run as of its start would ignore it."""
    with db.session() as session:
        run = session.get(RunRow, run_id)
        now = utcnow()
        if run is not None and (run.as_of is None or run.as_of < now):
            run.as_of = now


def _system_agencies(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from secops.store.tables import AgencyRow, SystemRow

    return dict(session.execute(select(SystemRow.code, AgencyRow.code)
                                .join(AgencyRow, SystemRow.agency_id == AgencyRow.id)).all())


def run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    extra = options.extra
    db = app_state.db()
    config = load_config(Path(extra["config"]) if extra.get("config") else None)
    if extra.get("save_facts"):
        from secops.evaluate.facts_file import check_target

        check_target(Path(extra["save_facts"]))  # before any host is contacted
    packs = load_packs(Path(extra.get("checks") or app_state.settings.checks))
    overrides = load_protection_settings(app_state.settings.policies).variables()
    evidence = load_registry_evidence(Path(app_state.settings.policies))
    with db.session() as session:
        if extra.get("local"):
            targets = [local_target(session, extra.get("endpoint"))]
        elif extra.get("hosts"):
            targets = host_targets(session, list(extra["hosts"]))
        else:
            targets = agency_targets(session, options.agency_code)
    # Agencies scanned by a remote site (secops/remote/stage.py) are not contacted from here.
    excluded = set(extra.get("exclude_agencies") or [])
    targets = [t for t in targets if not excluded & set(t.agency_codes)]

    from secops.evaluate.waivers import apply_waivers, load_waivers, waivers_path

    waivers = load_waivers(waivers_path(app_state.settings.policies, extra.get("waivers")))
    with db.session() as session:
        system_agencies = _system_agencies(session) if waivers else {}
    today = dt.date.today()

    def store(audit: HostAudit) -> None:
        apply_waivers(audit.results, waivers, audit.target.names(), set(audit.target.agency_codes), system_agencies,
                      today)
        record_host(db, run_id, audit)

    audits = audit_hosts(targets, packs, config, overrides, on_done=store, progress=bool(extra.get("progress")),
                         evidence=evidence)
    _advance_as_of(db, run_id)
    if extra.get("save_facts"):
        from secops.evaluate.facts_file import HostFacts, save_facts

        save_facts(Path(extra["save_facts"]), [
            HostFacts.from_facts(a.target.label, a.target.address, a.host_os, a.os_info, a.facts,
                                 a.target.endpoint_code, a.target.agency_codes)
            for a in audits if a.facts is not None])
    errors = [printable(f"{a.target.label} ({a.target.address}): error: {a.error_kind}: {a.message}") or ""
              for a in audits if a.status != "ok"]
    counts: dict[str, int] = {}
    for a in audits:
        counts[a.protection.status] = counts.get(a.protection.status, 0) + 1
    summary = {"audited_hosts": len(audits), "audit_ok": len(audits) - len(errors), "audit_errors": len(errors),
               "protection": counts}
    return StageResult(stage="audit", status="partial" if errors else "ok", summary=summary, errors=errors)
