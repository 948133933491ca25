"""Protection evidence from registry values that rules cannot judge: dates (signature age).

Data: policies/protection_registry.yaml. Each entry names a registry key, the values to show
as evidence and the FILETIME values whose newest date must not be older than the site's
`signature_max_age_days`. Evaluating an entry gives one CheckResult, added to the Windows
protection pack's result with the entry's product and aspect, so the pack's status rules treat it
like any other check. The values are read in the audit's first round, with the pack's own keys.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import policy_path
from secops.evaluate.engine import CheckResult, PolicyResult
from secops.evaluate.facts import OK, Facts, Request
from secops.policyfile import load_model
from secops.textsafe import printable

FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistryEvidence(_Strict):
    id: str = Field(min_length=1)
    product: str
    aspect: str = Field(pattern="^(installed|running|signatures)$")
    title: str
    remediation: str = ""
    key: str | None = Field(default=None, description="a key whose values are the evidence")
    uninstall: str | None = Field(default=None, description="regex on DisplayName of the installed-programs list")
    show: list[str] = Field(default_factory=list, description="values shown as evidence")
    updated: list[str] = Field(default_factory=list, description="FILETIME values; the newest is the update time")
    severity: str = Field(default="high", pattern="^(info|low|medium|high|critical)$")
    serves: list[str] = Field(default_factory=list)


    @model_validator(mode="after")
    def _one_source(self) -> RegistryEvidence:
        if (self.key is None) == (self.uninstall is None):
            raise ValueError("give key or uninstall (one of them)")
        if self.uninstall is not None:
            try:
                re.compile(self.uninstall)
            except re.error as exc:
                raise ValueError(f"uninstall is not a valid regex: {exc}") from exc
        return self


class RegistryEvidenceFile(_Strict):
    version: int = 1
    pack: str
    uninstall_keys: list[str] = Field(default_factory=list, description="installed-programs lists (64/32-bit)")
    evidence: list[RegistryEvidence] = Field(default_factory=list)


def load_registry_evidence(policies_dir: Path) -> RegistryEvidenceFile:
    return load_model(policy_path(policies_dir, "protection_registry.yaml"), RegistryEvidenceFile)


def requests(spec: RegistryEvidenceFile | None) -> set[Request]:
    if spec is None:
        return set()
    needs = {Request("registry", e.key) for e in spec.evidence if e.key}
    if any(e.uninstall for e in spec.evidence):
        needs |= {Request("registry_subkeys", k) for k in spec.uninstall_keys}
    return needs


def _programs(facts: Facts, keys: list[str]) -> list[list[str]] | str:
    """Installed programs as [subkey, DisplayName, DisplayVersion, Publisher], or why not known.

    Not known (not applicable) unless at least one list was read: a transport that cannot list
    subkeys answers "missing", and a Windows host always has the 64-bit list.
    """
    found: list[list[str]] = []
    listed = False
    problems = []
    for key in keys:
        request = Request("registry_subkeys", key)
        item = facts.get(request)
        if request in facts.unsupported or request in facts.errors or item is None:
            problems.append(facts.unsupported.get(request) or facts.errors.get(request) or "not collected")
        elif item.status == OK:
            listed = True
            found.extend((line.split("\t") + ["", "", ""])[:4] for line in item.lines() if line)
    if not listed:
        return "installed-programs list not available" + (f": {problems[0]}" if problems else "")
    return found


def _judge_uninstall(entry: RegistryEvidence, facts: Facts, keys: list[str]) -> tuple[str, str]:
    programs = _programs(facts, keys)
    if isinstance(programs, str):
        return "not_applicable", programs
    assert entry.uninstall is not None
    pattern = re.compile(entry.uninstall)
    hits = [p for p in programs if p[1] and pattern.search(p[1])]
    if not hits:
        return "failed", f"no installed program matches {entry.uninstall}"
    return "passed", "; ".join(f"{name} {version}".strip() + (f" ({publisher})" if publisher else "")
                               for _, name, version, publisher in hits[:5])


def filetime(lines: list[str]) -> dt.datetime | None:
    """A FILETIME value as rendered by a transport: 16 hex digits (smb) or 8 byte lines (PowerShell)."""
    raw: bytes | None = None
    try:
        if len(lines) == 1 and len(lines[0].strip()) == 16:
            raw = bytes.fromhex(lines[0].strip())
        elif len(lines) == 8:
            raw = bytes(int(b) for b in lines)
    except ValueError:
        raw = None
    if raw is None or len(raw) != 8:
        return None
    ticks = int.from_bytes(raw, "little")
    if ticks == 0:
        return None
    try:
        return FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def _values(facts: Facts, key: str) -> dict[str, list[str]] | str:
    request = Request("registry", key)
    if request in facts.unsupported:
        return facts.unsupported[request]
    if request in facts.errors:
        return "error: " + facts.errors[request]
    item = facts.get(request)
    if item is None:
        return "error: not collected"
    if item.status != OK:
        return f"registry key {key} does not exist"
    values: dict[str, list[str]] = {}
    for line in item.lines():
        name, _, data = line.partition("\t")
        values.setdefault(name.lower(), []).append(data)
    return values


def judge(entry: RegistryEvidence, facts: Facts, max_age_days: int, now: dt.datetime, spec: RegistryEvidenceFile
          ) -> CheckResult:
    result, reason = "not_applicable", ""
    found = _values(facts, entry.key) if entry.key else {}
    if entry.uninstall:
        result, reason = _judge_uninstall(entry, facts, spec.uninstall_keys)
    elif isinstance(found, str):
        result = "error" if found.startswith("error: ") else "not_applicable"
        reason = found.removeprefix("error: ")
    else:
        shown = [f"{name} = {found[name.lower()][0]}" for name in entry.show if name.lower() in found]
        dates = [(name, when) for name in entry.updated
                 if (when := filetime(found.get(name.lower(), []))) is not None]
        if entry.updated and not dates:
            reason = "no update time stored (" + ", ".join(entry.updated) + ")"
        elif dates:
            name, newest = max(dates, key=lambda d: d[1])
            age = (now - newest).total_seconds() / 86400
            shown.append(f"{name} = {newest:%Y-%m-%d %H:%M} UTC ({age:.1f} days old, allowed {max_age_days})")
            result = "passed" if age <= max_age_days else "failed"
        else:
            result = "passed" if shown else "failed"
        reason = "; ".join(shown + ([reason] if reason else []))
    return CheckResult(policy_id=spec.pack, check_id=entry.id, title=entry.title, result=result,
                       reason=printable(reason) or "", severity=entry.severity, serves=entry.serves,
                       remediation=entry.remediation, product=entry.product, aspect=entry.aspect)


def apply(spec: RegistryEvidenceFile | None, results: list[PolicyResult], facts: Facts, overrides: dict[str, str],
          now: dt.datetime | None = None) -> None:
    """Add the evidence checks to the protection pack's result (when the pack applied)."""
    if spec is None:
        return
    pack = next((r for r in results if r.policy_id == spec.pack and r.applicable), None)
    if pack is None:
        return
    max_age = int(overrides.get("$signature_max_age_days", "7"))
    moment = now or dt.datetime.now(dt.UTC)
    pack.checks.extend(judge(e, facts, max_age, moment, spec) for e in spec.evidence)
