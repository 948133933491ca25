"""Job definitions (policies/jobs.yaml): a job is a named sequence of pipeline stages."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from secops.config import policy_path
from secops.errors import SecopsError
from secops.policyfile import load_model
from secops.stages import STAGES, StageResult, stage_function

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
REF_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageStep(_Strict):
    stage: str = Field(pattern=NAME_PATTERN)
    options: dict[str, Any] = Field(default_factory=dict)
    needs: list[str] = Field(default_factory=list)


class JobDef(_Strict):
    description: str = ""
    stages: list[StageStep] = Field(min_length=1)

    @field_validator("stages", mode="before")
    @classmethod
    def _names_as_steps(cls, value: Any) -> Any:
        # `- grade` is shorthand for `- {stage: grade}`.
        if isinstance(value, list):
            return [{"stage": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _needs_come_first(self) -> JobDef:
        seen: set[str] = set()
        for step in self.stages:
            missing = [n for n in step.needs if n not in seen]
            if missing:
                raise ValueError(f"stage {step.stage!r} needs {', '.join(missing)}, "
                                 "which must come earlier in the same job")
            seen.add(step.stage)
        return self


class JobFile(_Strict):
    version: Literal[1] = 1
    stages: dict[str, str] = Field(default_factory=dict, description="extra stages: name -> module:function")
    jobs: dict[str, JobDef]

    @model_validator(mode="after")
    def _stages_known(self) -> JobFile:
        for name, ref in self.stages.items():
            if name in STAGES:
                raise ValueError(f"stages.{name}: shadows the built-in stage of that name")
            if not re.match(REF_PATTERN, ref):
                raise ValueError(f"stages.{name}: {ref!r} is not module:function")
        known = set(STAGES) | set(self.stages)
        for job_name, job in self.jobs.items():
            for step in job.stages:
                if step.stage not in known:
                    raise ValueError(f"jobs.{job_name}: unknown stage {step.stage!r}; "
                                     f"stages are {', '.join(sorted(known))}")
        for job_name in self.jobs:
            if not re.match(NAME_PATTERN, job_name):
                raise ValueError(f"jobs.{job_name}: a job name is letters, digits, . _ - (max 64)")
        return self

    def job(self, name: str) -> JobDef:
        if name not in self.jobs:
            raise SecopsError(f"unknown job {name!r}; jobs are {', '.join(sorted(self.jobs))}")
        return self.jobs[name]

    def stage_function(self, name: str) -> Callable[..., StageResult]:
        """The stage's run_stage; SecopsError when its module is not there (stage unavailable)."""
        if name not in self.stages:
            return stage_function(name)
        module_name, func = self.stages[name].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise SecopsError(f"stage {name!r}: module {module_name!r} is not available") from exc
        if not hasattr(module, func):
            raise SecopsError(f"stage {name!r}: {module_name} has no function {func!r}")
        return cast("Callable[..., StageResult]", getattr(module, func))


def load_jobs(policies: Path) -> JobFile:
    return load_model(policy_path(policies, "jobs.yaml"), JobFile)
