"""Policies are data validated at load, with errors naming the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from secops.errors import SecopsError
from secops.inventory.levels import load_levels
from secops.targets import load_targets

POLICIES = Path(__file__).resolve().parent.parent / "policies"


def test_shipped_policies_hold_the_province_targets():
    policy = load_targets(POLICIES)
    wanted = {"T1": (">=", "0.70"), "T2": (">=", "0.90"), "T3": (">=", "1.00"), "T4": (">", "0.90"),
              "T5": (">=", "0.80")}
    assert {t.id: (t.comparison, str(t.threshold)) for t in policy.targets} == wanted
    assert policy.get("T2").evidence_max_age_days == 7
    assert all(t.title.vi and t.title.en for t in policy.targets)
    assert load_levels(POLICIES).approver(3).value == "province"


@pytest.mark.parametrize("old,new,message", [
    ('threshold: "0.70"', 'threshold: "1.7"', "targets.0.threshold: Input should be less than or equal to 1"),
    ('comparison: ">"', 'comparison: "=>"', "targets.3.comparison: Input should be '>=' or '>'"),
    ("approval_status: approved", "status: approved", "unknown field 'status' for systems"),
    ("entity: staff\n    denominator:\n      is_head", "entity: people\n    denominator:\n      is_head",
     "targets.2.entity"),
])
def test_bad_policy_names_file_and_key(tmp_path, old, new, message):
    shutil.copytree(POLICIES, tmp_path / "p")
    path = tmp_path / "p" / "targets.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SecopsError) as caught:
        load_targets(tmp_path / "p")
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_no_threshold_in_python_code():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (POLICIES.parent / "secops").rglob("*.py"))
    for literal in ("0.70", "0.90", "0.80"):
        assert literal not in source


def test_targets_and_kinds_parsed_once_until_the_file_changes(tmp_path, monkeypatch) -> None:
    """load_targets / load_kinds (read on every dashboard the console builds) parse an unchanged
    file once; each caller gets its own copy; an edited file is read again at once."""
    import shutil

    import secops.policyfile as policyfile
    from secops.config import bundled
    from secops.inventory.kinds import load_kinds
    from secops.targets import load_targets

    policies = tmp_path / "policies"
    shutil.copytree(bundled("policies"), policies)
    parsed: list[str] = []
    real = policyfile.read_yaml

    def counted(path):
        parsed.append(path.name)
        return real(path)

    monkeypatch.setattr(policyfile, "read_yaml", counted)
    first = load_targets(policies)
    second = load_targets(policies)
    load_kinds(policies)
    load_kinds(policies)
    assert parsed == ["targets.yaml", "agency_kinds.yaml"] and first == second and first is not second
    second.targets.clear()  # a caller's change stays its own
    assert load_targets(policies) == first
    text = (policies / "targets.yaml").read_text(encoding="utf-8")
    (policies / "targets.yaml").write_text(text.replace('threshold: "0.70"', 'threshold: "0.75"', 1), encoding="utf-8")
    edited = load_targets(policies)
    assert parsed[-1] == "targets.yaml" and len(parsed) == 3 and edited != first
