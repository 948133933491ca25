"""Discovery tables: one scan per run, its chunks (with the raw nmap XML), hosts and ports.

Everything hangs off the run, so history is kept and nothing is overwritten: a later run adds
rows, it never edits an earlier run's findings. Strings from the network (hostnames, vendors,
service banners) are stored as plain data and escaped wherever they are shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from secops.store.base import Base, utcnow


class DiscoveryScanRow(Base):
    """What a discovery run was asked to scan and how (scope decision, profile, nmap arguments)."""

    __tablename__ = "discovery_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True,
                                        doc="one scan per agency of the run (a province-wide run has several)")
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    profile: Mapped[str] = mapped_column(String(40))
    arguments: Mapped[list[Any]] = mapped_column(doc="nmap arguments (without targets)")
    targets: Mapped[list[Any]] = mapped_column(doc="CIDRs actually scanned, after exclusions")
    requested: Mapped[list[Any]] = mapped_column(doc="targets as the user gave them")
    excluded: Mapped[list[Any]] = mapped_column(doc="exclusion rules that trimmed the targets")
    scope_file: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text, doc="set only when the scope guard was overridden")
    nmap_version: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]

    chunks: Mapped[list[DiscoveryChunkRow]] = relationship(back_populates="scan", cascade="all, delete-orphan")


class DiscoveryChunkRow(Base):
    """One nmap invocation (a slice of the targets) and its raw XML, kept for audit."""

    __tablename__ = "discovery_chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("discovery_scans.id", ondelete="CASCADE"), index=True)
    targets: Mapped[list[Any]] = mapped_column(doc="CIDRs of this chunk")
    status: Mapped[str] = mapped_column(String(20), doc="ok | failed | timeout | interrupted")
    error: Mapped[str | None] = mapped_column(Text)
    command: Mapped[list[Any]] = mapped_column(default=list, doc="argv of the nmap process")
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    hosts_up: Mapped[int] = mapped_column(Integer, default=0)
    raw_xml: Mapped[bytes | None] = mapped_column(LargeBinary, doc="zlib-compressed nmap XML output")
    raw_size: Mapped[int] = mapped_column(Integer, default=0, doc="uncompressed size in bytes")

    scan: Mapped[DiscoveryScanRow] = relationship(back_populates="chunks")


class DiscoveredHostRow(Base):
    """A host found up in one run, and what reconciliation made of it."""

    __tablename__ = "discovered_hosts"
    # Per-host detail: retention (secops/schedule/retention.py) drops it for old runs; ports cascade.
    # Keyed by chunk (so by scan: agency and site): two sites or agencies may see the same address in a run.
    __table_args__ = (UniqueConstraint("run_id", "chunk_id", "address", name="uq_discovered_host_address"),
                      {"info": {"retention": "detail"}})

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[int] = mapped_column(ForeignKey("discovery_chunks.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(45), index=True)
    mac: Mapped[str | None] = mapped_column(String(17))
    vendor: Mapped[str | None] = mapped_column(String(200))
    hostname: Mapped[str | None] = mapped_column(String(255))
    hostnames: Mapped[list[Any]] = mapped_column(default=list)
    status_reason: Mapped[str | None] = mapped_column(String(40))
    os_name: Mapped[str | None] = mapped_column(String(200))
    os_accuracy: Mapped[int | None] = mapped_column(Integer)
    os_family: Mapped[str | None] = mapped_column(String(40))
    seen_at: Mapped[dt.datetime]
    match_status: Mapped[str] = mapped_column(String(20), doc="matched | unregistered | conflict")
    match_rule: Mapped[str | None] = mapped_column(String(20), doc="mac | ip | hostname")
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id", ondelete="SET NULL"), index=True)
    match_detail: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="candidates per rule on conflict")

    ports: Mapped[list[DiscoveredPortRow]] = relationship(back_populates="host", cascade="all, delete-orphan",
                                                            order_by="DiscoveredPortRow.port")


class DiscoveredPortRow(Base):
    __tablename__ = "discovered_ports"
    __table_args__ = (UniqueConstraint("host_id", "protocol", "port", name="uq_discovered_port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("discovered_hosts.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(10))
    port: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    service: Mapped[str | None] = mapped_column(String(100))
    product: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(100))
    extrainfo: Mapped[str | None] = mapped_column(String(300))

    host: Mapped[DiscoveredHostRow] = relationship(back_populates="ports")
