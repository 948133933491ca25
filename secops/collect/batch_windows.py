"""The same framed batch for Windows hosts reached through OpenSSH: one PowerShell script.

The script is sent as `powershell -EncodedCommand` (UTF-16LE base64), so no Windows shell ever
parses it; values are embedded as single-quoted PowerShell strings ('' doubles a quote). Output
uses the framing of batch.py (nonce markers, base64), so `batch.parse_output` splits it.
Commands (`c:`) run through `cmd.exe /c` as Wazuh's Windows agent runs them.
"""

from __future__ import annotations

import base64
import secrets

from secops.collect.batch import MAX_DIR_ENTRIES, MAX_OUTPUT, Batch
from secops.evaluate.facts import Request

_PRELUDE = """$ErrorActionPreference = 'SilentlyContinue'
$N = '{nonce}'
function B($i) {{ [Console]::Out.Write("`n$N B $i`n") }}
function E($i, $s) {{ [Console]::Out.Write("`n$N E $i $s`n") }}
function Enc([byte[]]$bytes) {{ if ($bytes) {{ [Console]::Out.Write([Convert]::ToBase64String($bytes)) }} }}
function Txt([string]$text) {{ Enc ([Text.Encoding]::UTF8.GetBytes($text)) }}
[Console]::Out.Write("`n$N H b64`n")
"""


# PowerShell ends a single-quoted string at any of these, not only at the ASCII apostrophe.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal: every quote character is doubled, so none ends it."""
    return "'" + "".join(c + c if c in _PS_QUOTES else c for c in value) + "'"


def _registry_path(key: str) -> str:
    for long, short in (("HKEY_LOCAL_MACHINE", "HKLM:"), ("HKEY_CURRENT_USER", "HKCU:"), ("HKEY_USERS", "Registry::HKEY_USERS"),
                        ("HKEY_CLASSES_ROOT", "Registry::HKEY_CLASSES_ROOT")):
        if key.upper().startswith(long):
            return short + key[len(long):]
    return key


def _one(i: int, req: Request, timeout: int) -> str:
    a = ps_quote(req.arg)
    if req.kind == "file_exists":
        return f"B {i}; if (Test-Path -LiteralPath {a} -PathType Leaf) {{ E {i} 0 }} elseif (Test-Path -LiteralPath {a}) {{ E {i} 3 }} else {{ E {i} 1 }}"
    if req.kind == "file_read":
        return (f"B {i}; if (Test-Path -LiteralPath {a} -PathType Leaf) {{ try {{ $b = [IO.File]::ReadAllBytes({a}); "
                f"if ($b.Length -gt {MAX_OUTPUT}) {{ $b = $b[0..({MAX_OUTPUT}-1)] }}; Enc $b; E {i} 0 }} catch {{ E {i} 2 }} }} "
                f"elseif (Test-Path -LiteralPath {a}) {{ E {i} 3 }} else {{ E {i} 1 }}")
    if req.kind == "dir_exists":
        return f"B {i}; if (Test-Path -LiteralPath {a} -PathType Container) {{ E {i} 0 }} else {{ E {i} 1 }}"
    if req.kind == "dir_list":
        return (f"B {i}; if (Test-Path -LiteralPath {a} -PathType Container) {{ Txt ((Get-ChildItem -LiteralPath {a} "
                f"-Recurse -File -Depth 4 | Select-Object -First {MAX_DIR_ENTRIES} | ForEach-Object FullName) -join \"`n\"); "
                f"E {i} 0 }} else {{ E {i} 1 }}")
    if req.kind == "processes":
        return (f"B {i}; Txt ((Get-Process | ForEach-Object {{ $_.ProcessName + \"`t\" + $_.Path }}) -join \"`n\"); E {i} 0")
    if req.kind == "command":
        return (f"B {i}; $j = Start-Job -ScriptBlock {{ param($c) $o = cmd.exe /c $c 2>$null | Out-String; "
                f"@($o, $LASTEXITCODE) }} -ArgumentList {a}; if (Wait-Job $j -Timeout {timeout}) {{ $r = Receive-Job $j; "
                f"Txt $r[0]; E {i} $r[1] }} else {{ Stop-Job $j; E {i} 124 }}; Remove-Job $j -Force")
    if req.kind == "registry":
        p = ps_quote(_registry_path(req.arg))
        return (f"B {i}; $k = Get-Item -LiteralPath {p}; if ($k) {{ Txt (($k.GetValueNames() | ForEach-Object {{ "
                f"$n = $_; $k.GetValue($n) | ForEach-Object {{ $n + \"`t\" + $_ }} }}) -join \"`n\"); E {i} 0 }} else {{ E {i} 1 }}")
    if req.kind == "os":
        return f"B {i}; Txt ('Windows ' + [Environment]::OSVersion.VersionString); E {i} 0"
    return f"B {i}; E {i} 1"


def build_powershell(requests: list[Request], command_timeout: int, nonce: str | None = None) -> Batch:
    nonce = nonce or secrets.token_hex(16)
    body = _PRELUDE.format(nonce=nonce) + "\n".join(_one(i, r, command_timeout) for i, r in enumerate(requests))
    return Batch(requests, body + "\n", nonce)


def encoded_command(script: str) -> str:
    """The remote command line that runs a PowerShell script without any shell parsing it."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {encoded}"
