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
from secops.i18n import _
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
                raise ValueError(_("stage {stage} needs {missing}, which must come earlier in the same job").format(
                    stage=repr(step.stage), missing=", ".join(missing)))
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
                raise ValueError(_("stages.{name}: shadows the built-in stage of that name").format(name=name))
            if not re.match(REF_PATTERN, ref):
                raise ValueError(_("stages.{name}: {ref} is not module:function").format(name=name, ref=repr(ref)))
        known = set(STAGES) | set(self.stages)
        for job_name, job in self.jobs.items():
            for step in job.stages:
                if step.stage not in known:
                    raise ValueError(_("jobs.{job}: unknown stage {stage}; stages are {known}").format(
                        job=job_name, stage=repr(step.stage), known=", ".join(sorted(known))))
        for job_name in self.jobs:
            if not re.match(NAME_PATTERN, job_name):
                raise ValueError(_("jobs.{job}: a job name is letters, digits, . _ - (max 64)").format(job=job_name))
        return self

    def job(self, name: str) -> JobDef:
        if name not in self.jobs:
            raise SecopsError(_("unknown job {name}; jobs are {jobs}").format(
                name=repr(name), jobs=", ".join(sorted(self.jobs))))
        return self.jobs[name]

    def stage_function(self, name: str) -> Callable[..., StageResult]:
        """The stage's run_stage; SecopsError when its module is not there (stage unavailable)."""
        if name not in self.stages:
            return stage_function(name)
        module_name, func = self.stages[name].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise SecopsError(_("stage {name}: module {module} is not available").format(
                name=repr(name), module=repr(module_name))) from exc
        if not hasattr(module, func):
            raise SecopsError(_("stage {name}: {module} has no function {func}").format(
                name=repr(name), module=module_name, func=repr(func)))
        return cast("Callable[..., StageResult]", getattr(module, func))


def load_jobs(policies: Path) -> JobFile:
    return load_model(policy_path(policies, "jobs.yaml"), JobFile)
