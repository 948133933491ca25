"""Scope guard: targets outside the authorised ranges or inside exclusions are refused before nmap
starts; an override is recorded in the run. Only 127.0.3.0/24 is ever scanned here."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.discover.profiles import Profile, ScanSettings, build_arguments
from secops.discover.scope import ScopeFile, check_scope, load_scope, locate_scope_file, parse_target, plan_chunks
from secops.discover.tables import DiscoveryScanRow
from secops.errors import SecopsError
from secops.store.db import Database
from secops.store.tables import RunRow
from tests.discover_helpers import AGENCY, path_with, recording_nmap, seed_inventory, write_scope

SCOPE = ScopeFile.model_validate({"agencies": {"DISC": {
    "authorised": [{"cidr": "127.0.3.0/24"}],
    "exclude": [{"cidr": "127.0.3.128/25", "reason": "lab switches"}, {"cidr": "127.0.3.9/32", "reason": "PLC"}]}},
    "limits": {"max_addresses": 256}})


@pytest.mark.parametrize("text", ["-oN", "127.0.3.1 -oN /tmp/x", "scanme.nmap.org", "127.0.3.1;id", "::1",
                                  "127.0.3.300", "127.0.3.9-2", "--script=x", "$(id)"])
def test_only_addresses_cidrs_and_ranges_are_targets(text: str) -> None:
    with pytest.raises(SecopsError, match="target"):
        parse_target(text)


def test_target_forms() -> None:
    assert parse_target("127.0.3.1") == [ipaddress.IPv4Network("127.0.3.1/32")]
    assert parse_target("127.0.3.1-3") == [ipaddress.IPv4Network("127.0.3.1/32"), ipaddress.IPv4Network("127.0.3.2/31")]
    assert parse_target("127.0.3.0-127.0.3.7") == [ipaddress.IPv4Network("127.0.3.0/29")]
    assert parse_target("127.0.3.5/30") == [ipaddress.IPv4Network("127.0.3.4/30")]


def test_guard_allows_in_scope_and_trims_exclusions() -> None:
    plan = check_scope(SCOPE, Path("scope.yaml"), "DISC", ["127.0.3.0/28"])
    assert plan.networks == ["127.0.3.0/29", "127.0.3.8/32", "127.0.3.10/31", "127.0.3.12/30"]
    assert plan.addresses == 15 and plan.trimmed == ["127.0.3.9/32 (PLC) removed from 127.0.3.0/28"]
    assert plan.override_reason is None
    # No --targets: everything the agency authorises, minus exclusions.
    everything = check_scope(SCOPE, Path("scope.yaml"), "DISC", [])
    assert everything.addresses == 127


@pytest.mark.parametrize("targets, message", [
    (["127.0.4.1"], r"target 127\.0\.4\.1 is outside the ranges authorised for DISC in scope\.yaml "
                    r"\(authorised: 127\.0\.3\.0/24; not covered: 127\.0\.4\.1/32\); nothing was scanned"),
    (["127.0.3.250-127.0.4.2"], r"target 127\.0\.3\.250-127\.0\.4\.2 is outside .* not covered: 127\.0\.4\.0/31"),
    (["127.0.3.9"], r"target 127\.0\.3\.9 is inside the exclusion 127\.0\.3\.9/32 of DISC in scope\.yaml \(PLC\)"),
    (["127.0.3.200/29"], r"inside the exclusion 127\.0\.3\.128/25 of DISC .*\(lab switches\)"),
])
def test_guard_refuses_with_target_and_rule(targets: list[str], message: str) -> None:
    with pytest.raises(SecopsError, match=message):
        check_scope(SCOPE, Path("scope.yaml"), "DISC", targets)


def test_refusal_lists_every_uncovered_block() -> None:
    """It used to name only the first block: fixing the scope took one refusal per block."""
    with pytest.raises(SecopsError) as refused:
        check_scope(SCOPE, Path("scope.yaml"), "DISC", ["127.0.3.250-127.0.4.2", "127.0.3.1", "127.0.9.0/30"])
    message = str(refused.value)
    assert "not covered: 127.0.4.0/31, 127.0.4.2/32" in message
    assert "target 127.0.9.0/30 is outside" in message and "not covered: 127.0.9.0/30" in message
    assert "127.0.3.1 is outside" not in message


def test_unknown_agency_and_size_limit() -> None:
    with pytest.raises(SecopsError, match=r"agency 'OTHER' has no authorised ranges \(known: DISC\)"):
        check_scope(SCOPE, Path("scope.yaml"), "OTHER", ["127.0.3.1"])
    big = ScopeFile.model_validate({"agencies": {"DISC": {"authorised": [{"cidr": "127.0.0.0/8"}]}},
                                    "limits": {"max_addresses": 1024}})
    with pytest.raises(SecopsError, match=r"2048 addresses requested for DISC, more than limits\.max_addresses \(1024\)"):
        check_scope(big, Path("scope.yaml"), "DISC", ["127.0.8.0/22", "127.0.16.0/22"])


def test_override_needs_a_reason_and_is_noted_exclusions_still_hold() -> None:
    with pytest.raises(SecopsError, match="needs a real reason"):
        check_scope(SCOPE, Path("scope.yaml"), "DISC", ["127.0.4.1"], override_reason="x")
    plan = check_scope(SCOPE, Path("scope.yaml"), "DISC", ["127.0.4.1"], override_reason="incident 42, approved by CISO")
    assert plan.outside_scope == ["127.0.4.1/32"]
    assert any("SCOPE OVERRIDE" in n and "incident 42" in n for n in plan.notes())
    with pytest.raises(SecopsError, match="inside the exclusion"):
        check_scope(SCOPE, Path("scope.yaml"), "DISC", ["127.0.3.9"], override_reason="incident 42, approved")


def test_chunks_split_large_ranges_and_group_small_ones() -> None:
    assert plan_chunks(["127.0.2.0/23"], 24) == [["127.0.2.0/24"], ["127.0.3.0/24"]]
    assert plan_chunks(["127.0.3.0/29", "127.0.3.8/32", "127.0.3.10/31"], 29) == [["127.0.3.0/29"],
                                                                               ["127.0.3.8/32", "127.0.3.10/31"]]


def test_profiles_map_to_documented_arguments() -> None:
    settings = ScanSettings(timing=4, max_rate=100, host_timeout="5m")
    quick, _ = build_arguments("quick", Profile(host_discovery_only=True), settings)
    assert quick == ["-T4", "-n", "--max-rate", "100", "--host-timeout", "5m", "-sn"]
    services = Profile(top_ports=1000, service_detection=True, version_intensity=7, os_detection=True)
    as_root, notes = build_arguments("services", services, ScanSettings(host_timeout=None), root=True)
    assert as_root == ["-T3", "-n", "--top-ports", "1000", "-sV", "--version-intensity", "7", "-O", "--osscan-limit"]
    as_user, notes = build_arguments("services", services, ScanSettings(host_timeout=None), ports="22,80", root=False)
    assert as_user == ["-T3", "-n", "-p", "22,80", "-sV", "--version-intensity", "7"] and "needs root" in notes[0]
    with pytest.raises(SecopsError, match="nmap port syntax"):
        build_arguments("standard", Profile(top_ports=10), settings, ports="22 -oN /tmp/x")
    # Reverse DNS is opt-in: its PTR queries would leave the authorised scope.
    resolving, _ = build_arguments("quick", Profile(host_discovery_only=True), ScanSettings(reverse_dns=True))
    assert "-n" not in resolving


def test_scope_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECOPS_SCOPE", str(tmp_path / "env.yaml"))
    assert locate_scope_file(tmp_path / "cli.yaml") == tmp_path / "cli.yaml"
    assert locate_scope_file(None) == tmp_path / "env.yaml"
    monkeypatch.delenv("SECOPS_SCOPE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    with pytest.raises(SecopsError, match="no scope file: pass --scope FILE or set SECOPS_SCOPE"):
        locate_scope_file(None)


def test_bad_scope_file_names_file_and_key(tmp_path: Path, cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "scope.yaml"
    bad.write_text("agencies:\n  DISC:\n    authorised:\n      - cidr: 127.0.3.0/33\n", encoding="utf-8")
    result = cli("discover", "--agency", "DISC", "--scope", str(bad), "--targets", "127.0.3.1", db=db_path)
    assert result.returncode == 2
    assert f"{bad}: agencies.DISC.authorised.0.cidr" in result.stderr and "not an IP network" in result.stderr


def test_out_of_scope_target_never_starts_nmap(tmp_path: Path, cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [])
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"], [{"cidr": "127.0.3.2/32", "reason": "router"}])
    bin_dir, calls = recording_nmap(tmp_path / "bin")
    env = {"PATH": path_with(bin_dir)}
    for target, rule in [("127.0.3.8", "outside the ranges authorised"), ("127.0.3.2", "inside the exclusion"),
                         ("127.0.3.1,-oN/tmp/x", "not an IPv4 address")]:
        result = cli("discover", "--agency", AGENCY, "--scope", str(scope), "--targets", target, env=env, db=db_path)
        assert result.returncode == 2, result.stderr
        assert rule in result.stderr
        assert not calls.exists(), "nmap was started for a refused target"
    with db.session() as session:  # each refusal is recorded as a failed run, with the reason
        runs = session.scalars(select(RunRow).where(RunRow.kind == "discover").order_by(RunRow.id)).all()
        assert [r.status for r in runs] == ["failed"] * 3
        assert "outside the ranges authorised" in runs[0].errors[0]
        assert session.scalar(select(DiscoveryScanRow.id)) is None
    # Control: the same wrapper does record an in-scope scan, so the absence above means something.
    ok = cli("discover", "--agency", AGENCY, "--scope", str(scope), "--targets", "127.0.3.1", "--profile", "quick",
             env=env, db=db_path)
    assert ok.returncode == 0, ok.stderr
    assert "127.0.3.1/32" in calls.read_text()
    assert " -n " in f" {calls.read_text()} ", "every real scan runs without reverse DNS (no packet leaves loopback)"
    db.dispose()


def test_override_is_recorded_in_the_run(tmp_path: Path, cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [])
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
    result = cli("discover", "--agency", AGENCY, "--scope", str(scope), "--targets", "127.0.3.5", "--profile", "quick",
                 "--override-scope", "incident 42: approved by the CISO", "--json", db=db_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["summary"]["scope_override"] == {"reason": "incident 42: approved by the CISO",
                                                    "outside_scope": ["127.0.3.5/32"]}
    with db.session() as session:
        run = session.get(RunRow, payload["run"])
        assert run is not None and run.status == "ok"
        assert any("SCOPE OVERRIDE" in e and "incident 42" in e and "127.0.3.5/32" in e for e in run.errors)
        scan = session.scalar(select(DiscoveryScanRow).where(DiscoveryScanRow.run_id == run.id))
        assert scan is not None and scan.override_reason == "incident 42: approved by the CISO"
    db.dispose()


def test_missing_nmap_is_one_clear_error(tmp_path: Path, cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [])
    db.dispose()
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
    result = cli("discover", "--agency", AGENCY, "--scope", str(scope), "--targets", "127.0.3.1",
                 env={"SECOPS_NMAP": str(tmp_path / "no-such-nmap")}, db=db_path)
    assert result.returncode == 2
    assert "nmap was not found" in result.stderr and "apt-get install nmap" in result.stderr


def test_authorised_range_with_host_bits_is_refused(tmp_path: Path) -> None:
    # "127.0.3.9/8" would silently authorise all of 127.0.0.0/8: an authorisation must be exact.
    path = write_scope(tmp_path / "scope.yaml", ["127.0.3.9/8"])
    with pytest.raises(SecopsError, match=r"authorised.0.cidr: .*host bits set.*127.0.0.0/8"):
        load_scope(path)


def test_file_wide_exclusions_hold_for_every_agency_and_overrides() -> None:
    scope = ScopeFile.model_validate({
        "exclude": [{"cidr": "127.0.3.250/32", "reason": "hospital device"}],
        "agencies": {"DISC": {"authorised": [{"cidr": "127.0.3.0/24"}]}}})
    plan = check_scope(scope, Path("scope.yaml"), "DISC", ["127.0.3.248/30"])
    assert "127.0.3.250/32" not in plan.networks and plan.addresses == 3
    with pytest.raises(SecopsError, match="inside the exclusion 127.0.3.250/32"):
        check_scope(scope, Path("scope.yaml"), "OTHER", ["127.0.3.250"], override_reason="incident 7, approved")


def test_province_wide_run_shares_one_address_budget(tmp_path: Path, db_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from secops.cliutil import AppState
    from secops.config import Settings
    from secops.discover.stage import run_stage
    from secops.runs import start_run
    from secops.stages import StageOptions

    seed_inventory(Database(f"sqlite:///{db_path}"), [])
    scope = tmp_path / "scope.yaml"
    scope.write_text(json.dumps({"version": 1, "limits": {"max_addresses": 6}, "agencies": {
        AGENCY: {"authorised": [{"cidr": "127.0.3.0/30"}]}, "DISC-SO": {"authorised": [{"cidr": "127.0.3.4/30"}]}}}))
    bin_dir, calls = recording_nmap(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(bin_dir))
    state = AppState(Settings(db=str(db_path)))
    run_id = start_run(state.db(), "discover")
    result = run_stage(state, run_id, StageOptions(extra={"scope_file": str(scope), "profile": "quick"}))
    assert result.status == "partial"  # 4 + 4 addresses > 6: the second agency is not scanned
    assert any("DISC-SO: skipped" in e and "max_addresses" in e for e in result.errors)
    assert "127.0.3.0/30" in calls.read_text() and "127.0.3.4/30" not in calls.read_text()


def test_example_scope_file_is_valid_and_loopback_only() -> None:
    path = Path(__file__).resolve().parent.parent / "examples" / "scope.yaml"
    scope = load_scope(path)
    assert all(ipaddress.ip_network(a.cidr).is_loopback for s in scope.agencies.values() for a in s.authorised)
    with pytest.raises(SecopsError, match="inside the exclusion 127.0.0.53/32"):
        check_scope(scope, path, "SAMPLE", ["127.0.0.53"])


def test_an_exclusion_equal_to_one_authorised_range_removes_only_that_range() -> None:
    """No targets: the agency's other authorised range is still scanned; the plan says what was excluded.
    (An exclusion equal to one range refused the whole agency: "nothing was scanned".)"""
    scope = ScopeFile.model_validate({"version": 1, "agencies": {"X": {
        "authorised": [{"cidr": "127.0.5.0/29"}, {"cidr": "127.0.6.0/29"}],
        "exclude": [{"cidr": "127.0.6.0/29", "reason": "SCADA"}]}}})
    plan = check_scope(scope, Path("scope.yaml"), "X", [])
    assert plan.networks == ["127.0.5.0/29"]
    assert plan.notes() == ["exclusion applied: 127.0.6.0/29 (SCADA) removed all of 127.0.6.0/29"]
    with pytest.raises(SecopsError, match=r"inside the exclusion 127\.0\.6\.0/29 .*nothing was scanned"):
        check_scope(scope, Path("scope.yaml"), "X", ["127.0.6.0/29"])
