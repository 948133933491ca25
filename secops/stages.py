"""Pipeline stages behind one interface, so a scheduled job is just a list of stage names.

A stage function has the signature

    run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult

It attaches whatever it stores to the given run (a job run or a manual run of its own), never
raises for a host-level problem (an unreachable host is a result, status `partial`), and raises
only for a failure of the stage itself (the caller then records the stage as `failed`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from secops.config import Settings
    from secops.store.db import Database

StageStatus = Literal["ok", "partial", "failed"]


class StageContext(Protocol):
    """What a stage is given: the settings and the database (the command line's AppState, the daemon's,
    the console's)."""

    settings: Settings

    def db(self) -> Database: ...


class StageOptions(BaseModel):
    agency_code: str | None = None
    lang: str = "vi"
    report_dir: Path | None = Field(default=None, description="where the report stage writes")
    extra: dict[str, Any] = Field(default_factory=dict, description="stage-specific options")


class StageResult(BaseModel):
    stage: str
    status: StageStatus = "ok"
    summary: dict[str, Any] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)


# name -> "module:function". Stages whose module is not there yet are reported as unavailable.
STAGES: dict[str, str] = {
    "discover": "secops.pipeline:discover_stage",  # in-process unless policies/sites.yaml sends it to a site
    "audit": "secops.pipeline:audit_stage",
    "requirements": "secops.requirements.stage:run_stage",  # checklist roll-ups into the register
    "grade": "secops.grade.stage:run_stage",
    "report": "secops.report.stage:run_stage",
}


def stage_function(name: str) -> Callable[..., StageResult]:
    from secops.errors import SecopsError

    if name not in STAGES:
        raise SecopsError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
    module_name, func = STAGES[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise SecopsError(f"stage {name!r} is not available in this version of secops") from exc
    return cast("Callable[..., StageResult]", getattr(module, func))
