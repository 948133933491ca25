"""Scheduler settings (policies/schedule.yaml): daemon timing, leases, retention, trends.

The file is looked up in the policies folder in use (--policies / SECOPS_POLICIES); a policies
folder without it (e.g. one written before scheduling existed) falls back to the bundled file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import policy_path
from secops.i18n import _
from secops.policyfile import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DaemonConfig(_Strict):
    misfire_grace_seconds: int = Field(default=21600, ge=1)
    coalesce: bool = True
    poll_seconds: float = Field(default=15, gt=0, le=3600)
    lease_seconds: float = Field(default=120, gt=0)
    stop_timeout_seconds: float = Field(default=60, ge=0)
    workers: int = Field(default=2, ge=1, le=32)
    timezone: str | None = None

    @model_validator(mode="after")
    def _lease_outlives_poll(self) -> DaemonConfig:
        # The lease is renewed every poll; it must survive at least two missed renewals.
        if self.lease_seconds < 2 * self.poll_seconds:
            raise ValueError(_("lease_seconds ({lease}) must be at least twice poll_seconds ({poll})").format(
                lease=self.lease_seconds, poll=self.poll_seconds))
        return self


class RetentionConfig(_Strict):
    # At least 2, so the dashboard can always compare the newest run with the one before.
    keep_detail_runs: int = Field(default=30, ge=2)
    keep_report_folders: int | None = Field(default=None, ge=1)


class TrendsConfig(_Strict):
    runs: int = Field(default=12, ge=2, le=500)
    max_changes: int = Field(default=25, ge=1, le=1000)


class ScheduleConfig(_Strict):
    version: Literal[1] = 1
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    trends: TrendsConfig = Field(default_factory=TrendsConfig)



def load_schedule_config(policies: Path) -> ScheduleConfig:
    return load_model(policy_path(policies, "schedule.yaml"), ScheduleConfig)
