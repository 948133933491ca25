"""The OpenSCAP comparison bench's parsers and join (bench/oscap_join.py, bench/oscap_compare.py).

- On a recorded fixture: tests/fixtures/oscap/arf-tailored.xml is a real `oscap xccdf eval --results-arf`
  of six SSG Debian 12 rules on a Debian 12 container, cut down by trim_arf.py beside it (only removals);
  wazuh-results.json is secops's local audit of the four matching CIS Debian 12 checks on the same host.
- On this host: a tailored profile of three SSG rules run by the real `oscap`, beside secops's local
  audit of the three matching Wazuh checks, joined on their CIS ids. CI installs openscap-scanner and
  the SSG Debian 12 data stream (scripts/install-test-deps.sh); nothing here is skipped.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "bench"))

from oscap_compare import DEFAULT_DATASTREAM, run_oscap, run_secops  # noqa: E402
from oscap_join import (  # noqa: E402
    RuleResult,
    WazuhCheck,
    explain_not_applicable,
    join,
    load_mappings,
    parse_oscap_results,
    profile_selections,
    reference_mappings,
    rule_platforms,
    ssg_cis_references,
    ssg_verdict,
    wazuh_by_cis,
    wazuh_checks,
)

FIXTURES = HERE / "fixtures" / "oscap"
MAP = ROOT / "bench" / "oscap_cis_map.yaml"
CIS_DEBIAN12 = ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "cis_debian12.yml"


def test_arf_parsed_with_oval_evidence() -> None:
    run = parse_oscap_results(FIXTURES / "arf-tailored.xml")
    assert run.profile == "xccdf_secops.bench_profile_fixture"
    assert run.benchmark == "xccdf_org.ssgproject.content_benchmark_DEBIAN-12"
    assert run.start.startswith("2026-12-07T")
    assert {r: x.result for r, x in run.rules.items()} == {
        "accounts_password_pam_minlen": "fail", "set_password_hashing_algorithm_logindefs": "pass",
        "file_groupowner_etc_passwd": "pass", "file_owner_etc_passwd": "pass", "file_permissions_etc_passwd": "pass",
        "sshd_disable_root_login": "notapplicable"}
    assert dict(run.counts()) == {"pass": 4, "fail": 1, "notapplicable": 1}
    rules = run.rules
    # the collected item that decided it, and the files an OVAL test looked at
    assert "value=SHA512" in rules["set_password_hashing_algorithm_logindefs"].evidence
    assert "/etc/pam.d/system-auth: false" in rules["accounts_password_pam_minlen"].evidence
    assert rules["file_permissions_etc_passwd"].evidence == "Testing mode of /etc/passwd: true [no offending item found]"
    assert rules["file_permissions_etc_passwd"].check == "oval:ssg-file_permissions_etc_passwd:def:1"
    assert rules["sshd_disable_root_login"].evidence == ""  # not evaluated: oscap says no more
    explain_not_applicable(run, {"sshd_disable_root_login": ["cpe:/o:debian:debian_linux:12", "system_with_kernel"]})
    assert rules["sshd_disable_root_login"].evidence.endswith("system_with_kernel")


def test_wazuh_results_keyed_by_cis() -> None:
    checks = wazuh_checks(json.loads((FIXTURES / "wazuh-results.json").read_text()))
    by_cis = wazuh_by_cis(checks)
    assert sorted(by_cis) == ["5.1.20", "5.3.3.2.2", "5.4.1.4", "7.1.1"]
    assert (by_cis["7.1.1"].check_id, by_cis["7.1.1"].result) == ("33287", "passed")
    assert by_cis["5.3.3.2.2"].result == "not_applicable"
    assert "/etc/security/pwquality.conf: does not exist" in by_cis["5.3.3.2.2"].evidence


def test_join_on_cis_ids_with_the_table() -> None:
    run = parse_oscap_results(FIXTURES / "arf-tailored.xml")
    checks = wazuh_checks(json.loads((FIXTURES / "wazuh-results.json").read_text()))
    joined = join(checks, run, load_mappings(MAP))
    pairs = {p.mapping.cis: p for p in joined.pairs}
    assert sorted(pairs) == ["5.1.20", "5.3.3.2.2", "5.4.1.4", "7.1.1"]
    assert joined.wrong_check == []
    # 7.1.1: CIS's one recommendation is SSG's three rules (mode, owner, group), all passed
    assert pairs["7.1.1"].agree and pairs["7.1.1"].verdict == "pass" and len(pairs["7.1.1"].ssg) == 3
    # the three disagreements of this fixture, each with both sides' evidence
    assert (pairs["5.4.1.4"].wazuh_verdict, pairs["5.4.1.4"].verdict) == ("fail", "pass")
    assert (pairs["5.3.3.2.2"].wazuh_verdict, pairs["5.3.3.2.2"].verdict) == ("notapplicable", "fail")
    assert (pairs["5.1.20"].wazuh_verdict, pairs["5.1.20"].verdict) == ("fail", "notapplicable")
    assert joined.agreed == 1 and joined.rate() == 0.25
    assert "7.1.5" in joined.unmatched_cis  # no Wazuh result for it in this fixture
    # a control whose SSG rules the profile did not select is not an overlapping control
    shadow = WazuhCheck("33291", "Ensure permissions on /etc/shadow are configured.", "passed", ["7.1.5"])
    joined = join([*checks, shadow], run, load_mappings(MAP))
    assert joined.not_selected == ["7.1.5"] and len(joined.pairs) == 4


def test_ssg_verdict_combines_rules() -> None:
    def rules(*results: str) -> list[RuleResult]:
        return [RuleResult(f"r{i}", r) for i, r in enumerate(results)]

    assert ssg_verdict(rules("pass", "fail"), "all") == "fail"
    assert ssg_verdict(rules("pass", "fail"), "any") == "pass"
    assert ssg_verdict(rules("pass", "notselected"), "all") == "pass"
    assert ssg_verdict(rules("notapplicable", "pass"), "all") == "pass"
    assert ssg_verdict(rules("notapplicable", "notchecked"), "all") == "notapplicable"
    assert ssg_verdict(rules("error", "notapplicable"), "all") == "error"
    assert ssg_verdict(rules("notselected"), "all") == "notselected"
    assert ssg_verdict(rules("fixed"), "all") == "pass"


BENCHMARK = """<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="xccdf_x_benchmark_t">
  <platform idref="cpe:/o:debian:debian_linux:12"/>
  <Profile id="xccdf_org.ssgproject.content_profile_p1">
    <select idref="xccdf_org.ssgproject.content_rule_a" selected="true"/>
    <select idref="xccdf_org.ssgproject.content_rule_b" selected="false"/>
    <select idref="xccdf_org.ssgproject.content_group_g" selected="true"/>
  </Profile>
  <Group id="xccdf_org.ssgproject.content_group_g"><platform idref="#not_bootc_and_not_container"/>
    <Rule id="xccdf_org.ssgproject.content_rule_a"><platform idref="#system_with_kernel"/>
      <reference href="https://www.cisecurity.org/benchmark/debian_linux/">1.1.2.1.1, 1.1.2.1.2</reference>
    </Rule>
    <Rule id="xccdf_org.ssgproject.content_rule_b">
      <reference href="https://www.cisecurity.org/controls/">5.1</reference>
    </Rule>
  </Group>
</Benchmark>"""


def test_datastream_references_profiles_platforms() -> None:
    import xml.etree.ElementTree as ET

    bench = ET.fromstring(BENCHMARK)
    refs, controls_only = ssg_cis_references(bench)
    assert refs == {"a": ["1.1.2.1.1", "1.1.2.1.2"]} and controls_only == 1
    assert [(m.cis, m.ssg, m.source) for m in reference_mappings(refs)] == [
        ("1.1.2.1.1", ["a"], "reference"), ("1.1.2.1.2", ["a"], "reference")]
    assert profile_selections(bench) == {"p1": {"a"}}
    assert rule_platforms(bench) == {
        "a": ["cpe:/o:debian:debian_linux:12", "not_bootc_and_not_container", "system_with_kernel"],
        "b": ["cpe:/o:debian:debian_linux:12", "not_bootc_and_not_container"]}


def test_bad_inputs_named(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text("mappings:\n  - {cis: '1.1', ssg: [a], combine: most}\n")
    with pytest.raises(ValueError, match=r"map.yaml: mapping 1 \(cis 1.1\): combine must be all or any"):
        load_mappings(bad)
    bad.write_text("mappings:\n  - {cis: '1.1'}\n")
    with pytest.raises(ValueError, match="mapping 1: needs cis and ssg"):
        load_mappings(bad)
    notxml = tmp_path / "arf.xml"
    notxml.write_text("<not closed")
    with pytest.raises(ValueError, match="arf.xml: not XML"):
        parse_oscap_results(notxml)
    notxml.write_text("<a/>")
    with pytest.raises(ValueError, match="no XCCDF 1.2 TestResult"):
        parse_oscap_results(notxml)


def test_table_rows_name_the_check_carrying_their_cis_id() -> None:
    """Every row of the hand-made table: the Wazuh check it names carries that CIS id in the real policy."""
    assert CIS_DEBIAN12.exists(), f"{CIS_DEBIAN12}: the real Wazuh policies are test data in ../shared/sca"
    policy = yaml.safe_load(CIS_DEBIAN12.read_text())
    cis_of = {str(c["id"]): [v for entry in c.get("compliance", []) for k, vs in entry.items() if k == "cis"
                             for v in vs] for c in policy["checks"]}
    table = load_mappings(MAP)
    assert len(table) >= 90
    for m in table:
        assert m.cis in cis_of.get(m.wazuh, []), f"{m.cis}: Wazuh check {m.wazuh} does not carry it"
    assert len({m.cis for m in table}) == len(table)


def test_real_oscap_tailored_profile_joined_with_wazuh(tmp_path: Path) -> None:
    """Three SSG rules by the real oscap, three Wazuh checks by secops, on this host, joined on CIS ids."""
    assert shutil.which("oscap"), "oscap missing: scripts/install-test-deps.sh installs openscap-scanner"
    assert DEFAULT_DATASTREAM.is_file(), f"{DEFAULT_DATASTREAM} missing: scripts/install-test-deps.sh installs it"
    # /etc/passwd and /etc/group 0644 or stricter, root the only UID 0: true of any Debian host as installed
    _, run = run_oscap(DEFAULT_DATASTREAM, "", tmp_path,
                       rules=["file_permissions_etc_passwd", "file_permissions_etc_group", "accounts_no_uid_except_zero"])
    assert run.profile == "xccdf_secops.bench_profile_tailored"
    assert run.counts()["pass"] == 3, {r.rule: r.result for r in run.rules.values() if r.result != "notselected"}
    _, checks, counts = run_secops(CIS_DEBIAN12, only={"33287", "33289", "33214"})
    assert len(checks) == 3 and counts["passed"] == 3, [(c.check_id, c.result, c.evidence) for c in checks]
    joined = join(checks, run, load_mappings(MAP))
    assert sorted(p.mapping.cis for p in joined.pairs) == ["5.4.2.1", "7.1.1", "7.1.3"]
    assert joined.agreed == 3 and joined.wrong_check == []
    for pair in joined.pairs:
        evaluated = [r for r in pair.ssg if r.result != "notselected"]
        assert len(evaluated) == 1 and evaluated[0].evidence, pair
