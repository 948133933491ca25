"""The central side: send a stage's work to the sites' queues, wait within bounds, store each result once.

Per task: a `remote_tasks` row is written (status `sent`) before the task goes to the broker. The
result is read from Redis by this side itself, its size first (over max_payload_bytes it is never
read); its signature is checked with the site's enrolled key over the task id, site and run this side
sent, before the body is parsed; then it is validated, checked against what was asked (task id,
site, agency, hosts), and stored with the row marked `stored` in one transaction. A task this side
is done with is marked closed on the broker, so a redelivered copy is dropped by the scanner. A site whose broker cannot be
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

import redis
from celery import Celery
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from kombu.exceptions import KombuError
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy import select

from secops.collect.audit import HostAudit, HostTarget
from secops.collect.record import add_host
from secops.discover.nmap_runner import ChunkOutput
from secops.discover.scope import parse_target
from secops.discover.sites import Link, Site, queue_name
from secops.discover.store import store_chunk
from secops.discover.tables import DiscoveryScanRow
from secops.errors import SecopsError
from secops.evaluate.protection import ProtectionVerdict
from secops.remote.broker import endpoint, redact, require_auth
from secops.remote.celery_app import AUDIT_TASK, DISCOVER_TASK, closed_key, make_app, result_key
from secops.remote.celery_app import new_task_id as celery_task_id
from secops.remote.payloads import AuditResult, AuditTask, DiscoverResult, DiscoverTask, TargetSpec
from secops.remote.signing import open_envelope, parse_public
from secops.remote.tables import RemoteTaskRow, ScannerKeyRow
from secops.store.base import utcnow
from secops.store.db import Database
from secops.textsafe import printable

# Celery raises RuntimeError when its result backend gives up reconnecting ("Retry limit exceeded ...").
HostHook = Callable[[HostAudit], None]
LINK_ERRORS = (KombuError, RedisError, OSError, RuntimeError)
POLL_SECONDS = 0.5


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


def _refused_connection(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "connection refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def link_error(url: str, exc: BaseException) -> str:
    """'connection refused at HOST:PORT' rather than Celery's retry wording; the URL's password never shown."""
    if _refused_connection(exc):
        return f"connection refused at {endpoint(url)} (kết nối bị từ chối)"
    return f"broker {redact(url)} at {endpoint(url)}: {_one_line(exc)}"


def new_task_id(site: str = "") -> str:
    return celery_task_id(site) if site else str(uuid.uuid4())


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


def _close(client: redis.Redis, unit: Unit, link: Link) -> None:
    """Tell the site's scanners this task is no longer wanted (a redelivered copy is dropped unrun)."""
    try:
        client.set(closed_key(unit.payload.task_id), "1", ex=link.task_deadline_seconds * 2)
    except LINK_ERRORS:
        pass  # the task's deadline, which it carries, still stops it


def _wait(client: redis.Redis, url: str, unit: Unit, sent_at: float, link: Link) -> tuple[str, Any]:
    """('ok', the result's envelope) | ('no_scanner'|'timeout'|'unreachable'|'failed', message).

    Reads the result key itself, its size first: a result over max_payload_bytes is refused before a
    byte of it is read. A lost broker is waited for up to reconnect_seconds."""
    key, code = result_key(unit.payload.task_id), unit.site.code
    started, lost_since = False, None
    for _ in range(int((link.task_deadline_seconds + link.reconnect_seconds) / POLL_SECONDS) + 10):
        now = time.monotonic()
        try:
            size = client.strlen(key)
            if size > link.max_payload_bytes:
                return "failed", (f"site {code}: result refused: {size} bytes is over max_payload_bytes "
                                  f"({link.max_payload_bytes}); not read")
            if size:
                raw = client.get(key) or b"{}"
                if len(raw) > link.max_payload_bytes:
                    return "failed", f"site {code}: result refused: over max_payload_bytes; not read"
                meta = json.loads(raw)
                state = meta.get("status") if isinstance(meta, dict) else None
                if state == "SUCCESS":
                    return "ok", meta.get("result")
                if state in ("FAILURE", "REVOKED"):
                    detail = printable(json.dumps(meta.get("result"))[:500], 500)
                    return "failed", f"site {code}: the scanner failed the task: {state}: {detail}"
                started = True
            if lost_since is not None:
                lost_since = None
        except LINK_ERRORS as exc:
            lost_since = now if lost_since is None else lost_since
            if now - lost_since >= link.reconnect_seconds:
                return "unreachable", f"site {code}: broker unreachable while waiting: {link_error(url, exc)}"
        except ValueError as exc:
            return "failed", f"site {code}: result refused: not JSON: {exc}"
        if lost_since is None and not started and now > sent_at + link.scanner_wait_seconds:
            return "no_scanner", (f"site {code}: no scanner started the task within {link.scanner_wait_seconds}s "
                                  f"(is `secops scanner --site {code}` running?)")
        if now > sent_at + link.task_deadline_seconds:
            return "timeout", f"site {code}: the task did not finish within {link.task_deadline_seconds}s"
        time.sleep(POLL_SECONDS)
    return "timeout", f"site {code}: the task did not finish within {link.task_deadline_seconds}s"


def _validated(unit: Unit, envelope: Any, link: Link, public: Ed25519PublicKey) -> DiscoverResult | AuditResult:
    """Signature first (over the task id, site and run this side sent); only then the body is parsed."""
    body = open_envelope(envelope, public, unit.payload.task_id, unit.site.code, unit.payload.run_id)
    if len(body) > link.max_payload_bytes:
        raise ValueError(f"result of {len(body)} bytes is over max_payload_bytes ({link.max_payload_bytes})")
    model = DiscoverResult if isinstance(unit.payload, DiscoverTask) else AuditResult
    result = model.model_validate_json(body)
    if result.task_id != unit.payload.task_id or result.site != unit.site.code:
        raise ValueError(f"result names task {result.task_id!r} of site {result.site!r}, not the task sent")
    if isinstance(result, DiscoverResult) and result.agency_code != unit.payload.agency_code:
        raise ValueError(f"result is for agency {result.agency_code!r}, not {unit.payload.agency_code!r}")
    return result


def enrolled_keys(db: Database, sites: list[str]) -> dict[str, Ed25519PublicKey]:
    with db.session() as session:
        rows = session.scalars(select(ScannerKeyRow).where(ScannerKeyRow.site.in_(sites)))
        return {row.site: parse_public(row.public_key) for row in rows}


def _store_discover(session: Any, run_id: int, unit: Unit, result: DiscoverResult) -> dict[str, Any]:
    tally: dict[str, Any] = {"chunks": len(result.chunks), "chunks_ok": 0, "chunks_failed": 0, "hosts_up": 0}
    if result.plan is None:
        return tally
    plan = result.plan
    networks = _networks(plan.networks, "the plan")
    if isinstance(unit.payload, DiscoverTask) and unit.payload.targets:
        _within(networks, _networks(unit.payload.targets, "the task's targets"), "the plan's networks",
                "the task's targets")
    scan = DiscoveryScanRow(run_id=run_id, agency_code=unit.payload.agency_code, profile=result.profile,
                            arguments=result.arguments, targets=plan.networks, requested=plan.requested,
                            excluded=plan.trimmed, scope_file=f"site {unit.site.code}: {plan.scope_file}",
                            override_reason=None, nmap_version=result.nmap_version)
    session.add(scan)
    session.flush()
    for chunk in result.chunks:
        targets = _networks(chunk.targets, "a chunk's targets")
        _within(targets, networks, "a chunk's targets", "the plan's networks")
        record = store_chunk(session, run_id, scan.id, ChunkOutput(**chunk.model_dump()))
        for host in record.parsed.hosts if record.parsed else []:
            # The transaction is rolled back: nothing of this result is stored.
            _within(_networks([host.address], "a host's address"), targets, "host",
                    f"its chunk's targets ({' '.join(chunk.targets)})")
        tally["chunks_ok" if record.parsed is not None else "chunks_failed"] += 1
        tally["hosts_up"] += len(record.parsed.hosts) if record.parsed else 0
        for status, count in record.matches.items():
            tally[status] = tally.get(status, 0) + count
    scan.finished_at = utcnow()
    return tally


def _networks(texts: list[str], what: str) -> list[Any]:
    try:
        return [n for t in texts for n in parse_target(t)]
    except SecopsError as exc:
        raise ValueError(f"{what}: {exc}") from exc


def _within(inner: list[Any], outer: list[Any], inner_name: str, outer_name: str) -> None:
    """Every network of inner inside some network of outer, else the result is refused."""
    for net in inner:
        if not any(net.version == o.version and net.subnet_of(o) for o in outer):
            raise ValueError(f"{inner_name} {net} is outside {outer_name}: the result is refused")


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
    ok = sum(1 for host in result.hosts if host.status == "ok")
    return {"audited_hosts": len(result.hosts), "audit_ok": ok, "audit_errors": len(result.hosts) - ok,
            "refused": len(result.refused), "protection": counts}


def store_result(db: Database, run_id: int, unit: Unit, result: DiscoverResult | AuditResult,
                 before_store: HostHook | None = None) -> SiteOutcome:
    """One transaction: the result's rows and the task row marked `stored`; a second call stores nothing."""
    code, agency = unit.site.code, unit.payload.agency_code
    errors = [printable(f"site {code}: {e}", 2000) or "" for e in result.errors]
    with db.session() as session:
        row = session.scalar(select(RemoteTaskRow).where(RemoteTaskRow.task_id == unit.payload.task_id)
                             .with_for_update())
        if row is None or row.site != code or row.run_id != run_id:
            raise ValueError(f"task {unit.payload.task_id} was not dispatched by this database to site {code} "
                             f"in run {run_id}")
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
    from secops.remote.worker import redis_client

    require_auth(url, link.allow_unauthenticated_broker)
    keys = enrolled_keys(db, sorted({u.site.code for u in units}))
    app = make_app(url, link)
    client = redis_client(url, link)
    sent: list[tuple[Unit, float]] = []
    outcomes: list[SiteOutcome] = []
    for unit in units:
        _record_sent(db, run_id, unit)
        code = unit.site.code
        if code not in keys:
            message = (f"site {code}: no public key enrolled, so no result of it could be trusted; not sent "
                       f"(run `secops scanners enrol {code} --public-key FILE`)")
            _record_end(db, unit.payload.task_id, "failed", message)
            outcomes.append(SiteOutcome(code, unit.payload.agency_code, "failed", [message]))
            continue
        try:
            _send(app, unit, link)
        except LINK_ERRORS as exc:
            message = f"site {code}: broker unreachable: {link_error(url, exc)}"
            _record_end(db, unit.payload.task_id, "unreachable", message)
            outcomes.append(SiteOutcome(code, unit.payload.agency_code, "unreachable", [message]))
            continue
        sent.append((unit, time.monotonic()))
    for unit, sent_at in sent:
        status, value = _wait(client, url, unit, sent_at, link)
        try:
            if status != "ok":
                _record_end(db, unit.payload.task_id, status, str(value))
                outcomes.append(SiteOutcome(unit.site.code, unit.payload.agency_code, status, [str(value)]))
                continue
            try:
                result = _validated(unit, value, link, keys[unit.site.code])
                outcomes.append(store_result(db, run_id, unit, result, before_store))
            except (ValidationError, ValueError) as exc:
                message = printable(f"site {unit.site.code}: result refused: {exc}", 2000) or ""
                _record_end(db, unit.payload.task_id, "failed", message)
                outcomes.append(SiteOutcome(unit.site.code, unit.payload.agency_code, "failed", [message]))
        finally:
            _close(client, unit, link)
    for closing in (app.close, client.close):
        try:
            closing()
        except LINK_ERRORS:
            pass
    return outcomes
