"""Which hosts an audit covers: an agency's endpoints, named hosts, or the local machine."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.collect.audit import HostTarget
from secops.config import policy_path
from secops.errors import SecopsError
from secops.inventory.retire import active_on, retired_note, today
from secops.inventory.tree import AgencyNode, load_agencies
from secops.policyfile import load_model
from secops.store.tables import AgencyRow, EndpointRow


class ProtectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    signature_max_age_days: int = Field(default=7, ge=0, le=3650)

    def variables(self) -> dict[str, str]:
        return {"$signature_max_age_days": str(self.signature_max_age_days)}


def load_protection_settings(policies_dir: Path) -> ProtectionSettings:
    path = policy_path(policies_dir, "protection.yaml")
    return load_model(path, ProtectionSettings) if path.exists() else ProtectionSettings()


def _ancestors(session: Session) -> dict[int, tuple[str, ...]]:
    agencies = load_agencies(session)
    out: dict[int, tuple[str, ...]] = {}
    for node in agencies.values():
        chain: list[str] = []
        current: AgencyNode | None = node
        depth = 0
        while current is not None and depth < 64:
            chain.append(current.code)
            current = agencies.get(current.parent_id) if current.parent_id else None
            depth += 1
        out[node.id] = tuple(chain)
    return out


def _target(row: EndpointRow, chains: dict[int, tuple[str, ...]]) -> HostTarget:
    address = row.ips[0] if row.ips else row.hostname
    return HostTarget(label=row.hostname, address=address, os_family=row.os_family, endpoint_id=row.id,
                      endpoint_code=row.code, agency_codes=chains.get(row.agency_id, ()))


def _active_endpoints(session: Session) -> list[EndpointRow]:
    """Endpoints in service today: a retired one (or one of a retired agency) is not audited."""
    return list(session.scalars(select(EndpointRow).where(active_on(EndpointRow, today())).order_by(EndpointRow.code)))


def _refuse_retired(session: Session, table: type[AgencyRow] | type[EndpointRow], code: str, what: str) -> None:
    if (note := retired_note(session, table, code)) is not None:
        raise SecopsError(f"{what} {code!r} was {note}; retired records are kept for history, not audited")


def agency_targets(session: Session, agency_code: str | None) -> list[HostTarget]:
    chains = _ancestors(session)
    if agency_code and session.scalar(select(AgencyRow.id).where(AgencyRow.code == agency_code)) is None:
        raise SecopsError(f"agency {agency_code!r} is not in the inventory")
    if agency_code:
        _refuse_retired(session, AgencyRow, agency_code, "agency")
    return [_target(r, chains) for r in _active_endpoints(session)
            if agency_code is None or agency_code in chains.get(r.agency_id, ())]


def _valid_host(text: str) -> str:
    text = text.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not text or len(text) > 253 or not all(c.isalnum() or c in "-._" for c in text):
        raise SecopsError(f"--hosts: {text!r} is not an endpoint code, hostname or IP address")
    return text


def host_targets(session: Session, hosts: list[str]) -> list[HostTarget]:
    """Each name matches an endpoint by code, hostname or address; others are audited ad hoc."""
    chains = _ancestors(session)
    rows = _active_endpoints(session)
    targets = []
    for host in (_valid_host(h) for h in hosts):
        _refuse_retired(session, EndpointRow, host, "endpoint")  # by code; an address may be reused
        match = next((r for r in rows if host in (r.code, r.hostname) or host in (r.ips or [])), None)
        if match is not None:
            target = _target(match, chains)
            if host in (match.ips or []):
                target.address = host
            targets.append(target)
        else:
            targets.append(HostTarget(label=host, address=host))
    return targets


def local_target(session: Session, endpoint_code: str | None) -> HostTarget:
    chains = _ancestors(session)
    if endpoint_code:
        row = session.scalar(select(EndpointRow).where(EndpointRow.code == endpoint_code))
        if row is None:
            raise SecopsError(f"--endpoint {endpoint_code!r} is not in the inventory")
        _refuse_retired(session, EndpointRow, endpoint_code, "--endpoint")
    else:
        name = socket.gethostname()
        row = session.scalar(select(EndpointRow).where(EndpointRow.hostname.in_([name, name.split(".")[0]]),
                                                       active_on(EndpointRow, today())))
    target = _target(row, chains) if row is not None else HostTarget(label=socket.gethostname(), address="localhost")
    target.local, target.address, target.os_family = True, "localhost", "linux"
    return target
