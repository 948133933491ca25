"""Control characters never reach the terminal: refused in names and codes at import (with the
file, row and field), shown as \\xNN (and bidi marks as ⟦U+202E⟧) when a stored value has them,
by `grade` and `inventory show` as by the dashboard; a NUL anywhere in a CSV is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from secops.store.db import Database
from secops.store.tables import AgencyRow, SystemRow

ROOT = Path(__file__).resolve().parent.parent
TITLE = "\x1b]0;pwned\x07"  # sets the terminal window's title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen

CSVS = {
    "agencies.csv": ("code,name,kind,parent\nQT,Tỉnh Quang Trung,province,\nQT-X,{name},department,QT\n", "name"),
    "systems.csv": ("code,name,owner,state\nQT-SYS,{name},QT-STTTT,drafting\n", "name"),
    "staff.csv": ("code,agency,name,is_head\nQT-CB9,QT-STTTT,{name},false\n", "name"),
    "endpoints.csv": ("code,hostname,ips,owner\nQT-PC9,{name},127.0.0.9,QT-STTTT\n", "hostname"),
}


CASES = [(name, TITLE + "Sở A") for name in CSVS] + [
    ("agencies.csv", bad) for bad in ("Sở" + CLEAR, "Sở\x9bA", "Sở\tA", "Sở\nA")]


@pytest.mark.parametrize("name, bad", CASES, ids=[f"{n}-{b.encode('unicode_escape').decode()[:12]}" for n, b in CASES])
def test_control_characters_in_names_are_refused_with_the_row(cli, tmp_path: Path, db_path: Path, name: str,
                                                              bad: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    template, field = CSVS[name]
    quoted = '"' + bad.replace('"', '""') + '"'
    path = tmp_path / name
    path.write_bytes(template.format(name=quoted).encode("utf-8"))
    result = cli("inventory", "import", str(path), db=db_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "\x1b" not in result.stderr + result.stdout, "the refusal printed the escape itself"
    row = (template.count("\n") if name != "agencies.csv" else 3) + bad.count("\n")  # the line the record ends on
    where = f"{path}:{row}"
    assert where in result.stderr.replace("\n", "") and field in result.stderr, result.stderr
    assert "control character" in result.stderr or "NUL" in result.stderr, result.stderr


def test_a_nul_after_the_first_64_kib_is_refused(cli, tmp_path: Path, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    lines = ["code,agency,name,is_head"] + [f"QT-CB{i:05d},QT-STTTT,Cán bộ {i},false" for i in range(3000)]
    lines.append("QT-NUL,QT-STTTT,Cán\x00bộ,false")
    path = tmp_path / "staff.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 64 * 1024
    result = cli("inventory", "import", str(path), db=db_path)
    assert result.returncode == 2 and f"{path}:3002" in result.stderr and "NUL" in result.stderr, result.stderr
    assert "imported" not in result.stdout


@pytest.fixture
def stored_escapes(cli, db_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """An inventory whose names hold escapes (stored by an older release or by hand in the database)."""
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    db = Database(f"sqlite:///{db_path}")
    with db.session() as session:
        session.execute(update(AgencyRow).where(AgencyRow.code == "QT").values(name=TITLE + "Tỉnh\u202eQT" + CLEAR))
        session.execute(update(AgencyRow).where(AgencyRow.code == "QT-STTTT").values(name="Sở" + CLEAR))
        session.execute(update(SystemRow).values(name=TITLE + "Hệ thống"))
    db.dispose()
    return db_path


@pytest.mark.parametrize("args", [("grade",), ("inventory", "show", "--list", "agencies"),
                                  ("inventory", "show", "--list", "systems"), ("inventory", "show")],
                         ids=["grade", "show-agencies", "show-systems", "show-counts"])
def test_stored_control_characters_are_shown_visibly(cli, stored_escapes: Path, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args, db=stored_escapes, env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "\x1b" not in out and "\x07" not in out, repr(out[:2000])
    if args[-1] != "show":
        assert "\\x1b]0;pwned\\x07" in out or "\\x1b[2J" in out, out[:2000]
    if args == ("grade",):
        assert "⟦U+202E⟧" in out, out[:2000]
