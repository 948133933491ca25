"""What an audited host's check results come to, counted one way wherever they are shown.

Two measures, named wherever a figure is printed (`secops audit`, the dashboard, dashboard.json):

- failed results: every check result `failed` on the host, over all its policies (the host page's
  filter counts the same rows);
- findings to fix: what an officer must act on — the failed and error results, less the checks of
  protection products that are not installed (one finding, "no approved protection product", stands
  for all of them when none is installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.collect.tables import CheckResultRow
from secops.errors import SecopsError
from secops.evaluate.sca_load import CheckText, load_packs

SEVERITY = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def section_of(compliance: dict[str, Any] | None) -> str:
    """The policy section a check belongs to: the first number of its CIS reference ("5.1.20" -> "5"),
    or "" when the policy maps it to no CIS item."""
    for framework, refs in (compliance or {}).items():
        if framework.lower().startswith("cis") and not framework.lower().startswith("cis_csc") and refs:
            head = str(refs[0]).split(".")[0].strip()
            if head.isdigit():
                return head
    return ""


Words = dict[tuple[str, str], CheckText]  # (policy, check) -> the check's Vietnamese text, from its pack


def check_dict(c: CheckResultRow, words: Words | None = None) -> dict[str, Any]:
    """A check result as reports show it. `words` (a Vietnamese report) replaces the pack's English
    title, rationale and remediation where the pack gives them in Vietnamese (secops's own packs);
    `text_lang` says which language the check's words are in, so a page can mark English as such."""
    vi = (words or {}).get((c.policy_id, c.check_id))
    return {"policy_id": c.policy_id, "check_id": c.check_id, "title": vi.title if vi else c.title, "result": c.result,
            "severity": c.severity, "serves": c.serves, "reason": c.reason or "",
            "remediation": (vi.remediation if vi and vi.remediation else c.remediation) or "",
            "rationale": (vi.rationale if vi and vi.rationale else c.rationale) or "",
            "compliance": c.compliance or {}, "evidence": c.evidence or "",
            "section": section_of(c.compliance), "text_lang": "vi" if vi else "en"}


def host_checks(session: Session, host_id: int, results: tuple[str, ...], words: Words | None = None
                ) -> list[dict[str, Any]]:
    """A host's check results of these kinds, most severe first."""
    rows = session.scalars(select(CheckResultRow).where(CheckResultRow.host_id == host_id,
                                                        CheckResultRow.result.in_(results)))
    items = sorted(rows, key=lambda c: (SEVERITY.get(c.severity or "", 9), c.policy_id, c.check_id))
    return [check_dict(c, words) for c in items]


def product_checks(checks: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(policy, check) -> (product, aspect) for the checks of the endpoint-protection packs."""
    return pack_facts(checks, "en")[0]


def pack_facts(checks: Path, lang: str) -> tuple[dict[tuple[str, str], tuple[str, str]], Words]:
    """(policy, check) -> (product, aspect) for the checks of the endpoint-protection packs; and, for a
    Vietnamese report, (policy, check) -> the Vietnamese words of the checks whose pack gives them."""
    try:
        packs = load_packs(checks)
    except SecopsError:  # the report still renders; checks are then listed as they are
        return {}, {}
    products: dict[tuple[str, str], tuple[str, str]] = {
        (p.id, str(c.id)): (c.secops.product, c.secops.aspect or "") for p in packs if p.secops.protection
        for c in p.checks if c.secops.product}
    words = {(p.id, str(c.id)): c.secops.vi for p in packs for c in p.checks
             if c.secops.vi is not None} if lang == "vi" else {}
    return products, words


def to_fix(failed: list[dict[str, Any]], passed: list[dict[str, Any]], products: dict[tuple[str, str], tuple[str, str]],
           text: dict[str, str], lang: str = "en") -> list[dict[str, Any]]:
    """What an officer must fix on this host.

    The protection packs test many products; "ESET is not installed" on a host protected by
    ClamAV is not a finding. Checks of products that are not installed are therefore dropped, and
    when no product at all is installed they become one finding listing what was looked for.
    """
    installed = {products[k][0] for k in ((c["policy_id"], str(c["check_id"])) for c in passed)
                 if k in products and products[k][1] == "installed"}
    kept, absent = [], []
    for check in failed:
        key = (check["policy_id"], str(check["check_id"]))
        if key in products and products[key][0] not in installed:
            absent.append(check)
        else:
            kept.append(check)
    if absent and not installed:
        names = sorted({products[(c["policy_id"], str(c["check_id"]))][0] for c in absent})
        kept.insert(0, {"policy_id": absent[0]["policy_id"], "check_id": "—", "title": text["audit_no_product"],
                        "result": "failed", "severity": "high", "reason": ", ".join(names),
                        "serves": sorted({s for c in absent for s in c["serves"]}),
                        "remediation": text["audit_no_product_fix"], "text_lang": lang})
    return kept


def host_findings(session: Session, host_id: int, products: dict[tuple[str, str], tuple[str, str]],
                  text: dict[str, str], words: Words | None = None, lang: str = "en") -> list[dict[str, Any]]:
    """The findings to fix on one audited host (see the module's note); `words` and `lang` as in
    `check_dict` and `to_fix` (the language of the report's own finding)."""
    return to_fix(host_checks(session, host_id, ("failed", "error"), words), host_checks(session, host_id, ("passed",)),
                  products, text, lang)
