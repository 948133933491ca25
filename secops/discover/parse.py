"""nmap XML (-oX) -> pydantic models. Parse everything first, so a bad file stores nothing.

The XML comes from nmap, but what it carries (hostnames, vendors, banners) comes from the network:
it is kept as plain text, trimmed to the column sizes, with control characters removed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import xml.etree.ElementTree as ET

from pydantic import BaseModel, Field

from secops.errors import SecopsError
from secops.models import normalise_mac

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class NmapParseError(SecopsError):
    """The XML is malformed, truncated or not nmap output; nothing from it is stored."""


class Port(BaseModel):
    protocol: str
    port: int = Field(ge=0, le=65535)
    state: str
    service: str | None = None
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None


class Host(BaseModel):
    address: str
    mac: str | None = None
    vendor: str | None = None
    hostnames: list[str] = Field(default_factory=list)
    status_reason: str | None = None
    os_name: str | None = None
    os_accuracy: int | None = None
    os_family: str | None = None
    ports: list[Port] = Field(default_factory=list)

    @property
    def hostname(self) -> str | None:
        return self.hostnames[0] if self.hostnames else None

    def open_ports(self) -> list[Port]:
        return [p for p in self.ports if p.state == "open"]


class ScanOutput(BaseModel):
    nmap_version: str | None = None
    args: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    hosts: list[Host] = Field(default_factory=list, description="hosts that were up")
    hosts_down: int = 0


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    cleaned = _CONTROL.sub(" ", value).strip()
    return cleaned[:limit] or None


def _time(value: str | None) -> dt.datetime | None:
    if not value or not value.isdigit():
        return None
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)


def _addresses(node: ET.Element, where: str) -> tuple[str, str | None, str | None]:
    ip = mac = vendor = None
    for addr in node.findall("address"):
        kind, value = addr.get("addrtype"), addr.get("addr") or ""
        if kind in ("ipv4", "ipv6"):
            try:
                ip = str(ipaddress.ip_address(value))
            except ValueError as exc:
                raise NmapParseError(f"{where}: address {value!r} is not an IP address") from exc
        elif kind == "mac":
            try:
                mac = normalise_mac(value)
            except ValueError as exc:
                raise NmapParseError(f"{where}: {exc}") from exc
            vendor = _text(addr.get("vendor"), 200)
    if ip is None:
        raise NmapParseError(f"{where}: host without an IP address")
    return ip, mac, vendor


def _os(node: ET.Element) -> tuple[str | None, int | None, str | None]:
    best = None
    for match in node.findall("os/osmatch"):
        accuracy = int(match.get("accuracy") or 0)
        if best is None or accuracy > best[1]:
            best = (match, accuracy)
    if best is None:
        return None, None, None
    osclass = best[0].find("osclass")
    family = osclass.get("osfamily") if osclass is not None else None
    return _text(best[0].get("name"), 200), best[1], _text(family, 40)


def _port(node: ET.Element, where: str) -> Port:
    try:
        number = int(node.get("portid") or "")
    except ValueError as exc:
        raise NmapParseError(f"{where}: port {node.get('portid')!r} is not a number") from exc
    if not 0 < number <= 65535:
        raise NmapParseError(f"{where}: port {number} is out of range")
    state = node.find("state")
    service = node.find("service")
    svc = service.get if service is not None else (lambda _key: None)
    return Port(protocol=_text(node.get("protocol"), 10) or "tcp", port=number,
                state=_text(state.get("state") if state is not None else None, 20) or "unknown",
                service=_text(svc("name"), 100), product=_text(svc("product"), 200),
                version=_text(svc("version"), 100), extrainfo=_text(svc("extrainfo"), 300))


def _host(node: ET.Element, where: str) -> Host | None:
    status = node.find("status")
    if status is None or status.get("state") != "up":
        return None
    ip, mac, vendor = _addresses(node, where)
    where = f"{where} ({ip})"
    names = [n for n in (_text(h.get("name"), 255) for h in node.findall("hostnames/hostname")) if n]
    os_name, os_accuracy, os_family = _os(node)
    ports = [_port(p, where) for p in node.findall("ports/port")]
    return Host(address=ip, mac=mac, vendor=vendor, hostnames=list(dict.fromkeys(names)),
                status_reason=_text(status.get("reason"), 40), os_name=os_name, os_accuracy=os_accuracy,
                os_family=os_family, ports=ports)


def parse_nmap_xml(data: str | bytes | ET.Element, source: str = "nmap output") -> ScanOutput:
    """Parse a complete nmap XML document (or its root element, already parsed from the same
    text); raise NmapParseError (naming source and line) otherwise."""
    if isinstance(data, ET.Element):
        root = data
    else:
        if not data or not data.strip():
            raise NmapParseError(f"{source}: empty output (nmap produced no XML)")
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            line, column = exc.position
            raise NmapParseError(f"{source}: line {line}, column {column}: malformed or truncated XML "
                                 f"({exc.msg if hasattr(exc, 'msg') else exc})") from exc
    if root.tag != "nmaprun":
        raise NmapParseError(f"{source}: not nmap XML (root element <{root.tag}>, expected <nmaprun>)")
    finished = root.find("runstats/finished")
    if finished is None:
        raise NmapParseError(f"{source}: truncated nmap XML: no <runstats><finished> (nmap did not finish)")
    if finished.get("exit") not in (None, "success"):
        raise NmapParseError(f"{source}: nmap reported {finished.get('exit')}: {finished.get('errormsg') or ''}")
    hosts: list[Host] = []
    down = 0
    seen: set[str] = set()
    for index, node in enumerate(root.findall("host"), start=1):
        host = _host(node, f"{source}: host #{index}")
        if host is None:
            down += 1
        elif host.address not in seen:  # nmap may list an address twice (e.g. given twice); keep one
            seen.add(host.address)
            hosts.append(host)
    return ScanOutput(nmap_version=root.get("version"), args=root.get("args"), started_at=_time(root.get("start")),
                      finished_at=_time(finished.get("time")), hosts=hosts, hosts_down=down)
