"""audit_checks.csv: every check result of every host the audit section lists (passed, failed, not
applicable with its reason, waived, error), one row per result, with the policy's Wazuh dialect,
section, compliance mappings, the evidence that decided it and the remediation; cells neutralised
against CSV injection. The only bound is the section's (at most MAX_HOSTS hosts, the newest
first-problem order): when hosts are left out, the last row says how many."""

from __future__ import annotations

import csv
import io
from typing import Any

from secops.textsafe import neutral_cell

COLUMNS = ["host", "code", "address", "agency", "policy_id", "dialect", "section", "check_id", "result", "severity",
           "title", "reason", "evidence", "compliance", "remediation"]


def compliance_text(mappings: dict[str, Any] | None) -> str:
    return "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in sorted((mappings or {}).items()))


def audit_csv(section: dict[str, Any] | None) -> str | None:
    """None when the dashboard has no audit section (then no file is written)."""

    if not section:
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for host in section.get("hosts", []):
        dialects = {p.get("policy"): p.get("dialect", "") for p in host.get("policies", [])}
        for c in host.get("results") or []:
            writer.writerow([neutral_cell(v) for v in (
                host.get("label"), host.get("code"), host.get("address"), host.get("agency"), c["policy_id"],
                dialects.get(c["policy_id"], ""), c.get("section", ""), c["check_id"], c["result"],
                c.get("severity") or "", c["title"], c.get("reason"), c.get("evidence", ""),
                compliance_text(c.get("compliance")), c.get("remediation", ""))])
    if section.get("more"):
        writer.writerow([neutral_cell(f"# {section['more']} more hosts not listed (at most {section.get('max_hosts')} "
                                      "hosts per report; every result of a listed host is here)")])
    return out.getvalue()
