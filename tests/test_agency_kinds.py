"""Agency kinds are data (policies/agency_kinds.yaml): two-tier trees import, the dashboard groups by the
kinds present, and a province with another structure says so in its own policies folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from secops.errors import InputRowsError
from secops.inventory.importer import import_files
from secops.inventory.kinds import load_kinds
from secops.inventory.levels import load_levels

POLICIES = Path(__file__).resolve().parent.parent / "policies"
TWO_TIER = """\
agencies:
  - {code: TN, name: "Tỉnh Thái Nguyên", kind: province}
  - {code: SYT, name: "Sở Y tế", kind: department, parent: TN}
  - {code: P-PHANDINHPHUNG, name: "Phường Phan Đình Phùng", kind: ward, parent: TN}
  - {code: X-DAITU, name: "Xã Đại Từ", kind: commune, parent: TN}
  - {code: DK-1, name: "Đặc khu Một", kind: special_zone, parent: TN}
staff:
  - {code: A1, agency: SYT, is_head: true, awareness_date: 2026-01-01}
  - {code: A2, agency: X-DAITU, informed_date: 2026-01-01}
"""


def test_two_tier_tree_imports_with_communes_directly_under_the_province(db, tmp_path):
    path = tmp_path / "two_tier.yaml"
    path.write_text(TWO_TIER, encoding="utf-8")
    result = import_files(db, [path], load_levels(POLICIES))
    assert result.tallies["agencies"].inserted == 5


def test_unknown_kind_and_wrong_parent_are_refused_with_row_and_reason(db, tmp_path):
    bad = tmp_path / "bad_kinds.yaml"
    bad.write_text('agencies:\n  - {code: TN, name: "Tỉnh", kind: province}\n'
                   '  - {code: T1, name: "Tổ", kind: hamlet, parent: TN}\n'
                   '  - {code: D1, name: "Đặc khu", kind: special_zone, parent: TN}\n'
                   '  - {code: W1, name: "Phường", kind: ward, parent: D1}\n', encoding="utf-8")
    with pytest.raises(InputRowsError) as caught:
        import_files(db, [bad], load_levels(POLICIES))
    lines = [str(e) for e in caught.value.errors]
    assert lines[0].startswith(f"{bad}:3: parent: kind 'hamlet' is not in policies/agency_kinds.yaml")
    assert lines[1] == f"{bad}:5: parent: a ward cannot sit under a special_zone (D1)"


def test_a_site_adds_its_own_kind(db, tmp_path, cli, db_path):
    site = tmp_path / "policies"
    site.mkdir()
    text = (POLICIES / "agency_kinds.yaml").read_text(encoding="utf-8")
    site.joinpath("agency_kinds.yaml").write_text(
        text + '  hamlet:\n    label: {vi: "Thôn, tổ dân phố", en: "Hamlet"}\n'
               '    group: {vi: "Thôn, tổ dân phố", en: "Hamlets"}\n    parents: [commune]\n    order: 6\n',
        encoding="utf-8")
    for name in ("levels.yaml", "targets.yaml"):
        shutil.copy(POLICIES / name, site / name)
    assert "hamlet" in load_kinds(site).kinds
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(TWO_TIER.replace("staff:\n", '  - {code: T1, name: "Thôn Một", kind: hamlet, parent: X-DAITU}\n'
                                          'staff:\n') + "  - {code: A3, agency: T1, training_date: 2026-01-01}\n",
                         encoding="utf-8")
    env = {"SECOPS_POLICIES": str(site)}
    refused = cli("inventory", "import", str(inventory), db=db_path)
    assert refused.returncode == 2 and "kind 'hamlet' is not in policies/agency_kinds.yaml" in refused.stderr
    result = cli("inventory", "import", str(inventory), db=db_path, env=env)
    assert result.returncode == 0, result.stderr
    assert cli("grade", db=db_path, env=env).returncode == 0
    out = tmp_path / "out"
    assert cli("report", "--out", str(out), "--lang", "en", db=db_path, env=env).returncode == 0
    data = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))
    assert [g["kind"] for g in data["kind_groups"]] == ["province", "department", "commune", "ward",
                                                        "special_zone", "hamlet"]
    assert data["kind_labels"]["hamlet"] == "Hamlet"
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert 'id="group-hamlet"' in html and "Hamlets (1)" in html
    assert 'id="group-district"' not in html  # only the kinds present
