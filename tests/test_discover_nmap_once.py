"""`nmap -V` runs once per discovery run (python-nmap's check), not once per chunk as well."""

from __future__ import annotations

import json

import pytest

from tests.discover_helpers import path_with, recording_nmap
from tests.test_discover_integration import discover, lab  # noqa: F401  (the lab fixture)

pytestmark = pytest.mark.timeout(240)


def test_nmap_version_checked_once_per_run(cli, lab) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    bin_dir, calls = recording_nmap(lab["tmp"] / "bin")
    result = discover(cli, lab, "--targets", "127.0.3.1-4", "--ports", str(lab["web"]), "--chunk-prefix", "32",
                      "--parallel", "2", env={"PATH": path_with(bin_dir)})
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["summary"]["chunks_ok"] == 4
    lines = calls.read_text().splitlines()
    assert sum(1 for line in lines if "-oX" in line) == 4  # every chunk scanned
    assert lines.count("-V") == 1, lines
