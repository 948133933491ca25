"""The central side: send a stage's work to the sites' queues, wait within bounds, store each result once.

Per task: a `remote_tasks` row is written (status `sent`) before the task goes to the broker; the
result is size-checked, validated, checked against what was asked (task id, site, agency, hosts),
and stored with the row marked `stored` in one transaction. A site whose broker cannot be
reached, whose task no scanner starts within `scanner_wait_seconds`, or which has not finished by
`task_deadline_seconds` is recorded with that reason; the other sites go on.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from kombu.exceptions import KombuError
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy import select

from secops.collect.audit import HostAudit, HostTarget
from secops.collect.record import add_host
from secops.discover.nmap_runner import ChunkOutput
from secops.discover.sites import Link, Site, queue_name
from secops.discover.store import store_chunk
from secops.discover.tables import DiscoveryScanRow
from secops.evaluate.protection import ProtectionVerdict
from secops.remote.broker import redact
from secops.remote.celery_app import AUDIT_TASK, DISCOVER_TASK, make_app
from secops.remote.payloads import AuditResult, AuditTask, DiscoverResult, DiscoverTask, TargetSpec
from secops.remote.tables import RemoteTaskRow
from secops.store.base import utcnow
from secops.store.db import Database
from secops.textsafe import printable

# Celery raises RuntimeError when its result backend gives up reconnecting ("Retry limit exceeded ...").
HostHook = Callable[[HostAudit], None]
LINK_ERRORS = (KombuError, RedisError, OSError, RuntimeError)


@dataclass
class Unit:
    """One task: a stage for one agency at one site."""

    site: Site
    payload: DiscoverTask | AuditTask

    @property
    def task_name(self) -> str:
        return DISCOVER_TASK if isinstance(self.payload, DiscoverTask) else AUDIT_TASK


@dataclass
class SiteOutcome:
    site: str
    agency_code: str | None
    status: str  # stored | refused | failed | no_scanner | unreachable | timeout | duplicate
    errors: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: " + " ".join(str(exc).split())[:500]


def new_task_id() -> str:
    return str(uuid.uuid4())


def _record_sent(db: Database, run_id: int, unit: Unit) -> None:
    with db.session() as session:
        session.add(RemoteTaskRow(task_id=unit.payload.task_id, run_id=run_id, site=unit.site.code,
                                  stage=unit.payload.kind, agency_code=unit.payload.agency_code, status="sent"))


def _record_end(db: Database, task_id: str, status: str, error: str | None, scanner: str | None = None) -> None:
    with db.session() as session:
        row = session.scalar(select(RemoteTaskRow).where(RemoteTaskRow.task_id == task_id))
        if row is not None and row.status == "sent":
            row.status, row.error, row.finished_at = status, printable(error, 4000), utcnow()
            row.scanner = printable(scanner, 255)


def _send(app: Celery, unit: Unit, link: Link) -> None:
    app.send_task(unit.task_name, args=[unit.payload.model_dump(mode="json")], task_id=unit.payload.task_id,
                  queue=queue_name(unit.site.code), expires=link.task_deadline_seconds, retry=False)


def _wait(app: Celery, unit: Unit, sent_at: float, link: Link) -> tuple[str, Any]:
    """('ok', value) | ('no_scanner'|'timeout'|'unreachable'|'failed', message)."""
    result = AsyncResult(unit.payload.task_id, app=app)
    code = unit.site.code
    try:
        try:
            value = result.get(timeout=max(0.5, sent_at + link.scanner_wait_seconds - time.monotonic()),
                               propagate=False, interval=0.5)
        except CeleryTimeout:
            if result.state == "PENDING":
                return "no_scanner", (f"site {code}: no scanner started the task within {link.scanner_wait_seconds}s "
                                      f"(is `secops scanner --site {code}` running?)")
            value = result.get(timeout=max(0.5, sent_at + link.task_deadline_seconds - time.monotonic()),
                               propagate=False, interval=0.5)
    except CeleryTimeout:
        return "timeout", f"site {code}: the task did not finish within {link.task_deadline_seconds}s"
    except LINK_ERRORS as exc:
        return "unreachable", f"site {code}: broker unreachable while waiting: {_one_line(exc)}"
    if result.state != "SUCCESS":
        return "failed", f"site {code}: the scanner failed the task: {type(value).__name__}: {value}"
    return "ok", value


def _check_size(value: Any, link: Link) -> None:
    size = len(json.dumps(value, separators=(",", ":")))
    if size > link.max_payload_bytes:
        raise ValueError(f"result of {size} bytes is over max_payload_bytes ({link.max_payload_bytes})")


def _validated(unit: Unit, value: Any, link: Link) -> DiscoverResult | AuditResult:
    _check_size(value, link)
    model = DiscoverResult if isinstance(unit.payload, DiscoverTask) else AuditResult
    result = model.model_validate(value)
    if result.task_id != unit.payload.task_id or result.site != unit.site.code:
        raise ValueError(f"result names task {result.task_id!r} of site {result.site!r}, not the task sent")
    if isinstance(result, DiscoverResult) and result.agency_code != unit.payload.agency_code:
        raise ValueError(f"result is for agency {result.agency_code!r}, not {unit.payload.agency_code!r}")
    return result


def _store_discover(session: Any, run_id: int, unit: Unit, result: DiscoverResult) -> dict[str, Any]:
    tally: dict[str, Any] = {"chunks": len(result.chunks), "chunks_ok": 0, "chunks_failed": 0, "hosts_up": 0}
    if result.plan is None:
        return tally
    plan = result.plan
    scan = DiscoveryScanRow(run_id=run_id, agency_code=unit.payload.agency_code, profile=result.profile,
                            arguments=result.arguments, targets=plan.networks, requested=plan.requested,
                            excluded=plan.trimmed, scope_file=f"site {unit.site.code}: {plan.scope_file}",
                            override_reason=None, nmap_version=result.nmap_version)
    session.add(scan)
    session.flush()
    for chunk in result.chunks:
        record = store_chunk(session, run_id, scan.id, ChunkOutput(**chunk.model_dump()))
        tally["chunks_ok" if record.parsed is not None else "chunks_failed"] += 1
        tally["hosts_up"] += len(record.parsed.hosts) if record.parsed else 0
        for status, count in record.matches.items():
            tally[status] = tally.get(status, 0) + count
    scan.finished_at = utcnow()
    return tally


def _store_audit(session: Any, run_id: int, unit: Unit, result: AuditResult,
                 before_store: HostHook | None = None) -> dict[str, Any]:
    assert isinstance(unit.payload, AuditTask)
    asked: dict[tuple[str, str | None], TargetSpec] = {(t.address, t.endpoint_code): t for t in unit.payload.targets}
    for host in result.hosts:
        if (host.target.address, host.target.endpoint_code) not in asked:
            raise ValueError(f"result holds host {host.target.address!r}, which the task did not ask for")
    counts: dict[str, int] = {}
    for host in result.hosts:
        spec = asked[(host.target.address, host.target.endpoint_code)]  # the central's own record, with its ids
        target = HostTarget(label=spec.label, address=spec.address, os_family=spec.os_family,
                            endpoint_id=spec.endpoint_id, endpoint_code=spec.endpoint_code,
                            agency_codes=tuple(spec.agency_codes))
        audit = HostAudit(target=target, transport=host.transport,
                          started_at=host.started_at, finished_at=host.finished_at, status=host.status,
                          error_kind=host.error_kind, message=host.message, os_info=host.os_info,
                          round_trips=host.round_trips, results=host.results,
                          protection=ProtectionVerdict(host.protection.status, host.protection.product,
                                                       host.protection.detail))
        if before_store is not None:
            before_store(audit)  # central policy on results, e.g. waivers (never the scanner's)
        add_host(session, run_id, audit)
        counts[host.protection.status] = counts.get(host.protection.status, 0) + 1
    return {"audited_hosts": len(result.hosts), "refused": len(result.refused), "protection": counts}


def store_result(db: Database, run_id: int, unit: Unit, result: DiscoverResult | AuditResult,
                 before_store: HostHook | None = None) -> SiteOutcome:
    """One transaction: the result's rows and the task row marked `stored`; a second call stores nothing."""
    code, agency = unit.site.code, unit.payload.agency_code
    errors = [printable(f"site {code}: {e}", 2000) or "" for e in result.errors]
    with db.session() as session:
        row = session.scalar(select(RemoteTaskRow).where(RemoteTaskRow.task_id == unit.payload.task_id)
                             .with_for_update())
        if row is None:
            raise ValueError(f"task {unit.payload.task_id} was not dispatched by this database")
        if row.status == "stored":
            return SiteOutcome(code, agency, "duplicate", [f"site {code}: result already stored; ignored"])
        if isinstance(result, DiscoverResult):
            summary = _store_discover(session, run_id, unit, result)
        else:
            summary = _store_audit(session, run_id, unit, result, before_store)
        row.status = "stored" if result.status != "refused" else "refused"
        row.scanner, row.finished_at = printable(result.scanner, 255), utcnow()
        row.error = printable("; ".join(result.errors), 4000) or None
    summary.update({"site": code, "scanner": result.scanner, "status": result.status})
    return SiteOutcome(code, agency, "refused" if result.status == "refused" else "stored", errors, summary)


def dispatch(db: Database, run_id: int, units: list[Unit], url: str, link: Link,
             before_store: HostHook | None = None) -> list[SiteOutcome]:
    """Send every unit (so sites work in parallel), then wait for and store each in turn."""
    app = make_app(url, link)
    sent: list[tuple[Unit, float]] = []
    outcomes: list[SiteOutcome] = []
    for unit in units:
        _record_sent(db, run_id, unit)
        try:
            _send(app, unit, link)
        except LINK_ERRORS as exc:
            message = f"site {unit.site.code}: broker {redact(url)} unreachable: {_one_line(exc)}"
            _record_end(db, unit.payload.task_id, "unreachable", message)
            outcomes.append(SiteOutcome(unit.site.code, unit.payload.agency_code, "unreachable", [message]))
            continue
        sent.append((unit, time.monotonic()))
    for unit, sent_at in sent:
        status, value = _wait(app, unit, sent_at, link)
        if status != "ok":
            _record_end(db, unit.payload.task_id, status, str(value))
            outcomes.append(SiteOutcome(unit.site.code, unit.payload.agency_code, status, [str(value)]))
            continue
        try:
            result = _validated(unit, value, link)
            outcomes.append(store_result(db, run_id, unit, result, before_store))
        except (ValidationError, ValueError) as exc:
            message = printable(f"site {unit.site.code}: result refused: {exc}", 2000) or ""
            _record_end(db, unit.payload.task_id, "failed", message)
            outcomes.append(SiteOutcome(unit.site.code, unit.payload.agency_code, "failed", [message]))
    try:
        app.close()
    except LINK_ERRORS:
        pass
    return outcomes
