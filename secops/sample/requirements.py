"""Plausible checklists for the synthetic sample province (labelled synthetic like the rest of it).

Deterministic per seed, as-of date and system code. Statuses follow the register's plan
deployment so the roll-up agrees with it: fully deployed systems meet every item on
time, partly deployed ones about 60% (some periodic ones overdue), not deployed ones none. Dates are relative
to the as-of date, so some periodic activities are always overdue. A few endpoints of the owner
agency are linked to each system, and protection-management facts (2026 rules) are added for
most endpoints, with some left unknown on purpose.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.requirements.catalogue import Catalogue, in_force
from secops.requirements.checklist import add_months
from secops.requirements.tables import (
    ProtectionManagementRow,
    RequirementStatusRow,
    SystemHostRow,
)
from secops.sample.province import below
from secops.store.bulk import insert_rows, insert_values
from secops.store.tables import EndpointRow, SystemRow

# Share of items met, by the register's plan deployment, so the roll-up agrees with it.
P_MET = {"fully_deployed": 1.0, "partly_deployed": 0.6, "not_deployed": 0.0}
UNITS = ["Phòng Công nghệ thông tin", "Văn phòng", "Trung tâm Chuyển đổi số", "Bộ phận quản trị hệ thống"]
DOCS = ["Biên bản kiểm tra số {n}/BB", "Quyết định số {n}/QĐ", "Báo cáo số {n}/BC", "Kế hoạch số {n}/KH"]


FACTS: list[bool | None] = [True, False, None]
MANAGED_CUM, NATIONAL_CUM = [68, 85, 100], [42, 72, 100]  # both end at 100
STATEMENT_COLUMNS = ("system_id", "standard", "item_id", "source", "recorded_by", "responsible_unit", "status",
                     "evidence", "evidence_date", "note", "milestone", "recorded_at")


def _statement(rng: random.Random, cat: Catalogue, item_id: str, level: int, p_met: float, exemplary: bool,
               system_id: int, as_of: dt.datetime) -> dict[str, object]:
    item = cat.item(item_id)
    today = as_of.date()
    roll = rng.random()
    row: dict[str, object] = {"system_id": system_id, "standard": cat.standard.id, "item_id": item_id,
                              "source": "sample", "recorded_by": "sample",
                              "responsible_unit": rng.choice(UNITS)}
    if roll < p_met:
        interval = item.frequency_months.get(level)
        # about 1 in 4 periodic items overdue, none on an exemplary system
        back = rng.randint(0, int((interval or 20) * 30 * (0.9 if exemplary else 1.3)))
        done = today - dt.timedelta(days=back)
        row.update(status="met", evidence=rng.choice(DOCS).format(n=rng.randint(1, 400)), evidence_date=done)
    elif roll < p_met + 0.03:
        row.update(status="not_applicable", note="Hệ thống không có thành phần liên quan (dữ liệu mẫu)")
    else:
        row.update(status=rng.choice(["partly_met", "not_met", "not_met"]) if p_met else "not_met",
                   milestone=add_months(today, rng.randint(1, 10)))
    recorded = row.get("evidence_date") or today - dt.timedelta(days=rng.randint(1, 90))
    at = dt.datetime.combine(recorded, dt.time(9, 0), tzinfo=dt.UTC)  # type: ignore[arg-type]
    row["recorded_at"] = min(at, as_of)
    return row


MANAGEMENT_COLUMNS = ("endpoint_id", "observed_at", "centrally_managed", "reports_national", "console", "source")


def _management(rng: random.Random, endpoints_of: dict[int, list[int]],
                as_of: dt.datetime) -> Iterator[tuple[object, ...]]:
    """Protection-management facts of every endpoint, as values of MANAGEMENT_COLUMNS."""
    random_, bits = rng.random, rng.getrandbits
    seen_at = [as_of - dt.timedelta(days=days) for days in range(7)]  # computed once, not per endpoint
    for ids in endpoints_of.values():
        for endpoint_id in ids:
            # inlined, draw for draw: rng.choices(FACTS, weights=[68, 17, 15] / [42, 30, 28])[0]
            managed = FACTS[bisect.bisect(MANAGED_CUM, random_() * 100.0, 0, 2)]
            national = FACTS[bisect.bisect(NATIONAL_CUM, random_() * 100.0, 0, 2)]
            yield endpoint_id, seen_at[below(bits, 7, 3)], managed, national, "sample", "sample"  # randint(0, 6) days


def add_sample_checklists(session: Session, policies: Path, as_of: dt.datetime, *, seed: int = 85) -> int:
    """Write sample checklists, system-host links and protection-management facts; returns statements."""
    cat = in_force(policies, as_of.date())
    endpoints_of: dict[int, list[int]] = {}
    # Core rows, not the ORM's: a million of them.
    for endpoint_id, agency_id in session.connection().execute(select(EndpointRow.id, EndpointRow.agency_id)
                                                               .order_by(EndpointRow.id)).all():
        endpoints_of.setdefault(agency_id, []).append(endpoint_id)
    statements: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    for system in session.scalars(select(SystemRow).where(SystemRow.level.is_not(None)).order_by(SystemRow.code)):
        rng = random.Random(f"{seed}-{system.code}")
        level = system.level or 1
        p_met = P_MET.get(system.plan_deployment, 0.5)
        exemplary = p_met == 1.0
        statements += [_statement(rng, cat, item.id, level, p_met, exemplary, system.id, as_of)
                       for item in cat.applicable(level)]
        own = endpoints_of.get(system.agency_id, [])
        links += [{"system_id": system.id, "endpoint_id": e, "linked_at": as_of}
                  for e in rng.sample(own, min(len(own), rng.randint(2, 6)))]
    # Written as drawn (a generator, not a list of a million dicts): same rows, same order.
    management = _management(random.Random(seed), endpoints_of, as_of)
    # Every statement names every column it may set (None where the ORM insert left one out), so
    # the rows go in a few batches (or one COPY), not one INSERT per change of shape.
    shape = dict.fromkeys(STATEMENT_COLUMNS)
    insert_rows(session, RequirementStatusRow, [{**shape, **row} for row in statements])
    existing = {(system_id, endpoint_id) for system_id, endpoint_id
                in session.execute(select(SystemHostRow.system_id, SystemHostRow.endpoint_id))}
    links = [link for link in links if (link["system_id"], link["endpoint_id"]) not in existing]
    insert_rows(session, SystemHostRow, links)  # loading the sample again keeps the links it made the first time
    insert_values(session, ProtectionManagementRow, MANAGEMENT_COLUMNS, management)
    return len(statements)
