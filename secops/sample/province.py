"""A deterministic synthetic province, shaped like the one in the mission (labelled synthetic).

Same seed and as-of date -> the same province, row for row. Evidence dates are relative to the
as-of date, so the sample always has fresh, stale and missing evidence whenever it is generated.
Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking range): never a real host, never scanned.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from secops.models import (
    Agency,
    AgencyKind,
    Endpoint,
    EndpointRole,
    EvidenceSource,
    InformationSystem,
    Lifecycle,
    OSFamily,
    ProtectionEvidence,
    ProtectionStatus,
    StaffMember,
)
from secops.sample.register import sample_system

# The two-tier province since 1 July 2025: the provincial People's Committee and its departments and
# agencies, and communes and wards directly under the province (no districts). The default example is
# a province formed by merging two former provinces (Thái Nguyên and Bắc Kạn, as in the 2025 reform);
# load_sample records the former provinces as retired predecessors.
PROVINCE = ("SAMPLE", "Tỉnh Thái Nguyên (dữ liệu mẫu)")
FORMER_PROVINCES = [("SAMPLE-TN-2025", "Tỉnh Thái Nguyên cũ (trước 1/7/2025, dữ liệu mẫu)"),
                    ("SAMPLE-BK-2025", "Tỉnh Bắc Kạn (trước 1/7/2025, dữ liệu mẫu)")]
MERGED_ON = dt.date(2025, 7, 1)
DEPARTMENTS = [
    ("VP-UBND", "Văn phòng UBND tỉnh"), ("SNV", "Sở Nội vụ"), ("STC", "Sở Tài chính"),
    ("SKHCN", "Sở Khoa học và Công nghệ"), ("SYT", "Sở Y tế"), ("SGDDT", "Sở Giáo dục và Đào tạo"),
    ("STP", "Sở Tư pháp"), ("SCT", "Sở Công Thương"), ("SNNMT", "Sở Nông nghiệp và Môi trường"),
    ("SXD", "Sở Xây dựng"), ("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch"), ("SDTTG", "Sở Dân tộc và Tôn giáo"),
    ("TTT", "Thanh tra tỉnh"), ("BQLKCN", "Ban Quản lý các khu công nghiệp"),
    ("VP-DDBQH", "Văn phòng Đoàn ĐBQH và HĐND tỉnh"),
]
WARDS = 15  # phường
COMMUNE_NAMES = ["An", "Bình", "Cát", "Đông", "Hòa", "Hưng", "Khánh", "Lạc", "Long", "Minh", "Nghĩa",
                 "Phong", "Phú", "Quang", "Sơn", "Tân", "Thạnh", "Thuận", "Trung", "Vĩnh"]
SYSTEM_KINDS = ["Cổng thông tin điện tử", "Hệ thống quản lý văn bản và điều hành", "Hệ thống thư điện tử",
                "Hệ thống một cửa điện tử", "Cơ sở dữ liệu chuyên ngành", "Hệ thống kế toán",
                "Mạng nội bộ (LAN)", "Hệ thống hội nghị truyền hình", "Hệ thống quản lý hồ sơ",
                "Phần mềm quản lý nhân sự"]
PRODUCTS = ["BKAV Endpoint", "Kaspersky Endpoint Security", "ESET Endpoint Security", "Trend Micro Apex One",
            "Microsoft Defender", "ClamAV"]
COMMUNES = 77  # xã; with the wards, 92 commune-level units as in the merged province


@dataclass
class SampleProvince:
    agencies: list[Agency] = field(default_factory=list)
    systems: list[InformationSystem] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    staff: list[StaffMember] = field(default_factory=list)

    def as_rows(self) -> dict[str, list[Any]]:
        return {"agencies": self.agencies, "systems": self.systems, "endpoints": self.endpoints,
                "staff": self.staff}


def _agencies(prefix: str = "") -> list[Agency]:
    root = prefix + PROVINCE[0]
    agencies = [Agency(code=root, name=PROVINCE[1], kind=AgencyKind.province)]
    agencies += [Agency(code=prefix + c, name=n, kind=AgencyKind.department, parent=root) for c, n in DEPARTMENTS]
    for i in range(WARDS + COMMUNES):
        ward = i < WARDS
        number = (i if ward else i - WARDS) + 1
        base = COMMUNE_NAMES[i % len(COMMUNE_NAMES)]
        agencies.append(Agency(code=f"{prefix}{'P' if ward else 'X'}{number:02d}",
                               name=f"{'Phường' if ward else 'Xã'} {base} {number}",
                               kind=AgencyKind.ward if ward else AgencyKind.commune, parent=root))
    return agencies


def _system(rng: random.Random, code: str, owner: Agency, name: str, today: dt.date) -> InformationSystem:
    state = rng.choices(list(Lifecycle), weights=[12, 12, 14, 62])[0]
    level = rng.choices([1, 2, 3, 4], weights=[25, 50, 20, 5])[0]
    approvers = {1: "owner", 2: "owner", 3: "province", 4: "ministry"}
    fields: dict[str, Any] = {"code": code, "name": f"{name} - {owner.name}", "owner": owner.code, "state": state}
    if state is Lifecycle.dossier_submitted:
        fields["level"] = level
    if state in (Lifecycle.level_approved, Lifecycle.plan_deployed):
        approved = today - dt.timedelta(days=rng.randint(60, 1500))
        fields.update(level=level, approval_decision=f"{rng.randint(100, 3999)}/QĐ-UBND", approval_date=approved,
                      approved_by=approvers[level])
        if state is Lifecycle.plan_deployed:
            fields["plan_deployed_date"] = approved + dt.timedelta(days=rng.randint(10, 50))
            if rng.random() < 0.5:
                fields["last_inspection_date"] = today - dt.timedelta(days=rng.randint(5, 400))
    return sample_system(fields, today)  # completed into a level-dossier register row


def below(bits: Callable[[int], int], n: int, k: int) -> int:
    """rng._randbelow(n) with k = n.bit_length() and bits = rng.getrandbits, draw for draw (what
    rng.randint(a, a + n - 1) - a and rng.choice(seq of n) draw), without randint's call chain.
    tests/test_sample_rows.py checks it against randint and choice."""
    r = bits(k)
    while r >= n:
        r = bits(k)
    return r


class Clock:
    """The observation times an endpoint's evidence can take, computed once per as-of moment:
    as_of - (days, hours) as _evidence drew them, naive times made UTC as the model does."""

    def __init__(self, as_of: dt.datetime):
        def utc(moment: dt.datetime) -> dt.datetime:
            return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
        self.fresh = [utc(as_of - dt.timedelta(days=days, hours=hours)) for days in range(7) for hours in range(24)]
        self.stale = [utc(as_of - dt.timedelta(days=days)) for days in range(9, 91)]


N_PRODUCTS, K_PRODUCTS = len(PRODUCTS), len(PRODUCTS).bit_length()
# One endpoint as generated, in the stored form (enum values, not members):
# (code, hostname, ips, mac, os_family, role, owner code, evidence); evidence is None (never
# audited) or (status, product, observed_at, detail), its source being "sample".
EndpointDraw = tuple[str, str, list[str], str, str, str, str, "tuple[str, str | None, dt.datetime, str | None] | None"]


def _evidence(rng: random.Random, clock: Clock) -> tuple[str, str | None, dt.datetime, str | None] | None:
    """The draws of the former model-building _evidence, in the same order (randint and choice
    replaced by `below`, the same draws), giving the values it stored."""
    bits = rng.getrandbits
    roll = rng.random()
    days = below(bits, 7, 3)  # rng.randint(0, 6)
    fresh = clock.fresh[days * 24 + below(bits, 24, 5)]  # as_of - (days, rng.randint(0, 23) hours)
    if roll < 0.74:
        return "protected", PRODUCTS[below(bits, N_PRODUCTS, K_PRODUCTS)], fresh, None
    if roll < 0.79:
        product = PRODUCTS[below(bits, N_PRODUCTS, K_PRODUCTS)]
        return "degraded", product, fresh, "signatures out of date" if rng.random() < 0.5 else "service stopped"
    if roll < 0.85:
        return "unprotected", None, fresh, "no protection product found"
    if roll < 0.92:  # stale: was protected, but evidence is older than the policy allows
        product = PRODUCTS[below(bits, N_PRODUCTS, K_PRODUCTS)]
        return "protected", product, clock.stale[below(bits, 82, 7)], None  # rng.randint(9, 90) days back
    return None  # never audited


# Cumulative weights computed once: the same draws as rng.choices(..., weights=[70, 22, 8] / [90, 7, 3])
# (choices accumulates them itself), without rebuilding the lists per endpoint.
ROLES, ROLE_CUM = list(EndpointRole), [70, 92, 100]
OS_FAMILIES, OS_CUM = [OSFamily.windows, OSFamily.linux, OSFamily.macos], [90, 97, 100]
ROLE_VALUES, OS_VALUES = [r.value for r in ROLES], [o.value for o in OS_FAMILIES]


def _endpoint(rng: random.Random, index: int, owner: tuple[str, str], clock: Clock,
              code_prefix: str = "") -> EndpointDraw:
    """One endpoint's draws (same order as ever) as the row it is stored as: owner is the agency's
    (code, lower-case code). endpoint_model gives the model the former generator built."""
    random_ = rng.random  # rng.choices(..., cum_weights)[0] inlined, draw for draw (both end at 100)
    role = ROLE_VALUES[bisect.bisect(ROLE_CUM, random_() * 100.0, 0, 2)]
    os_family = "linux" if role == "server" and random_() < 0.6 else \
        OS_VALUES[bisect.bisect(OS_CUM, random_() * 100.0, 0, 2)]
    if index >= 1 << 40:  # the MAC holds 5 bytes of it (as index.to_bytes(5) did)
        raise OverflowError(f"endpoint index {index} too big for a sample MAC")
    digits = f"{index:010X}"
    return (f"{code_prefix}EP{index:06d}",
            f"{owner[1]}-{'srv' if role == 'server' else 'pc'}-{index:05d}",
            [f"198.{18 + (index >> 16 & 1)}.{index >> 8 & 255}.{index & 255}"],
            f"02:{digits[0:2]}:{digits[2:4]}:{digits[4:6]}:{digits[6:8]}:{digits[8:10]}",
            os_family, role, owner[0], _evidence(rng, clock))


def evidence_model(evidence: tuple[str, str | None, dt.datetime, str | None]) -> ProtectionEvidence:
    """The model of an evidence draw, built with model_construct from typed values (what validation
    would give: enum members, an aware time), not re-validated: tests/test_bulk_copy.py checks the two agree."""
    status, product, observed_at, detail = evidence
    # product and detail are named only when drawn, as before (the same fields_set); every field
    # is passed (None is their default), so that model_construct does not look defaults up.
    fields_set = {"status", "source", "observed_at"}
    if product is not None:
        fields_set.add("product")
    if detail is not None:
        fields_set.add("detail")
    return ProtectionEvidence.model_construct(fields_set, status=ProtectionStatus(status), product=product,
                                              source=EvidenceSource.sample, observed_at=observed_at, detail=detail)


def endpoint_model(draw: EndpointDraw) -> Endpoint:
    """The Endpoint model of a generated endpoint (what the former generator built). Typed values
    already in the validated form (canonical dotted quad, upper-case MAC, enum members; codes
    from validated agency codes): built without re-validation; tests/test_bulk_copy.py checks
    model_validate gives the same model."""
    code, hostname, ips, mac, os_family, role, owner, evidence = draw
    return Endpoint.model_construct(code=code, hostname=hostname, ips=list(ips), mac=mac,
                                    os_family=OSFamily(os_family), role=EndpointRole(role), owner=owner,
                                    protection=evidence_model(evidence) if evidence is not None else None)


def _staff(rng: random.Random, index: int, agency: Agency, is_head: bool, today: dt.date,
           prefix: str = "") -> StaffMember:
    def maybe(p: float) -> dt.date | None:
        return today - dt.timedelta(days=rng.randint(1, 700)) if rng.random() < p else None
    return StaffMember(code=f"{prefix}CB{index:06d}", agency=agency.code, is_head=is_head,
                       awareness_date=maybe(0.93) if is_head else None,
                       informed_date=maybe(0.89), training_date=maybe(0.74))


ENDPOINT_CHUNK = 20_000  # endpoints generated (and written by the loader) at a time


def stream(as_of: dt.datetime, *, endpoints: int = 10_000, seed: int = 85,
           prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    """The sample as (entity, rows) parts in write order; endpoints come in chunks, so a loader
    never holds a million of them. Endpoints come as EndpointDraw tuples in their stored form
    (secops.sample.write writes them; endpoint_model gives their models); the other
    entities as models. The random draws are in the same order as ever: same seed,
    same province. prefix goes before every code, so that two generated provinces can share a
    database (merge tests)."""
    rng = random.Random(seed)
    today = as_of.date()
    agencies = _agencies(prefix)
    yield "agencies", agencies
    units = agencies[1:]
    # Relative size of each unit: departments are big, wards middling, communes small.
    weight = {"department": 10.0, "ward": 3.0, "commune": 1.6}
    weights = [weight[u.kind] * rng.uniform(0.6, 1.4) for u in units]
    systems_per = {"department": (15, 19)}  # a merged province's departments run many systems
    systems: list[InformationSystem] = []
    for unit in units:
        low, high = systems_per.get(unit.kind, (0, 0))
        count = rng.randint(low, high) if unit.kind == "department" else int(rng.random() < 0.45)
        for n in range(count):
            code = f"HT-{unit.code}-{n + 1:02d}"
            systems.append(_system(rng, code, unit, SYSTEM_KINDS[n % len(SYSTEM_KINDS)], today))
    yield "systems", systems
    # The same draw as rng.choices(units, ...): only the population's length counts.
    owners = rng.choices([(u.code, u.code.lower()) for u in units], weights=weights, k=endpoints)
    clock = Clock(as_of)
    for start in range(0, endpoints, ENDPOINT_CHUNK):
        yield "endpoints", [_endpoint(rng, i + 1, owners[i], clock, prefix)
                            for i in range(start, min(start + ENDPOINT_CHUNK, endpoints))]
    staff: list[StaffMember] = []
    staff_index = 0
    for unit, w in zip(units, weights, strict=True):
        for n in range(max(5, round(w * 10))):
            staff_index += 1
            staff.append(_staff(rng, staff_index, unit, n == 0, today, prefix))
    staff.insert(0, _staff(rng, 0, agencies[0], True, today, prefix))  # drawn last, listed first (as ever)
    yield "staff", staff


def generate(as_of: dt.datetime, *, endpoints: int = 10_000, seed: int = 85, prefix: str = "") -> SampleProvince:
    sample = SampleProvince()
    for entity, rows in stream(as_of, endpoints=endpoints, seed=seed, prefix=prefix):
        getattr(sample, entity).extend(map(endpoint_model, rows) if entity == "endpoints" else rows)
    return sample
