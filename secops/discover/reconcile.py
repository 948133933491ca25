"""Reconciliation: which registered endpoint is a discovered host? MAC, then IP, then hostname.

Every rule the host has data for is evaluated. If all rules that find something agree on one
endpoint, the host is `matched` (the first rule in the order is recorded as the reason). If they
disagree — MAC says endpoint A, IP says endpoint B — or one rule finds several endpoints, the host
is a `conflict`: the candidates are recorded and nothing is guessed (last_seen is not updated).
A host no rule finds is `unregistered`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.discover.parse import Host
from secops.inventory.retire import active_on, today
from secops.store.tables import EndpointRow

RULES = ("mac", "ip", "hostname")
# Hostnames compare case-insensitively. A discovered FQDN matches the same FQDN, or an inventory
# short name equal to its first label ("pc01.so-tc.local" ~ "pc01"); a discovered short name
# matches any inventory name with that first label (several such endpoints -> conflict).


def normal_name(name: str) -> str:
    return name.strip().rstrip(".").casefold()


@dataclass
class Match:
    status: str  # matched | unregistered | conflict
    endpoint_id: int | None = None
    rule: str | None = None
    candidates: dict[str, list[str]] = field(default_factory=dict)  # rule -> endpoint codes


class EndpointIndex:
    """The inventory's endpoints indexed by MAC, IP and hostname (loaded once per chunk)."""

    def __init__(self, session: Session, *, in_service: bool = False):
        self.codes: dict[int, str] = {}
        self.by: dict[str, dict[str, set[int]]] = {key: defaultdict(set) for key in ("mac", "ip", "full", "label",
                                                                                    "short")}
        # in_service (discovery): a host answering at a retired endpoint's address is not that
        # endpoint any more, and shows as a host missing from the inventory.
        query = select(EndpointRow.id, EndpointRow.code, EndpointRow.mac, EndpointRow.ips, EndpointRow.hostname)
        rows = session.execute(query.where(active_on(EndpointRow, today())) if in_service else query)
        for endpoint_id, code, mac, ips, hostname in rows:
            self.codes[endpoint_id] = code
            if mac:
                self.by["mac"][mac.upper()].add(endpoint_id)
            for ip in ips or []:
                self.by["ip"][str(ip)].add(endpoint_id)
            name = normal_name(hostname or "")
            if name:
                self.by["full"][name].add(endpoint_id)
                self.by["label"][name.split(".", 1)[0]].add(endpoint_id)
                if "." not in name:
                    self.by["short"][name].add(endpoint_id)

    def _lookup(self, host: Host) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        if host.mac and host.mac in self.by["mac"]:
            found["mac"] = self.by["mac"][host.mac]
        if host.address in self.by["ip"]:
            found["ip"] = self.by["ip"][host.address]
        names: set[int] = set()
        for raw in host.hostnames:
            name = normal_name(raw)
            if "." in name:
                names |= self.by["full"].get(name, set()) | self.by["short"].get(name.split(".", 1)[0], set())
            elif name:
                names |= self.by["label"].get(name, set())
        if names:
            found["hostname"] = names
        return found

    def match(self, host: Host) -> Match:
        found = self._lookup(host)
        if not found:
            return Match(status="unregistered")
        candidates = {rule: sorted(self.codes[i] for i in ids) for rule, ids in found.items()}
        distinct = set().union(*found.values())
        if len(distinct) == 1:
            rule = next(r for r in RULES if r in found)
            return Match(status="matched", endpoint_id=distinct.pop(), rule=rule, candidates=candidates)
        return Match(status="conflict", candidates=candidates)
