"""audit_checks.csv: the audit section's check results per host (failed, waived, not applicable),
with the reason and the policy's Wazuh dialect; cells neutralised against CSV injection."""

from __future__ import annotations

import csv
import io
from typing import Any

from secops.textsafe import neutral_cell

COLUMNS = ["host", "code", "address", "agency", "policy_id", "dialect", "check_id", "result", "severity", "title",
           "reason"]


def audit_csv(section: dict[str, Any] | None) -> str | None:
    """None when the dashboard has no audit section (then no file is written)."""

    if not section:
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for host in section.get("hosts", []):
        dialects = {p.get("policy"): p.get("dialect", "") for p in host.get("policies", [])}
        for key in ("failed", "waived", "not_applicable"):
            for c in host.get(key) or []:
                writer.writerow([neutral_cell(v) for v in (
                    host.get("label"), host.get("code"), host.get("address"), host.get("agency"), c["policy_id"],
                    dialects.get(c["policy_id"], ""), c["check_id"], c["result"], c.get("severity"), c["title"],
                    c.get("reason"))])
    return out.getvalue()
