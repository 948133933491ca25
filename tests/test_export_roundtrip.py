"""Export -> import is a round trip for every value, whatever it starts with: the formula mark
(a leading apostrophe) is added to values starting with = + - @ tab CR *and* to values starting
with the apostrophe itself, and import removes exactly one. Before, "'+keep" exported as "'+keep"
and came back as "+keep"."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.inventory.readers import read_csv
from secops.register.export import register_records, write_register
from secops.store.tables import SystemRow
from secops.textsafe import FORMULA_START, neutral_cell, restore_cell

LEVELS = load_levels(Path(__file__).resolve().parent.parent / "policies")
LEADING = ["'", "=", "+", "-", "@", "\t", "\r"]
assert set(FORMULA_START) <= set(LEADING)


def values(lead: str) -> list[str]:
    # (surrounding whitespace of a cell is not kept by the reader: a lone tab is not a value)
    alone = [] if lead.isspace() else [lead]
    return [lead + "keep", lead + lead + "twice", "'" + lead + "marked", *alone, lead + "'", "plain " + lead + "x"]


@pytest.mark.parametrize("lead", LEADING, ids=[repr(c) for c in LEADING])
def test_a_cell_comes_back_as_it_was(tmp_path: Path, lead: str) -> None:
    for value in values(lead):
        assert restore_cell(neutral_cell(value)) == value, repr(value)
        assert not neutral_cell(value).startswith(FORMULA_START), repr(value)  # never a formula
    # through a real CSV file and the inventory reader (which also strips surrounding spaces)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # as the exports write it
    writer.writerow(["code", "name", "kind", "parent"])
    for n, value in enumerate(values(lead)):
        writer.writerow([f"S{n}", neutral_cell(value), "department", "P"])
    path = tmp_path / "agencies.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    assert [row.data["name"] for row in read_csv(path, None)] == values(lead)


PRINTABLE = ["'", "=", "+", "-", "@"]  # tab and CR are control characters: refused in names at import


def _register(tmp_path: Path) -> Path:
    systems = [f"""  - {{code: A{n}, name: {yaml_str(lead + 'Hệ thống ' + str(n))}, owner: S1,
      operator: {yaml_str(lead + lead + 'Trung tâm')}, approval_body: {yaml_str("'" + lead + 'UBND')},
      proposed_level: 2, approval_status: drafting}}
""" for n, lead in enumerate(PRINTABLE)]
    text = ("agencies:\n  - {code: P, name: \"Tỉnh\", kind: province}\n"
            "  - {code: S1, name: \"'=Sở Một\", kind: department, parent: P}\nsystems:\n" + "".join(systems))
    path = tmp_path / "register.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_the_register_exports_and_imports_back_unchanged(db, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    import_files(db, [_register(tmp_path)], LEVELS)
    with db.session() as session:
        before = register_records(session)
        names = {row.code: (row.name, row.operator) for row in session.scalars(select(SystemRow))}
    assert names["A0"] == ("'Hệ thống 0", "''Trung tâm") and names["A1"][0] == "=Hệ thống 1"
    paths = write_register(before, tmp_path / "out", fmt)
    with db.session() as session:
        for row in session.scalars(select(SystemRow)):
            session.delete(row)
    import_files(db, paths, LEVELS)
    with db.session() as session:
        assert register_records(session) == before
        assert {row.code: (row.name, row.operator) for row in session.scalars(select(SystemRow))} == names
