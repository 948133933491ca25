"""discover and audit as pipeline stages that know about sites: local agencies in-process, the rest remote.

With no site in policies/sites.yaml (the default) these are exactly the in-process stages. With
sites, an agency mapped to a site is discovered and audited by that site's scanner through the
broker; agencies not mapped to a site stay in-process. Celery is imported only when sites exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from secops.discover.plan import discover_options
from secops.discover.sites import Site, SitesFile, load_sites
from secops.errors import SecopsError
from secops.stages import StageContext, StageOptions, StageResult, StageStatus
from secops.store.tables import AgencyRow


def _combine(stage: str, local: StageResult | None, outcomes: list[Any], notes: list[str]) -> StageResult:
    summary: dict[str, Any] = {}
    for part in [local.summary if local else {}] + [o.summary for o in outcomes]:
        _add_counts(summary, part)  # totals first, as the in-process stage reports them
    summary["sites"] = {f"{o.site}/{o.agency_code or '*'}": {"status": o.status, **o.summary} for o in outcomes}
    if local is not None:
        summary["local"] = local.summary
    if notes:
        summary["notes"] = notes
    errors = (local.errors if local else []) + [e for o in outcomes for e in o.errors]
    return StageResult(stage=stage, status=_combined_status(stage, local, outcomes), summary=summary, errors=errors)


def _combined_status(stage: str, local: StageResult | None, outcomes: list[Any]) -> StageStatus:
    """ok when every part is, failed when every part failed (or there is none), partial otherwise."""
    # A local part that audited nothing (every agency is a site's) does not make failed sites "partial".
    idle = local is not None and outcomes and not local.errors and not local.summary.get(
        "audited_hosts", 1 if stage != "audit" else 0)
    statuses = ([local.status] if local and not idle else []) + [
        "ok" if o.status == "stored" and o.summary.get("status") == "ok"
        else "partial" if o.status == "stored" else "failed" for o in outcomes]
    if statuses and all(s == "ok" for s in statuses):
        return "ok"
    if not statuses or all(s == "failed" for s in statuses):
        return "failed"
    return "partial"


def _add_counts(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Sum the integer tallies (hosts_up, chunks_ok, audited_hosts, protection: {status: n} ...)."""
    for key, value in part.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            total[key] = total.get(key, 0) + value
        elif key == "protection" and isinstance(value, dict):
            counts = total.setdefault("protection", {})
            for status, n in value.items():
                counts[status] = counts.get(status, 0) + n


def _known(app_state: StageContext, codes: list[str]) -> set[str]:
    with app_state.db().session() as session:
        return set(session.scalars(select(AgencyRow.code).where(AgencyRow.code.in_(codes))))


def _site_agencies(app_state: StageContext, sites: SitesFile,
                   agency: str | None) -> tuple[list[tuple[Site, str]], list[str]]:
    """(site, agency) pairs this stage sends remote, and errors for site agencies not in the inventory."""
    if agency:
        site = sites.site_for(agency)
        return ([(site, agency)] if site else []), []
    pairs = [(s, a) for s in sites.sites for a in s.agencies]
    known = _known(app_state, [a for _, a in pairs])
    errors = [f"site {s.code}: agency {a!r} is not in the inventory; skipped" for s, a in pairs if a not in known]
    return [(s, a) for s, a in pairs if a in known], errors


def _deadline(sites: SitesFile) -> dt.datetime:
    """The run waits for a site's task until then; the task carries it, and a scanner drops it after."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=sites.link.task_deadline_seconds)


def _broker(sites: SitesFile) -> str:
    from secops.remote.broker import broker_url

    url = broker_url()
    if url is None:
        raise SecopsError("policies/sites.yaml maps agencies to sites but no broker is configured: "
                          "set SECOPS_BROKER_URL (or SECOPS_BROKER_URL_FILE)")
    return url


def discover_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    from secops.discover.stage import run_stage as local_discover

    sites = load_sites(app_state.settings.policies)
    pairs, errors = _site_agencies(app_state, sites, options.agency_code)
    if not pairs and not errors:
        return local_discover(app_state, run_id, options)
    opts = discover_options(options)
    if pairs and options.agency_code and opts.override_scope:
        raise SecopsError(f"agency {options.agency_code!r} is scanned by site {pairs[0][0].code}: a scope override "
                          "never travels to a site; widen that site's own scope file instead")
    local: StageResult | None = None
    notes: list[str] = []
    if not options.agency_code:
        local, notes = _local_discover(app_state, run_id, options, sites, local_discover)
    from secops.remote.central import Unit, dispatch, new_task_id
    from secops.remote.payloads import DiscoverTask

    deadline = _deadline(sites)
    units = [Unit(site, DiscoverTask(task_id=new_task_id(site.code), run_id=run_id, deadline=deadline,
                                     site=site.code, agency_code=agency,
                                     profile=opts.profile or "standard",
                                     targets=list(opts.targets) if options.agency_code else [],
                                     ports=opts.ports)) for site, agency in pairs]
    outcomes = dispatch(app_state.db(), run_id, units, _broker(sites), sites.link)
    result = _combine("discover", local, outcomes, notes)
    result.errors = errors + result.errors
    return result


def _local_discover(app_state: StageContext, run_id: int, options: StageOptions, sites: SitesFile,
                    local_discover: Any) -> tuple[StageResult | None, list[str]]:
    """The province-wide run's in-process part: the central scope file's agencies that no site holds."""
    from secops.discover.scope import load_scope, locate_scope_file

    try:
        scope_path = locate_scope_file(discover_options(options).scope_file)
    except SecopsError:
        return None, ["no central scope file: only the sites were scanned"]
    remote = sites.remote_agencies()
    if not set(load_scope(scope_path).agencies) - remote:
        return None, [f"{scope_path}: every agency is scanned by a site"]
    extra = {**options.extra, "exclude_agencies": sorted(remote)}
    return local_discover(app_state, run_id, options.model_copy(update={"extra": extra})), []


def audit_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    from secops.collect.stage import audit_options
    from secops.collect.stage import run_stage as local_audit

    opts = audit_options(options)
    sites = load_sites(app_state.settings.policies)
    if opts.local or (opts.hosts and not sites.sites):
        return local_audit(app_state, run_id, options)
    if opts.hosts:
        return _audit_named_hosts(app_state, run_id, options, sites, local_audit)
    pairs, errors = _site_agencies(app_state, sites, options.agency_code)
    if not pairs and not errors:
        return local_audit(app_state, run_id, options)
    local = None
    if not options.agency_code:
        local_extra = {**options.extra, "exclude_agencies": sorted(sites.remote_agencies())}
        local = local_audit(app_state, run_id, options.model_copy(update={"extra": local_extra}))
    from secops.collect.stage import advance_as_of, waiver_hook
    from secops.collect.targets import agency_targets
    from secops.remote.central import Unit, dispatch, new_task_id
    from secops.remote.payloads import AuditTask, TargetSpec

    units = []
    db = app_state.db()
    with db.session() as session:
        for site, agency in pairs:
            specs = [TargetSpec(label=t.label, address=t.address, os_family=t.os_family, endpoint_id=t.endpoint_id,
                                endpoint_code=t.endpoint_code, agency_codes=list(t.agency_codes))
                     for t in agency_targets(session, agency)]
            units.append(Unit(site, AuditTask(task_id=new_task_id(site.code), run_id=run_id,
                                              deadline=_deadline(sites), site=site.code,
                                              agency_code=agency, targets=specs)))
    outcomes = dispatch(db, run_id, units, _broker(sites), sites.link, waiver_hook(app_state, opts.waivers))
    advance_as_of(db, run_id)
    result = _combine("audit", local, outcomes, [])
    result.errors = errors + result.errors
    return result


def _audit_named_hosts(app_state: StageContext, run_id: int, options: StageOptions, sites: SitesFile,
                       local_audit: Any) -> StageResult:
    """--hosts: a site's endpoint is audited by its site's scanner (--via-site) or refused; the central
    machine has neither its network nor its credentials, and an `unknown` from here would be stored over
    the site's real result. Hosts of no site are audited from here."""
    from secops.collect.stage import advance_as_of, audit_options, waiver_hook
    from secops.collect.targets import host_targets

    opts = audit_options(options)
    db = app_state.db()
    with db.session() as session:
        targets = host_targets(session, opts.hosts)
    by_site: dict[str, tuple[Site, list[Any]]] = {}
    local_names: list[str] = []
    for name, target in zip(opts.hosts, targets, strict=True):
        site = next((s for s in (sites.site_for(a) for a in target.agency_codes) if s is not None), None)
        if site is None:
            local_names.append(name)
            continue
        if not opts.via_site:
            raise SecopsError(f"{name} belongs to site {site.code}; run it there or with --via-site "
                              f"({name} thuộc điểm {site.code}; chạy tại đó hoặc dùng --via-site)")
        by_site.setdefault(site.code, (site, []))[1].append(target)
    if not by_site:
        everything: StageResult = local_audit(app_state, run_id, options)
        return everything
    local = None
    if local_names:
        local = local_audit(app_state, run_id, options.model_copy(update={"extra": {**options.extra,
                                                                                   "hosts": local_names}}))
    from secops.remote.central import Unit, dispatch, new_task_id
    from secops.remote.payloads import AuditTask, TargetSpec

    units = [Unit(site, AuditTask(task_id=new_task_id(site.code), run_id=run_id, deadline=_deadline(sites),
                                  site=site.code, agency_code=None,
                                  targets=[TargetSpec(label=t.label, address=t.address, os_family=t.os_family,
                                                      endpoint_id=t.endpoint_id, endpoint_code=t.endpoint_code,
                                                      agency_codes=list(t.agency_codes)) for t in chosen]))
             for site, chosen in by_site.values()]
    outcomes = dispatch(db, run_id, units, _broker(sites), sites.link, waiver_hook(app_state, opts.waivers))
    advance_as_of(db, run_id)
    return _combine("audit", local, outcomes, [])
