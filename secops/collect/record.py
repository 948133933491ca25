"""Store one host's audit in the run: host row, check rows and (for inventory endpoints) evidence."""

from __future__ import annotations

from sqlalchemy.orm import Session

from secops.collect.audit import HostAudit
from secops.collect.tables import AuditHostRow, CheckResultRow
from secops.models import EvidenceSource
from secops.store.db import Database
from secops.store.tables import EvidenceRow
from secops.textsafe import printable


def observed(audit: HostAudit) -> bool:
    """Whether the audit observed the endpoint's protection: it reached the host and the verdict says
    something. An attempt that could not look (no credentials, unreachable, auth failure, timeout,
    host key, collection error) or could not check the protection is kept on its audit host row
    (status, error kind, message: the dashboard's "last attempt failed"), never as evidence: it
    would otherwise become the endpoint's newest evidence and hide a fresher observation."""
    return audit.status == "ok" and audit.protection.status != "unknown"


def record_host(db: Database, run_id: int, audit: HostAudit) -> int:
    """One transaction per host, so a crash later in the audit keeps what was already done."""
    with db.session() as session:
        return add_host(session, run_id, audit)


def add_host(session: Session, run_id: int, audit: HostAudit) -> int:
    """record_host inside the caller's transaction (a remote scanner's task is stored in one)."""
    target, verdict = audit.target, audit.protection
    finished = audit.finished_at or audit.started_at
    host = AuditHostRow(
        run_id=run_id, endpoint_id=target.endpoint_id, endpoint_code=target.endpoint_code, label=target.label,
        address=target.address, transport=audit.transport, status=audit.status, error_kind=audit.error_kind,
        message=printable(audit.message or None), os_info=printable(audit.os_info or None),
        protection=verdict.status, product=verdict.product, protection_detail=printable(verdict.detail),
        started_at=audit.started_at,
        finished_at=finished, round_trips=audit.round_trips,
        policies=[r.summary() for r in audit.results])
    for result in audit.results:
        for check in result.checks:
            host.checks.append(CheckResultRow(
                policy_id=check.policy_id, check_id=check.check_id, title=check.title, result=check.result,
                reason=printable(check.reason or None), severity=check.severity, serves=check.serves,
                remediation=check.remediation or None, rationale=check.rationale or None,
                compliance=check.compliance or None, evidence=printable(check.evidence or None, 2000)))
    session.add(host)
    if target.endpoint_id is not None and observed(audit):
        session.add(EvidenceRow(endpoint_id=target.endpoint_id, status=verdict.status, product=verdict.product,
                                source=EvidenceSource.audit.value, observed_at=finished, run_id=run_id,
                                detail=printable(verdict.detail, 2000)))
    session.flush()
    return host.id
