"""Audit hosts: connect once per host, collect facts in framed rounds, evaluate the packs.

Hosts run in a bounded thread pool; each host's problems (unreachable, host key, credentials,
timeout) become that host's result, never an exception for the whole audit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from secops import interrupts
from secops.collect import registry_evidence
from secops.collect.batch import build_posix, parse_output
from secops.collect.batch_windows import build_powershell
from secops.collect.config import AuditConfig, Scope
from secops.collect.credentials import NoCredentials, resolve
from secops.collect.guards import HostPlan, plan_host
from secops.collect.hostkeys import HostKeyError, HostKeyStore
from secops.collect.local import LocalTransport
from secops.collect.smb import AccessDenied, RegistryUnavailable, SMBRegistryTransport
from secops.collect.ssh import AuthFailed, SSHTransport, Unreachable
from secops.evaluate.engine import PolicyResult, PreparedPolicy
from secops.evaluate.facts import Facts, Request
from secops.evaluate.protection import ProtectionVerdict, host_protection
from secops.evaluate.sca_load import Policy
from secops.interrupts import stop_children
from secops.store.base import utcnow


@dataclass
class HostTarget:
    """One host to audit; endpoint_id is None for an address that is not in the inventory."""

    label: str
    address: str
    os_family: str = "unknown"
    endpoint_id: int | None = None
    endpoint_code: str | None = None
    agency_codes: tuple[str, ...] = ()  # the endpoint's agency and its ancestors
    local: bool = False

    def names(self) -> set[str]:
        return {n for n in (self.label, self.address, self.endpoint_code) if n}


@dataclass
class HostAudit:
    target: HostTarget
    transport: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = "ok"  # ok | error
    error_kind: str | None = None  # host key | unreachable | auth | no credentials | timeout | collect
    message: str = ""
    os_info: str = ""
    round_trips: int = 0
    results: list[PolicyResult] = field(default_factory=list)
    protection: ProtectionVerdict = field(default_factory=lambda: ProtectionVerdict("unknown", None, "not audited"))
    facts: Facts | None = None  # what the host answered (kept for `--save-facts`)
    host_os: str = "unknown"

    def fail(self, kind: str, message: str) -> HostAudit:
        self.status, self.error_kind, self.message = "error", kind, message
        self.protection = ProtectionVerdict("unknown", None, f"error: {kind}: {message}")
        return self


def scope_for(config: AuditConfig, target: HostTarget) -> Scope | None:
    for scope in config.scopes:
        if not scope.agencies and not scope.hosts:
            return scope
        if set(scope.hosts) & target.names() or set(scope.agencies) & set(target.agency_codes):
            return scope
    return None


def _host_os(target: HostTarget) -> str:
    return "windows" if target.os_family == "windows" else ("linux" if target.local else target.os_family)


def first_round(prepared: list[PreparedPolicy], host_os: str, command_timeout: int,
                evidence: registry_evidence.RegistryEvidenceFile | None = None,
                host_side_plan: bool = True) -> tuple[set[Request], HostPlan | None]:
    """The requests of a host's first (normally only) round, and the decisions left to the host."""
    first = {Request("os")}.union(*(p.round1() for p in prepared), registry_evidence.requests(evidence))
    if host_os == "windows" or not host_side_plan:
        return first, None
    # One round trip: gated commands and directory contents are decided on the host.
    plan = plan_host(prepared, host_os, command_timeout)
    return first | set(plan.gated), plan


def collect_and_evaluate(transport, target: HostTarget, policies: list[Policy], overrides: dict[str, str],  # type: ignore[no-untyped-def]
                         command_timeout: int, host_timeout: float, audit: HostAudit,
                         evidence: registry_evidence.RegistryEvidenceFile | None = None,
                         host_side_plan: bool = True) -> None:
    host_os = _host_os(target)
    build = build_powershell if host_os == "windows" else build_posix
    deadline = time.monotonic() + host_timeout
    prepared = [PreparedPolicy.build(p, host_os, overrides) for p in policies]

    def run(requests: set[Request], plan: HostPlan | None = None) -> Facts:
        remaining = max(1.0, deadline - time.monotonic())
        if isinstance(transport, SMBRegistryTransport):  # no script: registry calls over one binding
            audit.round_trips += 1
            return transport.collect(sorted(requests), remaining)
        batch = build_posix(sorted(requests), command_timeout, plan=plan) if plan is not None else build(sorted(requests),
                                                                                           command_timeout)
        raw = transport.run(batch, remaining)
        audit.round_trips += 1
        return parse_output(batch, raw)

    if host_os != "windows":
        evidence = None
    first, plan = first_round(prepared, host_os, command_timeout, evidence, host_side_plan)
    facts = run(first, plan)
    os_item = facts.get(Request("os"))
    if os_item is None:
        raise TimeoutError("the host did not answer the audit script: " + facts.errors.get(Request("os"), ""))
    audit.os_info = os_item.text().splitlines()[0][:200] if os_item.data else ""
    for p in prepared:
        p.decide_requirements(facts, host_os)
    second = (set().union(*(p.round2(facts) for p in prepared)) - set(facts.items) - set(facts.errors)
              - set(facts.unsupported))
    if isinstance(transport, SMBRegistryTransport):
        # Over SMB a second round would hold only gated commands (and files of d: rules), which the
        # registry cannot answer: they are refused here, so a Windows host over SMB takes one round.
        refused = transport.refusals(second)
        facts.unsupported.update(refused)
        second -= set(refused)
    if second:
        facts.merge(run(second))
    audit.facts, audit.host_os = facts, host_os
    audit.results = [p.evaluate(facts, host_os) for p in prepared]
    registry_evidence.apply(evidence, audit.results, facts, overrides)
    audit.protection = host_protection(policies, {r.policy_id: r for r in audit.results})


def audit_host(target: HostTarget, policies: list[Policy], config: AuditConfig, store: HostKeyStore,
               overrides: dict[str, str], evidence: registry_evidence.RegistryEvidenceFile | None = None) -> HostAudit:
    scope = None if target.local else scope_for(config, target)
    transport_name = "local" if target.local else (scope.transport if scope is not None else "ssh")
    audit = HostAudit(target=target, transport=transport_name, started_at=utcnow())
    transport: LocalTransport | SSHTransport | SMBRegistryTransport
    try:
        if target.local:
            transport = LocalTransport()
            command_timeout, host_timeout = 30, 300.0
        elif scope is not None and scope.transport == "smb":
            target.os_family = "windows"  # the remote registry exists only on Windows (and Samba)
            transport = SMBRegistryTransport.connect(target.address, scope.port, resolve(scope), scope.domain or "",
                                                     timeout=scope.connect_timeout)
            command_timeout, host_timeout = scope.command_timeout, scope.host_timeout
        else:
            creds = resolve(scope)
            assert scope is not None
            transport = SSHTransport.connect(target.address, scope.port, creds, store, tofu=scope.trust_on_first_use,
                                             timeout=scope.connect_timeout, os_family=_host_os(target))
            command_timeout, host_timeout = scope.command_timeout, scope.host_timeout
        try:
            collect_and_evaluate(transport, target, policies, overrides, command_timeout, host_timeout, audit, evidence)
        finally:
            transport.close()
    except NoCredentials as exc:
        audit.fail("no credentials", str(exc))
    except HostKeyError as exc:
        audit.fail("host key", str(exc))
    except Unreachable as exc:
        audit.fail("unreachable", str(exc))
    except AuthFailed as exc:
        audit.fail("auth", str(exc))
    except AccessDenied as exc:
        audit.fail("access denied", str(exc))
    except RegistryUnavailable as exc:
        audit.fail("registry unavailable", str(exc))
    except TimeoutError as exc:
        audit.fail("timeout", str(exc))
    except Exception as exc:
        audit.fail("collect", f"{type(exc).__name__}: {exc}")
    audit.finished_at = utcnow()
    return audit


def audit_hosts(targets: list[HostTarget], policies: list[Policy], config: AuditConfig, overrides: dict[str, str],
                on_done: Callable[[HostAudit], None] | None = None, progress: bool = False,
                evidence: registry_evidence.RegistryEvidenceFile | None = None) -> list[HostAudit]:
    """Audit every target with at most `config.concurrency` hosts at a time; on_done runs in this thread."""
    store = HostKeyStore(config.known_hosts_path())
    done: list[HostAudit] = []
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("audit"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        bar.start()
        task = bar.add_task("audit", total=len(targets))
    interrupts.workers_may_run()
    try:
        with ThreadPoolExecutor(max_workers=min(config.concurrency, max(1, len(targets)))) as pool:
            futures = [pool.submit(audit_host, t, policies, config, store, overrides, evidence) for t in targets]
            try:
                for future in as_completed(futures):
                    result = future.result()
                    done.append(result)
                    if on_done:
                        on_done(result)
                    if bar is not None:
                        bar.advance(task)
            except BaseException as exc:
                # Storing failed (database gone, Ctrl-C...): do not go on logging in to hosts whose
                # results could not be kept.
                interrupts.stop_workers()  # an evaluating thread stops at its next search, not its end
                if isinstance(exc, KeyboardInterrupt):
                    stop_children()  # local checks' commands: a SIGTERM reached secops alone
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        if bar is not None:
            bar.stop()
    return done
