"""Read OpenSCAP results and join them with secops's Wazuh CIS results on CIS recommendation ids.

Used by bench/oscap_compare.py and tested on a recorded fixture (tests/test_oscap_join.py):
- parse_oscap_results: an ARF (`oscap xccdf eval --results-arf`) or plain XCCDF 1.2 results file
  (`--results`) -> each rule's result, with the OVAL evidence the ARF carries (the tests that decided
  the rule and the items oscap collected, bounded);
- ssg_cis_references / profile_selections: what the SCAP Security Guide data stream says about CIS
  Benchmark references and which rules each profile selects;
- wazuh_by_cis: secops's check results keyed by the CIS ids of their `compliance: cis:` mapping;
- join: the overlapping controls (reference join first, then the hand-made table), each with both
  tools' verdicts and evidence, and whether they agree.
XML is read with defusedxml (no entities, no DTD).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from defusedxml.ElementTree import parse as safe_parse

XCCDF = "http://checklists.nist.gov/xccdf/1.2"
OVAL_RES = "http://oval.mitre.org/XMLSchema/oval-results-5"
OVAL_DEF = "http://oval.mitre.org/XMLSchema/oval-definitions-5"
OVAL_SC = "http://oval.mitre.org/XMLSchema/oval-system-characteristics-5"
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"
PROFILE_PREFIX = "xccdf_org.ssgproject.content_profile_"
# Where a CIS *Benchmark* recommendation id can be read from an SSG reference (CIS Controls are not one).
CIS_BENCHMARK_HREFS = ("cisecurity.org/benchmark", "cisecurity.org/cis-benchmarks")
EVIDENCE_MAX = 400  # characters of evidence kept per rule / check
ITEMS_MAX = 3  # collected items described per OVAL test

# secops's check statuses in oscap's words, to compare them
WAZUH_TO_XCCDF = {"passed": "pass", "failed": "fail", "not_applicable": "notapplicable", "error": "error",
                  "waived": "fail"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _short(rule_id: str) -> str:
    return rule_id.removeprefix(RULE_PREFIX)


def _bounded(text: str, limit: int = EVIDENCE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class RuleResult:
    rule: str  # SSG rule id without the xccdf_org.ssgproject.content_rule_ prefix
    result: str  # pass | fail | notapplicable | notchecked | notselected | error | unknown | informational | fixed
    check: str = ""  # the OVAL definition that decided it
    evidence: str = ""


@dataclass
class OscapRun:
    benchmark: str
    profile: str
    start: str
    end: str
    rules: dict[str, RuleResult] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        """Results of the rules oscap evaluated (notselected left out)."""
        return Counter(r.result for r in self.rules.values() if r.result != "notselected")


class _Oval:
    """The OVAL results of an ARF: what decided each definition, in words."""

    def __init__(self, root: ET.Element) -> None:
        self.comments: dict[str, str] = {}
        self.criteria: dict[str, ET.Element] = {}
        self.def_result: dict[str, str] = {}
        self.tests: dict[str, tuple[str, list[str], str]] = {}
        self.items: dict[str, ET.Element] = {}
        for results in root.iter(f"{{{OVAL_RES}}}oval_results"):
            for test in results.iter():
                if _local(test.tag).endswith("_test") and test.get("id") and test.get("comment"):
                    self.comments[test.get("id", "")] = test.get("comment", "")
            for definition in results.iter(f"{{{OVAL_RES}}}definition"):
                def_id = definition.get("definition_id", "")
                self.def_result[def_id] = definition.get("result", "")
                crit = definition.find(f"{{{OVAL_RES}}}criteria")
                if crit is not None:
                    self.criteria[def_id] = crit
            for test in results.iter(f"{{{OVAL_RES}}}test"):
                items = [t.get("item_id", "") for t in test.findall(f"{{{OVAL_RES}}}tested_item")]
                self.tests[test.get("test_id", "")] = (test.get("result", ""), items,
                                                       test.get("check_existence", ""))
            for data in results.iter(f"{{{OVAL_SC}}}system_data"):
                for item in data:
                    self.items[item.get("id", "")] = item

    def _item_text(self, item_id: str) -> str:
        item = self.items.get(item_id)
        if item is None:
            return ""
        parts = [f"{_local(child.tag)}={(child.text or '').strip()}" for child in item
                 if (child.text or "").strip() and _local(child.tag) not in ("filepath", "filename")]
        return ", ".join(parts)

    def _deciding(self, crit: ET.Element, want: str, out: list[tuple[str, str, list[str], str]]) -> None:
        for child in crit:
            name = _local(child.tag)
            if name == "criteria":
                self._deciding(child, want, out)
            elif name == "criterion" and child.get("result") == want:
                test_id = child.get("test_ref", "")
                result, items, existence = self.tests.get(test_id, (child.get("result", ""), [], ""))
                out.append((self.comments.get(test_id, test_id), result, items, existence))
            elif name == "extend_definition" and child.get("result") == want:
                sub = self.criteria.get(child.get("definition_ref", ""))
                if sub is not None:
                    self._deciding(sub, want, out)

    def evidence(self, def_id: str) -> str:
        crit = self.criteria.get(def_id)
        if crit is None:
            return ""
        want = crit.get("result", "")
        found: list[tuple[str, str, list[str], str]] = []
        self._deciding(crit, want, found)
        texts = []
        for comment, result, items, existence in found[:4]:
            described = [t for t in (self._item_text(i) for i in items[:ITEMS_MAX]) if t]
            more = f" (+{len(items) - ITEMS_MAX} items)" if len(items) > ITEMS_MAX else ""
            if described:
                seen = "; ".join(described) + more
            elif existence == "none_exist":
                seen = "no offending item found" if result == "true" else f"{len(items)} offending item(s)"
            else:
                seen = "no item collected"
            texts.append(f"{comment}: {result} [{seen}]")
        return _bounded(" | ".join(texts))


def parse_oscap_results(path: Path) -> OscapRun:
    """The first XCCDF 1.2 TestResult in an ARF or XCCDF results file, with OVAL evidence where present."""
    try:
        root = safe_parse(str(path)).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not XML: {exc}") from exc
    test_result = next(root.iter(f"{{{XCCDF}}}TestResult"), None)
    if test_result is None:
        raise ValueError(f"{path}: no XCCDF 1.2 TestResult (give an ARF or XCCDF results file from oscap)")
    profile = test_result.find(f"{{{XCCDF}}}profile")
    benchmark = test_result.find(f"{{{XCCDF}}}benchmark")
    run = OscapRun(benchmark=(benchmark.get("id") or benchmark.get("href") or "") if benchmark is not None else "",
                   profile=_short_profile(profile.get("idref", "") if profile is not None else ""),
                   start=test_result.get("start-time", ""), end=test_result.get("end-time", ""))
    oval = _Oval(root)
    for rule_result in test_result.iter(f"{{{XCCDF}}}rule-result"):
        rule = _short(rule_result.get("idref", ""))
        result = (rule_result.findtext(f"{{{XCCDF}}}result") or "").strip()
        ref = rule_result.find(f".//{{{XCCDF}}}check-content-ref")
        check = ref.get("name", "") if ref is not None else ""
        messages = " ".join((m.text or "").strip() for m in rule_result.findall(f"{{{XCCDF}}}message"))
        evidence = oval.evidence(check) if check else ""
        run.rules[rule] = RuleResult(rule, result, check, _bounded(" ".join(p for p in (evidence, messages) if p)))
    return run


def _short_profile(profile_id: str) -> str:
    return profile_id.removeprefix(PROFILE_PREFIX)


def _benchmark(datastream: Path) -> ET.Element:
    root = safe_parse(str(datastream)).getroot()
    bench = next(root.iter(f"{{{XCCDF}}}Benchmark"), None)
    if bench is None:
        raise ValueError(f"{datastream}: no XCCDF 1.2 Benchmark in this data stream")
    return bench


def ssg_cis_references(benchmark: ET.Element) -> tuple[dict[str, list[str]], int]:
    """CIS Benchmark recommendation ids per SSG rule, and how many rules cite CIS Controls only."""
    benchmark_refs: dict[str, list[str]] = {}
    controls_only = 0
    for rule in benchmark.iter(f"{{{XCCDF}}}Rule"):
        ids, controls = [], False
        for ref in rule.findall(f"{{{XCCDF}}}reference"):
            href = ref.get("href", "")
            if any(h in href for h in CIS_BENCHMARK_HREFS):
                ids += [i.strip() for i in (ref.text or "").split(",") if i.strip()]
            elif "cisecurity.org/controls" in href:
                controls = True
        if ids:
            benchmark_refs[_short(rule.get("id", ""))] = ids
        elif controls:
            controls_only += 1
    return benchmark_refs, controls_only


def profile_selections(benchmark: ET.Element) -> dict[str, set[str]]:
    """Rules each profile selects (selected="true"), by short profile and rule ids."""
    out: dict[str, set[str]] = {}
    for profile in benchmark.findall(f"{{{XCCDF}}}Profile"):
        out[_short_profile(profile.get("id", ""))] = {
            _short(s.get("idref", "")) for s in profile.findall(f"{{{XCCDF}}}select")
            if s.get("selected") == "true" and s.get("idref", "").startswith(RULE_PREFIX)}
    return out


def rule_platforms(benchmark: ET.Element) -> dict[str, list[str]]:
    """The applicability platforms of each rule, its own and its groups' (e.g. not_bootc_and_not_container):
    a rule whose platform does not hold is `notapplicable`, and the results do not say which one failed."""
    out: dict[str, list[str]] = {}

    def walk(node: ET.Element, inherited: list[str]) -> None:
        for child in node:
            name = _local(child.tag)
            if name not in ("Group", "Rule"):
                continue
            own = [p.get("idref", "").lstrip("#") for p in child.findall(f"{{{XCCDF}}}platform")]
            platforms = inherited + [p for p in own if p not in inherited]
            if name == "Group":
                walk(child, platforms)
            else:
                out[_short(child.get("id", ""))] = platforms

    walk(benchmark, [p.get("idref", "").lstrip("#") for p in benchmark.findall(f"{{{XCCDF}}}platform")])
    return out


@dataclass
class Datastream:
    cis_refs: dict[str, list[str]]  # rule -> CIS Benchmark ids
    controls_only: int  # rules citing CIS Controls and no CIS Benchmark id
    profiles: dict[str, set[str]]
    platforms: dict[str, list[str]]


def read_datastream(datastream: Path) -> Datastream:
    bench = _benchmark(datastream)
    refs, controls_only = ssg_cis_references(bench)
    return Datastream(refs, controls_only, profile_selections(bench), rule_platforms(bench))


def explain_not_applicable(run: OscapRun, platforms: dict[str, list[str]]) -> None:
    """Give each notapplicable rule without evidence the platforms it depends on."""
    for rule in run.rules.values():
        if rule.result == "notapplicable" and not rule.evidence and platforms.get(rule.rule):
            rule.evidence = "platform not met (one of): " + ", ".join(platforms[rule.rule])


# --- secops / Wazuh side --------------------------------------------------------------------------

@dataclass
class WazuhCheck:
    check_id: str
    title: str
    result: str  # passed | failed | not_applicable | error | waived
    cis: list[str]
    evidence: str = ""


def wazuh_checks(results: Iterable[Any]) -> list[WazuhCheck]:
    """secops CheckResult objects (or their dicts, as `--save-facts`-free JSON dumps) -> WazuhCheck."""
    out = []
    for r in results:
        data = r if isinstance(r, dict) else r.model_dump()
        cis = [str(c) for c in (data.get("compliance") or {}).get("cis", [])]
        out.append(WazuhCheck(str(data["check_id"]), data.get("title", ""), data["result"], cis,
                              _bounded(data.get("evidence") or data.get("reason") or "")))
    return out


def wazuh_by_cis(checks: Iterable[WazuhCheck]) -> dict[str, WazuhCheck]:
    """CIS recommendation id -> the check that carries it (the first one, as policies map one check each)."""
    out: dict[str, WazuhCheck] = {}
    for check in checks:
        for cis in check.cis:
            out.setdefault(cis, check)
    return out


# --- the mapping and the join ---------------------------------------------------------------------

@dataclass
class Mapping:
    cis: str
    wazuh: str
    ssg: list[str]
    combine: str = "all"
    note: str = ""
    source: str = "table"  # table | reference


def load_mappings(path: Path) -> list[Mapping]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("mappings"), list):
        raise ValueError(f"{path}: expected a 'mappings:' list")
    out = []
    for n, entry in enumerate(data["mappings"], 1):
        if not isinstance(entry, dict) or not entry.get("cis") or not entry.get("ssg"):
            raise ValueError(f"{path}: mapping {n}: needs cis and ssg")
        combine = entry.get("combine", "all")
        if combine not in ("all", "any"):
            raise ValueError(f"{path}: mapping {n} (cis {entry['cis']}): combine must be all or any, not {combine!r}")
        out.append(Mapping(str(entry["cis"]), str(entry.get("wazuh", "")), [str(s) for s in entry["ssg"]],
                           combine, " ".join(str(entry.get("note", "")).split())))
    return out


def reference_mappings(refs: dict[str, list[str]]) -> list[Mapping]:
    by_cis: dict[str, list[str]] = {}
    for rule, ids in refs.items():
        for cis in ids:
            by_cis.setdefault(cis, []).append(rule)
    return [Mapping(cis, "", sorted(rules), "all", "", "reference") for cis, rules in sorted(by_cis.items())]


def ssg_verdict(results: list[RuleResult], combine: str) -> str:
    """One verdict from the SSG rules of a control; notselected when the profile evaluated none of them."""
    ran = [r for r in results if r.result != "notselected"]
    if not ran:
        return "notselected"
    decided = ["pass" if r.result == "fixed" else r.result for r in ran if r.result in ("pass", "fail", "fixed")]
    if not decided:
        return "error" if any(r.result in ("error", "unknown") for r in ran) else "notapplicable"
    if combine == "any":
        return "pass" if "pass" in decided else "fail"
    return "fail" if "fail" in decided else "pass"


@dataclass
class Pair:
    mapping: Mapping
    wazuh: WazuhCheck
    ssg: list[RuleResult]
    verdict: str

    @property
    def wazuh_verdict(self) -> str:
        return WAZUH_TO_XCCDF.get(self.wazuh.result, self.wazuh.result)

    @property
    def agree(self) -> bool:
        return self.wazuh_verdict == self.verdict


@dataclass
class Join:
    pairs: list[Pair]
    unmatched_cis: list[str]  # mapped CIS ids no Wazuh check carries
    not_selected: list[str]  # mapped CIS ids whose SSG rules the profile did not evaluate
    wrong_check: list[str]  # table rows whose Wazuh check id differs from the one carrying the CIS id

    @property
    def agreed(self) -> int:
        return sum(p.agree for p in self.pairs)

    def rate(self) -> float | None:
        return self.agreed / len(self.pairs) if self.pairs else None


def join(wazuh: list[WazuhCheck], oscap: OscapRun, mappings: list[Mapping]) -> Join:
    """Controls both tools evaluated, joined on the CIS id the Wazuh check carries."""
    by_cis = wazuh_by_cis(wazuh)
    pairs, unmatched, not_selected, wrong = [], [], [], []
    seen: set[str] = set()
    for m in mappings:
        if m.cis in seen:
            continue
        check = by_cis.get(m.cis)
        if check is None:
            unmatched.append(m.cis)
            continue
        if m.wazuh and m.wazuh != check.check_id:
            wrong.append(f"{m.cis}: table says Wazuh check {m.wazuh}, the policy maps {check.check_id}")
        rules = [oscap.rules.get(r, RuleResult(r, "notselected")) for r in m.ssg]
        verdict = ssg_verdict(rules, m.combine)
        if verdict == "notselected":
            not_selected.append(m.cis)
            continue
        seen.add(m.cis)
        pairs.append(Pair(m, check, rules, verdict))
    return Join(pairs, unmatched, not_selected, wrong)
