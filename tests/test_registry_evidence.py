"""Registry evidence judged offline (no host): FILETIME parsing, ages, installed-programs lists."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from secops.collect.registry_evidence import filetime, judge, load_registry_evidence
from secops.evaluate.facts import MISSING, OK, Facts, Item, Request

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)
KEY = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows Defender\Signature Updates"


def _ft(when: dt.datetime) -> bytes:
    ticks = int((when - dt.datetime(1601, 1, 1, tzinfo=dt.UTC)).total_seconds() * 10_000_000)
    return ticks.to_bytes(8, "little")


def test_filetime_from_smb_hex_and_powershell_bytes() -> None:
    raw = _ft(NOW)
    assert filetime([raw.hex()]) == NOW
    assert filetime([str(b) for b in raw]) == NOW  # PowerShell prints a byte[] one byte per line
    assert filetime(["00" * 8]) is None and filetime(["zz"]) is None and filetime([]) is None


def test_signature_age_pass_fail_and_missing_key() -> None:
    spec = load_registry_evidence(ROOT / "policies")
    entry = next(e for e in spec.evidence if e.id == "reg-defender-signatures")
    fresh = Facts(items={Request("registry", KEY): Item(OK, (
        f"AVSignatureVersion\t1.2.3.4\nSignaturesLastUpdated\t{_ft(NOW - dt.timedelta(days=2)).hex()}").encode())})
    result = judge(entry, fresh, 7, NOW, spec)
    assert result.result == "passed" and "AVSignatureVersion = 1.2.3.4" in result.reason
    assert "2.0 days old, allowed 7" in result.reason and result.aspect == "signatures"
    assert judge(entry, fresh, 1, NOW, spec).result == "failed"
    missing = Facts(items={Request("registry", KEY): Item(MISSING)})
    assert judge(entry, missing, 7, NOW, spec).result == "not_applicable"
    no_date = Facts(items={Request("registry", KEY): Item(OK, b"AVSignatureVersion\t1.2.3.4")})
    assert judge(entry, no_date, 7, NOW, spec).result == "not_applicable"


def test_uninstall_lists_missing_means_unknown_not_absent() -> None:
    spec = load_registry_evidence(ROOT / "policies")
    entry = next(e for e in spec.evidence if e.id == "reg-eset-program")
    nothing = Facts(items={Request("registry_subkeys", k): Item(MISSING) for k in spec.uninstall_keys})
    assert judge(entry, nothing, 7, NOW, spec).result == "not_applicable"
    listed = Facts(items={Request("registry_subkeys", spec.uninstall_keys[0]):
                          Item(OK, b"{X}\tESET Endpoint Security\t11.1\tESET\n{Y}\t7-Zip 24.08\t24.08\tIgor Pavlov")})
    result = judge(entry, listed, 7, NOW, spec)
    assert result.result == "passed" and result.reason == "ESET Endpoint Security 11.1 (ESET)"
    other = next(e for e in spec.evidence if e.id == "reg-bkav-program")
    assert judge(other, listed, 7, NOW, spec).result == "failed"


def test_defender_realtime_check_reads_absent_value_as_on() -> None:
    from secops.evaluate.engine import evaluate_offline
    from secops.evaluate.sca_load import load_policy

    pack = load_policy(ROOT / "checks" / "endpoint_protection_windows.yml")
    rtp = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows Defender\Real-Time Protection"

    def result(data: bytes | None) -> str:
        item = Item(MISSING) if data is None else Item(OK, data)
        facts = Facts(items={Request("registry", rtp): item})
        checks = {c.check_id: c.result for c in evaluate_offline(pack, facts, "windows").checks}
        return checks["9601"]

    assert result(b"DisableRealtimeMonitoring\t0") == "passed"
    assert result(b"DisableScanOnRealtimeEnable\t0") == "passed"  # value absent: monitoring is on
    assert result(b"DisableRealtimeMonitoring\t1") == "failed"
    assert result(None) == "not_applicable"  # no Defender key at all: says nothing


def test_keys_differing_only_in_case_are_read_once() -> None:
    """Registry paths are case-insensitive: two spellings of one key were two reads of the same values."""
    from secops.collect.registry_evidence import RegistryEvidenceFile, requests

    spec = RegistryEvidenceFile.model_validate({"pack": "p", "uninstall_keys": [r"HKLM\A\Uninstall",
                                                                              r"hklm\a\uninstall"], "evidence": [
        {"id": "one", "product": "X", "aspect": "installed", "title": "t", "key": KEY},
        {"id": "two", "product": "X", "aspect": "running", "title": "t", "key": KEY.upper()},
        {"id": "three", "product": "X", "aspect": "installed", "title": "t", "uninstall": "X"}]})
    assert requests(spec) == {Request("registry", KEY), Request("registry_subkeys", r"HKLM\A\Uninstall")}
    facts = Facts(items={Request("registry", KEY): Item(OK, b"AVSignatureVersion\t1.2.3.4")})
    assert all(judge(e, facts, 7, NOW, spec).result != "error" for e in spec.evidence[:2])
