"""`secops inventory reorganise`: merges and splits in one transaction, old agencies retired with their
history, refusals with file:row: reason and nothing written, idempotent re-runs (issue 14)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from secops.cliutil import AppState
from secops.config import Settings
from secops.grade.cli import run_grade
from secops.inventory.importer import import_files, write_models
from secops.inventory.levels import load_levels
from secops.inventory.tables import AgencyLinkRow
from secops.sample.province import generate
from secops.store.tables import AgencyRow, EndpointRow, GradeRow, StaffRow, SystemRow

FIXTURES = Path(__file__).parent / "fixtures" / "reorganise"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
UTC = dt.UTC
BEFORE = dt.datetime(2025, 6, 30, 12, 0, tzinfo=UTC)  # first graded run: the data begins here
AFTER = dt.datetime(2025, 7, 3, 12, 0, tzinfo=UTC)


class Province:
    def __init__(self, tmp_path: Path):
        self.path = tmp_path / "s.db"
        self.state = AppState(Settings(db=str(self.path), output=tmp_path / "out"))
        self.db = self.state.db()
        self.tmp = tmp_path

    def grade(self, as_of: dt.datetime) -> int:
        return run_grade(self.state, as_of)

    def cell(self, run_id: int, agency: str, target: str) -> tuple[int, int]:
        with self.db.session() as s:
            row = s.scalar(select(GradeRow).where(GradeRow.run_id == run_id, GradeRow.agency_code == agency,
                                                  GradeRow.target_id == target))
            assert row is not None, (run_id, agency, target)
            return row.numerator, row.denominator

    def owned(self, agency: str) -> tuple[int, int, int]:
        with self.db.session() as s:
            aid = s.scalar(select(AgencyRow.id).where(AgencyRow.code == agency))
            return tuple(s.scalar(select(func.count()).select_from(t).where(t.agency_id == aid))  # type: ignore[return-value]
                         for t in (SystemRow, EndpointRow, StaffRow))

    def snapshot(self) -> tuple:
        """Everything a reorganisation may change: agencies, owners of every record, links."""
        with self.db.session() as s:
            return (sorted(s.execute(select(AgencyRow.code, AgencyRow.parent_id, AgencyRow.retired_at,
                                            AgencyRow.retired_reason)).all()),
                    *(sorted(s.execute(select(t.code, t.agency_id)).all()) for t in (SystemRow, EndpointRow, StaffRow)),
                    sorted(s.execute(select(AgencyLinkRow.predecessor_id, AgencyLinkRow.successor_id)).all()))

    def active(self) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(AgencyRow.code).where(AgencyRow.retired_at.is_(None))))


@pytest.fixture
def communes(tmp_path: Path) -> Province:
    province = Province(tmp_path)
    import_files(province.db, [FIXTURES / "communes.yaml"], load_levels(POLICIES), today=dt.date(2025, 7, 1))
    province.first = province.grade(BEFORE)  # type: ignore[attr-defined]
    return province


@pytest.mark.parametrize("plan", ["merge_communes.yaml", "merge_communes.csv"])
def test_merge_of_three_communes_hand_worked(communes: Province, cli, plan: str) -> None:
    p = communes
    before = p.first  # type: ignore[attr-defined]
    # Hand-worked from the fixture: T2 protected / endpoints per commune.
    assert [p.cell(before, c, "T2") for c in ("C1", "C2", "C3", "C4", "P")] == [(1, 2), (2, 3), (1, 1), (1, 1), (5, 7)]
    assert p.owned("C1") == (1, 2, 2) and p.owned("C2") == (1, 3, 1) and p.owned("C3") == (0, 1, 1)
    result = cli("inventory", "reorganise", str(FIXTURES / plan), db=p.path)
    assert result.returncode == 0, result.stderr
    assert "CX: 2 systems, 6 endpoints, 4 staff" in result.stdout and "created CX" in result.stdout
    assert p.active() == {"P", "S1", "C4", "CX"}
    assert p.owned("CX") == (2, 6, 4) and p.owned("C1") == (0, 0, 0)
    with p.db.session() as s:
        c1 = s.scalar(select(AgencyRow).where(AgencyRow.code == "C1"))
        assert c1.retired_at == dt.date(2025, 7, 1) and c1.retired_reason.startswith("merged into CX")
        assert s.scalar(select(func.count()).select_from(AgencyLinkRow)) == 3
    after = p.grade(AFTER)
    # E1, E3, E4, E6 protected of E1..E6; the province's own figures do not change.
    assert p.cell(after, "CX", "T2") == (4, 6) and p.cell(after, "P", "T2") == (5, 7)
    assert p.cell(after, "CX", "T1") == (1, 2)
    with p.db.session() as s:  # grades before the date stay as they were recorded
        assert set(s.scalars(select(GradeRow.agency_code).where(GradeRow.run_id == before))) >= {"C1", "C2", "C3"}
        assert not set(s.scalars(select(GradeRow.agency_code).where(GradeRow.run_id == after))) & {"C1", "C2", "C3"}
    assert p.cell(before, "C2", "T2") == (2, 3)
    # Re-running the same file changes nothing.
    snap = p.snapshot()
    again = cli("inventory", "reorganise", str(FIXTURES / plan), db=p.path)
    assert again.returncode == 0 and "already applied: nothing changed" in again.stdout
    assert p.snapshot() == snap


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BAD = {
    "twice": (("version: 1\neffective_date: 2025-07-01\nreorganisations:\n"
              "  - {merge: [C1, C2], into: C4}\n  - {merge: [C2, C3], into: C4}\n"),
              ":5: merge: agency 'C2' is mapped twice (also on row 4)"),
    "retired": ("version: 1\neffective_date: 2025-07-01\nreorganisations:\n  - {merge: [C1], into: C3}\n",
                ":4: into: cannot map into 'C3': it is retired (on 2025-07-01: nhập trùng)"),
    "cycle": (("version: 1\neffective_date: 2025-07-01\nreorganisations:\n"
              "  - {merge: [C1], into: C2}\n  - {merge: [C2], into: C1}\n"), ": into: a cycle: C1 → C2 → C1"),
    "self": ("version: 1\neffective_date: 2025-07-01\nreorganisations:\n  - {merge: [C1, C2], into: C1}\n",
             ":4: into: a cycle: C1 → C1"),
    "early": ("version: 1\neffective_date: 2025-06-01\nreorganisations:\n  - {merge: [C1], into: C4}\n",
              ":4: effective_date: 2025-06-01 is before the data begins (first graded run as of 2025-06-30)"),
    "future": ("version: 1\neffective_date: 2999-01-01\nreorganisations:\n  - {merge: [C1], into: C4}\n",
               ":4: effective_date: 2999-01-01 is in the future"),
    "unknown": ("version: 1\neffective_date: 2025-07-01\nreorganisations:\n  - {merge: [C1], into: NEW}\n",
                ":4: into: agency 'NEW' is not in the inventory; describe it"),
    "kind": (("version: 1\neffective_date: 2025-07-01\nreorganisations:\n"
             "  - {merge: [C1], into: NEW, new: {name: Huyện, kind: district, parent: S1}}\n"),
             ":4: new.parent: a district cannot sit under a department"),
    "split-unassigned": (("version: 1\neffective_date: 2025-07-01\nreorganisations:\n"
                         "  - split: C2\n    parts:\n      - {into: C1, systems: [SY2]}\n"
                         "      - {into: C4, endpoints: [E3]}\n"),
                         ":4: parts: 3 record(s) of 'C2' are not assigned (endpoints E4, endpoints E5, staff K3)"),
    "split-foreign": (("version: 1\neffective_date: 2025-07-01\nreorganisations:\n"
                      "  - split: C2\n    parts:\n      - {into: C1, endpoints: [E7]}\n      - {into: C4, rest: true}\n"),
                      ":4: parts.endpoints: endpoints 'E7' does not belong to 'C2'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_mappings_are_refused_and_nothing_is_written(communes: Province, cli, tmp_path: Path, case: str) -> None:
    p = communes
    if case == "retired":
        assert cli("inventory", "remove", "agencies", "C3", "--reason", "nhập trùng", "--date", "2025-07-01",
                   db=p.path).returncode == 0
    text, message = BAD[case]
    plan = _write(tmp_path, f"{case}.yaml", text)
    snap = p.snapshot()
    result = cli("inventory", "reorganise", str(plan), db=p.path)
    assert result.returncode == 2, result.stdout
    flat = result.stderr.replace("\n", " ")
    assert f"{plan}{message}" in flat or (message.startswith(": ") and str(plan) in flat and message[2:] in flat), flat
    assert "nothing was changed" in flat and "Traceback" not in flat
    assert p.snapshot() == snap


def test_csv_agency_mapped_twice(communes: Province, cli, tmp_path: Path) -> None:
    plan = _write(tmp_path, "twice.csv", "from,into,effective_date\nC1,C4,2025-07-01\nC2,C4,2025-07-01\n"
                                          "C1,S1,2025-07-01\n")
    result = cli("inventory", "reorganise", str(plan), db=communes.path)
    assert result.returncode == 2
    assert f"{plan}:4: from: agency 'C1' is mapped twice (also on row 2)" in result.stderr.replace("\n", "")


def test_split_by_lists_and_rest(communes: Province, cli, tmp_path: Path) -> None:
    p = communes
    plan = _write(tmp_path, "split.yaml", """\
version: 1
effective_date: 2025-07-01
reorganisations:
  - split: C2
    parts:
      - {into: C2A, new: {name: "Xã Hai A", kind: commune, parent: P}, systems: [SY2], endpoints: [E3]}
      - {into: C2B, new: {name: "Phường Hai B", kind: ward, parent: P}, rest: true}
""")
    result = cli("inventory", "reorganise", str(plan), db=p.path)
    assert result.returncode == 0, result.stderr
    assert p.owned("C2A") == (1, 1, 0) and p.owned("C2B") == (0, 2, 1)
    assert "C2" not in p.active()
    after = p.grade(AFTER)
    assert p.cell(after, "C2A", "T2") == (1, 1) and p.cell(after, "C2B", "T2") == (1, 2)
    snap = p.snapshot()
    assert "nothing changed" in cli("inventory", "reorganise", str(plan), db=p.path).stdout
    assert p.snapshot() == snap


def _dump(sample) -> dict:
    return {entity: [m.model_dump(mode="json", exclude_none=True) for m in rows]
            for entity, rows in sample.as_rows().items()}


def test_merge_of_two_generated_provinces(tmp_path: Path, cli) -> None:
    """Thái Nguyên absorbs Bắc Kạn: two provinces from the sample generator (two seeds), merged on 1 July 2025."""
    as_of = dt.datetime(2025, 6, 20, 12, 0, tzinfo=UTC)
    tn, bk = generate(as_of, endpoints=150, seed=1, prefix="TN-"), generate(as_of, endpoints=120, seed=2, prefix="BK-")
    p = Province(tmp_path)
    with p.db.session() as s:
        write_models(s, tn.as_rows())  # type: ignore[arg-type]
    first = p.grade(as_of)
    assert p.cell(first, "TN-SAMPLE", "T2")[1] == 150
    (tmp_path / "bac-kan.yaml").write_text(yaml.safe_dump(_dump(bk), allow_unicode=True), encoding="utf-8")
    # Importing Bắc Kạn on its own is refused: one database holds one province.
    refused = cli("inventory", "import", str(tmp_path / "bac-kan.yaml"), db=p.path)
    assert refused.returncode == 2 and "a second top-level agency" in refused.stderr
    plan = _write(tmp_path, "merge.yaml", """\
version: 1
effective_date: 2025-07-01
inventories: [bac-kan.yaml]
reorganisations:
  - {merge: [BK-SAMPLE], into: TN-SAMPLE}
  - {merge: [BK-SYT], into: TN-SYT}
  - merge: [TN-X01, TN-X02, BK-X01]
    into: TN-XM01
    new: {name: "Xã Hợp Nhất", kind: commune, parent: TN-SAMPLE}
""")
    # Hand-worked from the two generated inventories.
    def count(sample, entity: str, owners: set[str]) -> int:
        field = "agency" if entity == "staff" else "owner"
        return sum(1 for r in getattr(sample, entity) if getattr(r, field) in owners)

    syt = tuple(count(tn, e, {"TN-SYT"}) + count(bk, e, {"BK-SYT"}) for e in ("systems", "endpoints", "staff"))
    merged = tuple(count(tn, e, {"TN-X01", "TN-X02"}) + count(bk, e, {"BK-X01"})
                   for e in ("systems", "endpoints", "staff"))
    bk_root = tuple(count(bk, e, {"BK-SAMPLE"}) + count(tn, e, {"TN-SAMPLE"}) for e in ("systems", "endpoints", "staff"))
    result = cli("inventory", "reorganise", str(plan), db=p.path)
    assert result.returncode == 0, result.stderr
    assert len(p.active()) == 108 + 108 - 1 - 1 - 3 + 1
    assert p.owned("TN-SYT") == syt and p.owned("TN-XM01") == merged and p.owned("TN-SAMPLE") == bk_root
    with p.db.session() as s:  # Bắc Kạn's departments and communes now sit directly under the merged province
        tn_id = s.scalar(select(AgencyRow.id).where(AgencyRow.code == "TN-SAMPLE"))
        bk_units = s.scalars(select(AgencyRow).where(AgencyRow.code.like("BK-%"), AgencyRow.retired_at.is_(None))).all()
        assert len(bk_units) == 108 - 3 and all(u.parent_id == tn_id for u in bk_units)
    after = p.grade(dt.datetime(2025, 7, 3, 12, 0, tzinfo=UTC))
    assert p.cell(after, "TN-SAMPLE", "T2")[1] == 150 + 120
    assert p.cell(after, "TN-SAMPLE", "T4")[1] == len(tn.staff) + len(bk.staff)
    assert p.cell(first, "TN-SAMPLE", "T2")[1] == 150  # recorded history unchanged
    snap = p.snapshot()
    again = cli("inventory", "reorganise", str(plan), db=p.path)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert p.snapshot() == snap


def test_dashboard_and_trends_on_both_sides_of_the_date(communes: Province, cli, tmp_path: Path) -> None:
    import json

    p = communes
    first = p.first  # type: ignore[attr-defined]
    second = p.grade(BEFORE + dt.timedelta(hours=6))
    assert cli("inventory", "reorganise", str(FIXTURES / "merge_communes.yaml"), db=p.path).returncode == 0
    after = p.grade(AFTER)
    # Before the date: the dashboard of a run graded then shows the former communes as recorded.
    old = tmp_path / "old"
    assert cli("report", "--run", str(first), "--out", str(old), db=p.path).returncode == 0
    old_data = json.loads((old / "dashboard.json").read_text(encoding="utf-8"))
    old_cells = {a["code"]: a["cells"] for a in old_data["agencies"]}
    assert old_cells["C2"]["T2"]["numerator"] == 2 and old_cells["C2"]["T2"]["denominator"] == 3
    assert "CX" not in old_cells  # formed later: it had no grades then
    # After: the new commune, with its predecessors named, in both languages.
    new = tmp_path / "new"
    assert cli("report", "--run", str(after), "--out", str(new), db=p.path).returncode == 0
    data = json.loads((new / "dashboard.json").read_text(encoding="utf-8"))
    codes = [a["code"] for a in data["agencies"]]
    assert "CX" in codes and not {"C1", "C2", "C3"} & set(codes)
    assert [x["code"] for x in data["predecessors"]["CX"]] == ["C1", "C2", "C3"]
    html = (new / "dashboard.html").read_text(encoding="utf-8")
    assert "hình thành từ Xã Một <span class=\"mono\">(C1)</span>" in html
    # Trends of the new commune: before the date, the sum of its predecessors, marked as such.
    trend = tmp_path / "trend"
    result = cli("report", "--agency", "CX", "--run", str(after), "--out", str(trend), "--lang", "en", db=p.path)
    assert result.returncode == 0, result.stderr
    section = json.loads((trend / "dashboard.json").read_text(encoding="utf-8"))["sections"]["trends"]
    assert [r["id"] for r in section["runs"]] == [first, second, after]
    t2 = next(t for t in section["targets"] if t["id"] == "T2")["points"]
    assert [(pt["numerator"], pt["denominator"], pt.get("predecessors", False)) for pt in t2] == [
        (4, 6, True), (4, 6, True), (4, 6, False)]  # (1+2+1)/(2+3+1) before; E1, E3, E4, E6 of six after
    trend_html = (trend / "dashboard.html").read_text(encoding="utf-8")
    assert "Before 2025-07-01: sum of the former agencies (Xã Một, Xã Hai, Xã Ba)" in trend_html
    assert 'class="predecessor"' in trend_html and "sum of former agencies" in trend_html


def test_old_inventory_file_after_a_merge_names_the_retirement(communes: Province, cli) -> None:
    assert cli("inventory", "reorganise", str(FIXTURES / "merge_communes.yaml"), db=communes.path).returncode == 0
    result = cli("inventory", "import", str(FIXTURES / "communes.yaml"), db=communes.path)
    assert result.returncode == 2
    flat = result.stderr.replace("\n", "")
    assert "communes.yaml:6: parent: agency 'C1' is retired (since 2025-07-01: merged into CX" in flat
    assert "owner: agency 'C1' is retired (since 2025-07-01: merged into CX" in flat


def test_today_is_the_provinces_date_in_the_file_and_in_the_future_check(communes: Province, cli,
                                                                          tmp_path: Path) -> None:
    """Before: `effective_date: today` was the province's date but the future check used UTC's, so the
    README's example was refused as "in the future" from 17:00 to 24:00 UTC (after midnight in Hanoi).
    A province at UTC+14 shows it whenever UTC's hour is 10 or later; in UTC-12, a decision dated
    today in UTC (the province's tomorrow until 12:00 UTC) must be refused as in the future."""
    import shutil

    east, west = tmp_path / "east", tmp_path / "west"
    for folder, zone in ((east, "Etc/GMT-14"), (west, "Etc/GMT+12")):
        shutil.copytree(POLICIES, folder)
        (folder / "locale.yaml").write_text(f"version: 1\ntimezone: {zone}\nclock_skew_minutes: 10\n",
                                            encoding="utf-8")
    plan = _write(tmp_path, "today.yaml", "version: 1\neffective_date: today\nreorganisations:\n"
                                          "  - {merge: [C1], into: C4}\n")
    east_today = dt.datetime.now(dt.timezone(dt.timedelta(hours=14))).date()
    done = cli("--policies", str(east), "inventory", "reorganise", str(plan), db=communes.path)
    assert done.returncode == 0, done.stderr
    with communes.db.session() as s:
        c1 = s.scalar(select(AgencyRow).where(AgencyRow.code == "C1"))
        assert c1 is not None and c1.retired_at in (east_today, east_today + dt.timedelta(days=1))
    utc_today = dt.datetime.now(UTC).date()
    west_today = dt.datetime.now(dt.timezone(dt.timedelta(hours=-12))).date()
    dated = _write(tmp_path, "dated.yaml", f"version: 1\neffective_date: {utc_today.isoformat()}\nreorganisations:\n"
                                           "  - {merge: [C2], into: C4}\n")
    west_run = cli("--policies", str(west), "inventory", "reorganise", str(dated), db=communes.path)
    if west_today < utc_today:
        assert west_run.returncode == 2 and "is in the future" in west_run.stderr, west_run.stderr
    else:
        assert west_run.returncode == 0, west_run.stderr
