"""The audit stage: audit the hosts in scope into an existing run (a job run or `secops audit`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from secops.collect.audit import HostAudit, audit_hosts
from secops.collect.config import load_config
from secops.collect.record import record_host
from secops.collect.registry_evidence import load_registry_evidence
from secops.collect.targets import agency_targets, host_targets, load_protection_settings, local_target
from secops.errors import SecopsError
from secops.evaluate.sca_load import load_packs
from secops.evaluate.waivers import apply_waivers, load_waivers, waivers_path
from secops.localtime import local_today
from secops.policyfile import format_validation
from secops.stages import StageContext, StageOptions, StageResult
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import AgencyRow, RunRow, SystemRow
from secops.textsafe import printable


class AuditOptions(BaseModel):
    """The audit stage's options (a job step's `options:` or the `audit` command's flags); all optional."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list, description="endpoint codes, hostnames or addresses instead "
                                                                 "of the agency's endpoints")
    via_site: bool = Field(False, description="with hosts: audit a remote site's endpoints through its scanner")
    local: bool = Field(False, description="audit the machine secops runs on")
    endpoint: str | None = Field(None, description="with local: the inventory endpoint the local machine is")
    config: str | None = Field(None, description="audit config file (scopes, credentials references, known_hosts)")
    checks: str | None = Field(None, description="check-pack folder [default: the bundled checks/]")
    progress: bool = Field(False, description="show a progress bar")
    save_facts: str | None = Field(None, description="write what each host answered to this JSON file")
    waivers: str | None = Field(None, description="waiver file [default: <policies>/waivers.yaml]")
    exclude_agencies: list[str] = Field(default_factory=list, description="audited by remote sites instead")


def audit_options(options: StageOptions) -> AuditOptions:
    try:
        return AuditOptions.model_validate(options.extra)
    except ValidationError as exc:
        raise SecopsError(format_validation("audit options", exc)) from exc


def advance_as_of(db: Database, run_id: int) -> None:
    """Evidence is dated when each host finished; grading this run as of its start would ignore it."""
    with db.session() as session:
        run = session.get(RunRow, run_id)
        now = utcnow()
        if run is not None and (run.as_of is None or run.as_of < now):
            run.as_of = now


def waiver_hook(app_state: StageContext, waivers_file: str | None) -> Callable[[HostAudit], None] | None:
    """Accepted risk applied to a host's results before they are stored (local and remote audits alike);
    None when there is no waiver."""
    waivers = load_waivers(waivers_path(app_state.settings.policies, waivers_file))
    if not waivers:
        return None
    with app_state.db().session() as session:
        system_agencies = dict(session.execute(select(SystemRow.code, AgencyRow.code)
                                               .join(AgencyRow, SystemRow.agency_id == AgencyRow.id)).all())
    today = local_today(app_state.settings.policies)  # a waiver ends on the province's calendar

    def hook(audit: HostAudit) -> None:
        apply_waivers(audit.results, waivers, audit.target.names(), set(audit.target.agency_codes), system_agencies,
                      today)
    return hook


def run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    opts = audit_options(options)
    db = app_state.db()
    config = load_config(Path(opts.config) if opts.config else None)
    if opts.save_facts:
        from secops.evaluate.facts_file import check_target

        check_target(Path(opts.save_facts))  # before any host is contacted
    packs = load_packs(Path(opts.checks or app_state.settings.checks))
    overrides = load_protection_settings(app_state.settings.policies).variables()
    evidence = load_registry_evidence(Path(app_state.settings.policies))
    with db.session() as session:
        if opts.local:
            targets = [local_target(session, opts.endpoint)]
        elif opts.hosts:
            targets = host_targets(session, opts.hosts)
        else:
            targets = agency_targets(session, options.agency_code)
    # Agencies scanned by a remote site (secops/pipeline.py) are not contacted from here.
    excluded = set(opts.exclude_agencies)
    targets = [t for t in targets if not excluded & set(t.agency_codes)]
    waive = waiver_hook(app_state, opts.waivers)

    def store(audit: HostAudit) -> None:
        if waive is not None:
            waive(audit)
        record_host(db, run_id, audit)

    audits = audit_hosts(targets, packs, config, overrides, on_done=store, progress=opts.progress, evidence=evidence)
    advance_as_of(db, run_id)
    if opts.save_facts:
        from secops.evaluate.facts_file import HostFacts, save_facts

        save_facts(Path(opts.save_facts), [
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
