"""`secops audit report HOST`: one host's newest audit in the terminal, every check result with its
status, severity (where the pack gives one), reason, the evidence that decided it and the policy's
mappings: what the host page shows (report/sections/audit.py), as text."""

from __future__ import annotations

import typer
from sqlalchemy import or_, select

from secops.cliutil import console, fail, state, user_errors
from secops.collect.tables import AuditHostRow
from secops.localtime import province_zone, shown
from secops.report.audit_csv import compliance_text
from secops.report.sections.audit import STATUSES, all_results
from secops.textsafe import printable


def _out(text: str) -> None:
    # Host text printed literally (stored printable: control characters already made visible).
    console.print(printable(text) or "", markup=False, highlight=False, soft_wrap=True)


@user_errors
def audit_report_command(
    ctx: typer.Context,
    host: str = typer.Argument(..., help="endpoint code, host name or address"),
    run: int | None = typer.Option(None, "--run", help="this audit run [default: the host's newest]"),
    status: list[str] = typer.Option([], "--status", help="only these results (repeat): "
                                     "passed, failed, not_applicable, waived, error"),
) -> None:
    """One host's audit results: every check with its status, evidence, mappings and remediation."""
    unknown = sorted(set(status) - set(STATUSES))
    if unknown:
        raise fail(f"--status: unknown result {', '.join(unknown)} (one of {', '.join(STATUSES)})")
    db = state(ctx).db()
    with db.session() as session:
        query = select(AuditHostRow).where(or_(AuditHostRow.endpoint_code == host, AuditHostRow.label == host,
                                               AuditHostRow.address == host))
        if run is not None:
            query = query.where(AuditHostRow.run_id == run)
        row = session.scalars(query.order_by(AuditHostRow.id.desc()).limit(1)).first()
        if row is None:
            raise fail(f"{host}: no audit of this host" + (f" in run {run}" if run is not None else "")
                       + " (give an endpoint code, host name or address that `secops audit` audited)")
        results = all_results(session, row.id)
        zone = province_zone(state(ctx).settings.policies)  # shown local, the zone named
        _out(f"{row.label} ({row.endpoint_code or '-'}, {row.address}) · run {row.run_id} · "
             f"{shown(row.finished_at, zone, '%Y-%m-%d %H:%M')} · {row.transport}")
        if row.status != "ok":
            _out(f"last attempt failed: {row.error_kind}: {row.message}")
        counts = {s: sum(1 for c in results if c["result"] == s) for s in STATUSES}
        _out("results: " + ", ".join(f"{s} {n}" for s, n in counts.items()) + f" (total {len(results)})")
        for c in results:
            if status and c["result"] not in status:
                continue
            _out(f"{c['policy_id']}:{c['check_id']}  {c['result']}  {c['severity'] or '-'}  {c['title']}")
            if c["reason"]:
                _out(f"    reason: {c['reason']}")
            for line in c["evidence"].splitlines():
                _out(f"    | {line}")
            if c["compliance"]:
                _out(f"    mappings: {compliance_text(c['compliance'])}")
            if c["result"] in ("failed", "error") and c["remediation"]:
                _out(f"    remediation: {c['remediation']}")
