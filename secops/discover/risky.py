"""Risky services (policies/risky_services.yaml): which open ports deserve a flag."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import policy_path
from secops.policyfile import load_model


class RiskyService(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: int | None = Field(default=None, ge=1, le=65535)
    protocol: str = "tcp"
    service: str | None = Field(default=None, description="service name as nmap reports it")
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _something_to_match(self) -> RiskyService:
        if self.port is None and not self.service:
            raise ValueError("give a port, a service name, or both")
        return self


class RiskyList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    risky: list[RiskyService]

    def reason(self, port: int, protocol: str, service: str | None) -> str | None:
        """Why this open port is risky, or None. A port number or the reported service name matches."""
        for entry in self.risky:
            if entry.port == port and entry.protocol == protocol:
                return entry.reason
            if entry.service and service and entry.service == service and entry.protocol == protocol:
                return entry.reason
        return None


def load_risky(policies_dir: Path) -> RiskyList:
    return load_model(policy_path(policies_dir, "risky_services.yaml"), RiskyList)
