"""What crosses the broker: tasks (central -> scanner) and results (scanner -> central), validated.

Nothing secret travels: a task names an agency, targets and options; credentials, host keys and the
scope file stay with the scanner. Results are validated by these models, after a size check, before
anything is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from secops.discover.scope import ScopePlan
from secops.evaluate.engine import PolicyResult

MAX_TARGETS = 100_000
MAX_TEXT = 4000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetSpec(_Strict):
    """One host to audit, as the central inventory knows it (endpoint ids never come back from a scanner)."""

    label: str = Field(max_length=255)
    address: str = Field(max_length=255)
    os_family: str = Field(default="unknown", max_length=32)
    endpoint_id: int | None = None
    endpoint_code: str | None = Field(default=None, max_length=255)
    agency_codes: list[str] = Field(default_factory=list, max_length=64)


class DiscoverTask(_Strict):
    kind: Literal["discover"] = "discover"
    task_id: str = Field(max_length=128)
    run_id: int
    deadline: dt.datetime = Field(description="UTC: the run no longer waits for this task after it")
    site: str = Field(max_length=64)
    agency_code: str = Field(max_length=64)
    profile: str = Field(default="standard", max_length=64)
    targets: list[str] = Field(default_factory=list, max_length=1024)
    ports: str | None = Field(default=None, max_length=1000)


class AuditTask(_Strict):
    kind: Literal["audit"] = "audit"
    task_id: str = Field(max_length=128)
    run_id: int
    deadline: dt.datetime = Field(description="UTC: the run no longer waits for this task after it")
    site: str = Field(max_length=64)
    agency_code: str | None = Field(default=None, max_length=64)
    targets: list[TargetSpec] = Field(max_length=MAX_TARGETS)


class ChunkPayload(_Strict):
    targets: list[str] = Field(max_length=65536)
    command: list[str] = Field(max_length=256)
    started_at: dt.datetime
    finished_at: dt.datetime
    xml: str = ""
    status: Literal["ok", "failed", "timeout"] = "ok"
    error: str | None = Field(default=None, max_length=MAX_TEXT)
    warnings: list[str] = Field(default_factory=list, max_length=100)


class ProtectionPayload(_Strict):
    status: Literal["protected", "degraded", "unprotected", "unknown"]
    product: str | None = Field(default=None, max_length=255)
    detail: str = Field(default="", max_length=MAX_TEXT)


class HostPayload(_Strict):
    target: TargetSpec
    transport: str = Field(max_length=32)
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: Literal["ok", "error"]
    error_kind: str | None = Field(default=None, max_length=64)
    message: str = Field(default="", max_length=MAX_TEXT)
    os_info: str = Field(default="", max_length=MAX_TEXT)
    round_trips: int = Field(default=0, ge=0, le=100)
    results: list[PolicyResult] = Field(default_factory=list, max_length=1000)
    protection: ProtectionPayload


class _Result(_Strict):
    task_id: str = Field(max_length=128)
    site: str = Field(max_length=64)
    scanner: str = Field(max_length=255, description="the scanner's name (site@host:pid)")
    version: str = Field(default="", max_length=64)
    status: Literal["ok", "partial", "failed", "refused"]
    errors: list[str] = Field(default_factory=list, max_length=10_000)


class DiscoverResult(_Result):
    kind: Literal["discover"] = "discover"
    agency_code: str = Field(max_length=64)
    profile: str = Field(default="standard", max_length=64)
    arguments: list[str] = Field(default_factory=list, max_length=256)
    nmap_version: str | None = Field(default=None, max_length=32)
    plan: ScopePlan | None = None
    chunks: list[ChunkPayload] = Field(default_factory=list, max_length=65536)


class AuditResult(_Result):
    kind: Literal["audit"] = "audit"
    refused: list[str] = Field(default_factory=list, max_length=MAX_TARGETS,
                               description="addresses outside the scanner's scope")
    hosts: list[HostPayload] = Field(default_factory=list, max_length=MAX_TARGETS)
