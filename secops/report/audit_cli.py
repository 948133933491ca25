"""`secops audit report HOST`: one host's newest audit in the terminal, every check result with its
status, severity (where the pack gives one), reason, the evidence that decided it and the policy's
mappings: what the host page shows (report/sections/audit.py), as text."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import or_, select

from secops.cliutil import console, fail, state, user_errors
from secops.collect.findings import pack_facts
from secops.collect.tables import AuditHostRow
from secops.i18n import _, doc, language
from secops.localtime import province_zone, shown
from secops.report.audit_csv import compliance_text
from secops.report.sections.audit import STATUSES, all_results
from secops.textsafe import printable


def _out(text: str) -> None:
    # Host text printed literally (stored printable: control characters already made visible).
    console.print(printable(text) or "", markup=False, highlight=False, soft_wrap=True)


@doc(_("One host's audit results: every check with its status, evidence, mappings and remediation."))
@user_errors
def audit_report_command(
    ctx: typer.Context,
    host: str = typer.Argument(..., help=_("endpoint code, host name or address")),
    run: int | None = typer.Option(None, "--run", help=_("this audit run [default: the host's newest]")),
    status: list[str] = typer.Option([], "--status", help=_("only these results (repeat): "
                                     "passed, failed, not_applicable, waived, error")),
) -> None:
    unknown = sorted(set(status) - set(STATUSES))
    if unknown:
        raise fail(_("--status: unknown result {values} (one of {allowed})").format(
            values=", ".join(unknown), allowed=", ".join(STATUSES)))
    db = state(ctx).db()
    # secops's own packs give their checks' words in Vietnamese: shown so in a Vietnamese terminal.
    _products, words = pack_facts(Path(state(ctx).settings.checks), language())
    with db.session() as session:
        query = select(AuditHostRow).where(or_(AuditHostRow.endpoint_code == host, AuditHostRow.label == host,
                                               AuditHostRow.address == host))
        if run is not None:
            query = query.where(AuditHostRow.run_id == run)
        row = session.scalars(query.order_by(AuditHostRow.id.desc()).limit(1)).first()
        if row is None:
            raise fail((_("{host}: no audit of this host in run {run}") if run is not None
                        else _("{host}: no audit of this host")).format(host=host, run=run)
                       + " " + _("(give an endpoint code, host name or address that `secops audit` audited)"))
        results = all_results(session, row.id, words)
        zone = province_zone(state(ctx).settings.policies)  # shown local, the zone named
        _out(f"{row.label} ({row.endpoint_code or '-'}, {row.address}) · " + _("run {id}").format(id=row.run_id)
             + f" · {shown(row.finished_at, zone, '%Y-%m-%d %H:%M')} · {row.transport}")
        if row.status != "ok":
            _out(_("last attempt failed: {kind}: {message}").format(kind=row.error_kind, message=row.message))
        counts = {s: sum(1 for c in results if c["result"] == s) for s in STATUSES}
        _out(_("results: {counts} (total {n})").format(counts=", ".join(f"{s} {n}" for s, n in counts.items()),
                                                       n=len(results)))
        for c in results:
            if status and c["result"] not in status:
                continue
            _out(f"{c['policy_id']}:{c['check_id']}  {c['result']}  {c['severity'] or '-'}  {c['title']}")
            if c["reason"]:
                _out("    " + _("reason: {reason}").format(reason=c["reason"]))
            for line in c["evidence"].splitlines():
                _out(f"    | {line}")
            if c["compliance"]:
                _out("    " + _("mappings: {mappings}").format(mappings=compliance_text(c["compliance"])))
            if c["result"] in ("failed", "error") and c["remediation"]:
                _out("    " + _("remediation: {text}").format(text=c["remediation"]))
