"""The scanner side: run a site's discover and audit tasks with the site's own scope, config and keys.

The scanner trusts nothing in a task beyond what its own files allow: every discovery target and
every audited address must be authorised for the task's agency by the scanner's local scope file
(the central side cannot widen it; a scope override never travels), and credentials and host keys
come from the scanner's local audit config. What it returns is only what it observed.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from secops import __version__
from secops.collect.audit import HostAudit, HostTarget, audit_hosts
from secops.collect.config import load_config as load_audit_config
from secops.collect.registry_evidence import load_registry_evidence
from secops.collect.targets import load_protection_settings
from secops.discover import nmap_runner
from secops.discover.profiles import build_arguments, get_profile
from secops.discover.profiles import load_config as load_discovery_config
from secops.discover.scope import ScopeFile, check_scope, load_scope, plan_chunks
from secops.errors import SecopsError
from secops.evaluate.sca_load import load_packs
from secops.remote.payloads import (
    AuditResult,
    AuditTask,
    ChunkPayload,
    DiscoverResult,
    DiscoverTask,
    HostPayload,
    ProtectionPayload,
    TargetSpec,
)
from secops.textsafe import printable


@dataclass(frozen=True)
class ScannerContext:
    site: str
    scope_file: Path
    audit_config: Path | None
    checks: Path
    policies: Path
    name: str = ""

    @property
    def scanner_name(self) -> str:
        return self.name or f"{self.site}@{socket.gethostname()}:{os.getpid()}"


def _wrong_site(ctx: ScannerContext, site: str) -> str | None:
    return None if site == ctx.site else f"task for site {site!r} refused by the scanner of site {ctx.site!r}"


def run_discover(ctx: ScannerContext, task: DiscoverTask) -> DiscoverResult:
    base = {"task_id": task.task_id, "site": ctx.site, "scanner": ctx.scanner_name, "version": __version__,
            "agency_code": task.agency_code, "profile": task.profile}
    problem = _wrong_site(ctx, task.site)
    if problem:
        return DiscoverResult(**base, status="refused", errors=[problem])
    try:
        # No override: a task can never scan what the site's own scope file does not authorise.
        plan = check_scope(load_scope(ctx.scope_file), ctx.scope_file, task.agency_code, task.targets, None)
    except SecopsError as exc:
        return DiscoverResult(**base, status="refused", errors=[f"refused by the scope of site {ctx.site}: {exc}"])
    config = load_discovery_config(ctx.policies)
    settings = config.defaults
    arguments, notes = build_arguments(task.profile, get_profile(config, task.profile), settings, ports=task.ports)
    nmap_path = nmap_runner.find_nmap()
    version = nmap_runner.nmap_version(nmap_runner.scanner(nmap_path))
    chunks = plan_chunks(plan.networks, settings.chunk_prefix)
    with ThreadPoolExecutor(max_workers=settings.parallel, thread_name_prefix="nmap") as pool:
        outputs = list(pool.map(lambda c: nmap_runner.run_chunk(nmap_path, c, arguments,
                                                                settings.chunk_timeout_seconds), chunks))
    payloads = [ChunkPayload(targets=o.targets, command=o.command, started_at=o.started_at, finished_at=o.finished_at,
                             xml=o.xml, status=o.status, error=o.error, warnings=o.warnings) for o in outputs]
    failed = [p for p in payloads if p.status != "ok"]
    status = "ok" if not failed else ("failed" if len(failed) == len(payloads) else "partial")
    errors = [f"chunk {' '.join(p.targets)}: {p.status}: {p.error}" for p in failed]
    return DiscoverResult(**base, status=status, errors=errors + notes, arguments=arguments, nmap_version=version,
                          plan=plan, chunks=payloads)


def _authorised(scope: ScopeFile, scope_file: Path, agencies: list[str], address: str) -> bool:
    for agency in agencies:
        if agency not in scope.agencies:
            continue
        try:
            check_scope(scope, scope_file, agency, [address], None)
            return True
        except SecopsError:
            continue
    return False


def _host_payload(audit: HostAudit, spec: TargetSpec) -> HostPayload:
    verdict = audit.protection
    return HostPayload(target=spec, transport=audit.transport, started_at=audit.started_at,
                       finished_at=audit.finished_at, status=audit.status,
                       error_kind=audit.error_kind, message=printable(audit.message, 4000) or "",
                       os_info=printable(audit.os_info, 4000) or "", round_trips=audit.round_trips,
                       results=audit.results,
                       protection=ProtectionPayload(status=verdict.status, product=verdict.product,
                                                    detail=printable(verdict.detail, 4000) or ""))


def run_audit(ctx: ScannerContext, task: AuditTask) -> AuditResult:
    base = {"task_id": task.task_id, "site": ctx.site, "scanner": ctx.scanner_name, "version": __version__}
    problem = _wrong_site(ctx, task.site)
    if problem:
        return AuditResult(**base, status="refused", errors=[problem])
    scope = load_scope(ctx.scope_file)
    allowed: list[TargetSpec] = []
    refused: list[str] = []
    for spec in task.targets:
        agencies = [task.agency_code] if task.agency_code else []
        agencies += [a for a in spec.agency_codes if a not in agencies]
        if _authorised(scope, ctx.scope_file, agencies, spec.address):
            allowed.append(spec)
        else:
            refused.append(spec.address)
    config = load_audit_config(ctx.audit_config)
    packs = load_packs(ctx.checks)
    overrides = load_protection_settings(ctx.policies).variables()
    by_key = {(s.address, s.endpoint_code): s for s in allowed}
    targets = [HostTarget(label=s.label, address=s.address, os_family=s.os_family, endpoint_id=None,
                          endpoint_code=s.endpoint_code, agency_codes=tuple(s.agency_codes)) for s in allowed]
    evidence = load_registry_evidence(ctx.policies)
    audits = audit_hosts(targets, packs, config, overrides, evidence=evidence) if targets else []
    hosts = [_host_payload(a, by_key[(a.target.address, a.target.endpoint_code)]) for a in audits]
    errors = [f"{a}: refused: outside the scope of site {ctx.site}" for a in refused]
    errors += [f"{h.target.label} ({h.target.address}): error: {h.error_kind}: {h.message}" for h in hosts
               if h.status != "ok"]
    if refused and not hosts:
        status = "refused"
    else:
        status = "partial" if errors else "ok"
    return AuditResult(**base, status=status, errors=errors, refused=refused, hosts=hosts)
