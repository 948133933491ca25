"""Endpoint-protection status from the endpoint-protection pack's check results (data-driven).

Checks of the pack name a product and an aspect (`secops: {product: ClamAV, aspect: running}`).
Per product, each aspect becomes one state:
    passed         some check of that aspect passed
    error          none passed, one could not be collected
    failed         none passed, one failed
    not_applicable only not-applicable results
    none           the pack has no check of that aspect for the product (e.g. no signature test)
The pack's `secops.protection.rules` (first match wins) map the aspect states to protected,
degraded or unprotected; `otherwise` applies when no rule matches. The host takes the best
product's status (protected > degraded > unprotected). If the pack could not be evaluated, or a
product's installed-aspect errored and nothing better was found, the status is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secops.evaluate.engine import PolicyResult
from secops.evaluate.sca_load import Policy, ProtectionExt

RANK = {"protected": 3, "degraded": 2, "unprotected": 1, "unknown": 0}


@dataclass(frozen=True)
class ProtectionVerdict:
    status: str  # protected | degraded | unprotected | unknown
    product: str | None
    detail: str


def aspect_state(results: list[str]) -> str:
    if not results:
        return "none"
    for state in ("passed", "error", "failed"):
        if state in results:
            return state
    return "not_applicable"


def _rule_matches(when: Mapping[Any, str | list[str]], states: dict[str, str]) -> bool:
    for aspect, wanted in when.items():
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if states.get(aspect, "none") not in allowed:
            return False
    return True


def product_states(result: PolicyResult) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, list[str]]] = {}
    for check in result.checks:
        if check.product and check.aspect:
            grouped.setdefault(check.product, {}).setdefault(check.aspect, []).append(check.result)
    return {product: {aspect: aspect_state(grouped[product].get(aspect, []))
                      for aspect in ("installed", "running", "signatures")}
            for product in grouped}


def _describe(product: str, states: dict[str, str]) -> str:
    return f"{product}: " + ", ".join(f"{a}={s}" for a, s in states.items() if s != "none")


def protection_status(rules: ProtectionExt, result: PolicyResult | None) -> ProtectionVerdict:
    if result is None:
        return ProtectionVerdict("unknown", None, "endpoint-protection checks were not evaluated")
    if not result.applicable:
        return ProtectionVerdict("unknown", None, f"endpoint-protection pack not applicable: {result.reason}")
    best = ProtectionVerdict("unprotected", None, "no protection product found")
    errored: list[str] = []
    for product, states in sorted(product_states(result).items()):
        if states["installed"] == "error":
            errored.append(product)
            continue
        status = next((r.status for r in rules.rules if _rule_matches(r.when, states)), rules.otherwise)
        if status == "unprotected":
            continue
        verdict = ProtectionVerdict(status, product, _describe(product, states))
        if RANK[status] > RANK[best.status]:
            best = verdict
        elif status == best.status and best.product:  # several products in the same state: name them all
            best = ProtectionVerdict(status, f"{best.product}, {product}", f"{best.detail}; {verdict.detail}")
    if best.status == "unprotected" and errored:
        return ProtectionVerdict("unknown", None, "could not check: " + ", ".join(errored))
    return best


def protection_packs(policies: list[Policy]) -> list[Policy]:
    return [p for p in policies if p.secops.protection is not None]


def host_protection(policies: list[Policy], results: dict[str, PolicyResult]) -> ProtectionVerdict:
    """Combine every protection pack that applied to the host (one per OS in practice)."""
    verdicts = []
    for policy in protection_packs(policies):
        result = results.get(policy.id)
        if result is not None and not result.applicable and result.reason.startswith("policy applies to"):
            continue  # the Windows pack on a Linux host: silent, not a reason for unknown
        assert policy.secops.protection is not None
        verdicts.append(protection_status(policy.secops.protection, result))
    if not verdicts:
        return ProtectionVerdict("unknown", None, "no endpoint-protection pack applies to this host")
    return max(verdicts, key=lambda v: RANK[v.status])
