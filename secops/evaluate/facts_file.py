"""Saved host answers ("facts file"): what each audited host answered, for offline re-evaluation.

Format (JSON, `format: secops-facts/1`), one entry per host:

    {"format": "secops-facts/1", "written_at": "2026-12-01T05:00:00Z",
     "hosts": [{"label": "web1", "address": "127.0.0.1", "os": "linux", "os_info": "Linux 6.1 x86_64",
                "endpoint_code": "EP-001", "agencies": ["SO-TTTT", "UBND-TINH"],
                "answers": [{"kind": "file_read", "arg": "/etc/ssh/sshd_config", "status": 0,
                             "text": "PermitRootLogin no\\n"},
                            {"kind": "command", "arg": "sysctl kernel.randomize_va_space", "status": 0,
                             "b64": "a2VybmVsLnJhbmRvbWl6ZV92YV9zcGFjZSA9IDIK", "truncated": false}],
                "errors": [{"kind": "command", "arg": "slow", "error": "no answer (cut off)"}]}]}

`kind` is a Request kind of secops.evaluate.facts (file_exists, file_read, dir_exists, dir_list,
processes, command, registry, registry_subkeys, os); `unsupported` lists the requests a transport
cannot answer at all (commands over smb), whose rules are not applicable; `status` is 0 ok /
1 missing / 2 unreadable / 3 not a regular file (not a directory for dir_exists), or a command's
exit status (124 timeout, 127 not found).
`text` holds UTF-8 data, `b64` any other bytes. The file holds what the host answered (file contents,
command outputs): treat it like the host's own configuration files.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from secops.errors import SecopsError
from secops.evaluate.facts import Facts, Item, Kind, Request
from secops.policyfile import format_validation

FORMAT: Literal["secops-facts/1"] = "secops-facts/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Answer(_Strict):
    kind: Kind
    arg: str = ""
    status: int
    text: str | None = None
    b64: str | None = None
    truncated: bool = False

    def data(self) -> bytes:
        if self.b64 is not None:
            return base64.b64decode(self.b64, validate=True)
        return (self.text or "").encode("utf-8")


class AnswerError(_Strict):
    kind: Kind
    arg: str = ""
    error: str


class HostFacts(_Strict):
    label: str
    address: str = ""
    os: Literal["linux", "windows", "macos", "unknown"] = "linux"
    os_info: str = ""
    endpoint_code: str | None = None
    agencies: list[str] = Field(default_factory=list, description="the endpoint's agency and its ancestors (waivers)")
    answers: list[Answer] = Field(default_factory=list)
    errors: list[AnswerError] = Field(default_factory=list)
    # requests the transport could not answer at all (commands over smb): rules become n/a
    unsupported: list[AnswerError] = Field(default_factory=list)

    def to_facts(self) -> Facts:
        facts = Facts()
        for a in self.answers:
            facts.items[Request(a.kind, a.arg)] = Item(a.status, a.data(), a.truncated)
        for e in self.errors:
            facts.errors[Request(e.kind, e.arg)] = e.error
        for e in self.unsupported:
            facts.unsupported[Request(e.kind, e.arg)] = e.error
        return facts

    def names(self) -> set[str]:
        return {n for n in (self.label, self.address, self.endpoint_code) if n}

    @classmethod
    def from_facts(cls, label: str, address: str, host_os: str, os_info: str, facts: Facts,
                   endpoint_code: str | None = None, agencies: tuple[str, ...] = ()) -> HostFacts:
        answers = []
        for req in sorted(facts.items):
            item = facts.items[req]
            try:
                text, b64 = item.data.decode("utf-8"), None
            except UnicodeDecodeError:
                text, b64 = None, base64.b64encode(item.data).decode("ascii")
            answers.append(Answer(kind=req.kind, arg=req.arg, status=item.status, text=text or None, b64=b64,
                                  truncated=item.truncated))
        errors = [AnswerError(kind=r.kind, arg=r.arg, error=msg) for r, msg in sorted(facts.errors.items())]
        unsupported = [AnswerError(kind=r.kind, arg=r.arg, error=msg) for r, msg in sorted(facts.unsupported.items())]
        os_name = host_os if host_os in ("linux", "windows", "macos") else "unknown"
        return cls(label=label, address=address, os=os_name, os_info=os_info, answers=answers,
                   errors=errors, unsupported=unsupported, endpoint_code=endpoint_code,
                   agencies=list(agencies))


class FactsFile(_Strict):
    format: Literal["secops-facts/1"] = FORMAT
    written_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    hosts: list[HostFacts] = Field(default_factory=list)


def load_facts(path: Path) -> FactsFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SecopsError(f"{path}: facts file not found") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SecopsError(f"{path}: not a JSON facts file: {exc}") from exc
    try:
        return FactsFile.model_validate(raw)
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc


def check_target(path: Path) -> None:
    """Refuse before any work is done: a symlink or a non-file at the output path, or no folder."""
    if path.is_symlink():
        raise SecopsError(f"{path}: is a symbolic link; refusing to write through it")
    if path.exists() and not path.is_file():
        raise SecopsError(f"{path}: exists and is not a regular file")
    if not path.parent.is_dir():
        raise SecopsError(f"{path}: folder {path.parent} does not exist")


def write_private(path: Path, text: str) -> None:
    """Write via a fresh temporary file (O_EXCL|O_NOFOLLOW, mode 0600) renamed over `path`:
    a symlink planted at either name is never followed, and a reader never sees half a file."""
    path = Path(path)
    check_target(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise SecopsError(f"{path}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_facts(path: Path, hosts: list[HostFacts]) -> None:
    write_private(path, FactsFile(hosts=hosts).model_dump_json(indent=1, exclude_none=True))
