"""Load the synthetic sample province into a database (one transaction, marked synthetic)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from secops.config import bundled
from secops.errors import SecopsError
from secops.i18n import _
from secops.inventory.history import add_link
from secops.inventory.importer import write_models
from secops.inventory.upsert import Tally
from secops.inventory.validate import second_province
from secops.requirements.tables import ProtectionManagementRow, RequirementStatusRow, SystemHostRow
from secops.sample.province import FORMER_PROVINCES, MERGED_ON, PROVINCE, stream
from secops.sample.register import sample_assessments
from secops.sample.requirements import add_sample_checklists
from secops.sample.write import none_stored, write_part
from secops.store.bulk import bulk_load, deferred_foreign_keys, deferred_indexes
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, MetaRow, StaffRow


def _add(tallies: dict[str, Tally], entity: str, step: Tally) -> None:
    tallies[entity] = Tally(**{k: getattr(tallies[entity], k) + getattr(step, k) for k in Tally.model_fields})


# The big tables: when one is empty (a sample into a new database), its plain secondary indexes are
# built once at the end of the load rather than row by row (secops.store.bulk.deferred_indexes) and,
# on PostgreSQL, its foreign keys checked once, in bulk (deferred_foreign_keys).
DEFERRED = (EndpointRow, EvidenceRow, StaffRow, SystemHostRow, RequirementStatusRow, ProtectionManagementRow)


def load_sample(db: Database, as_of: dt.datetime, *, endpoints: int = 10_000, seed: int = 85) -> dict[str, Tally]:
    """Generated and written part by part (endpoints in chunks, bulk inserts): memory stays
    bounded at a million endpoints, and a failure anywhere still writes nothing."""
    tallies: dict[str, Tally] = {name: Tally() for name in ("agencies", "systems", "endpoints", "staff")}
    with db.session() as session:
        roots = list(session.scalars(select(AgencyRow.code).where(AgencyRow.parent_id.is_(None),
                                                                    AgencyRow.retired_at.is_(None))))
    reason = second_province(PROVINCE[0], roots)
    if reason:
        raise SecopsError(f"the sample province {PROVINCE[0]} is not loaded: {reason}")
    with db.session() as session, bulk_load(session, analyze=DEFERRED), deferred_indexes(session, DEFERRED), \
            deferred_foreign_keys(session, DEFERRED):
        systems: list[Any] = []
        fresh = none_stored(session)  # then no chunk's codes need looking up
        for entity, rows in stream(as_of, endpoints=endpoints, seed=seed):
            _add(tallies, entity, write_part(session, entity, rows, fresh=fresh))  # endpoints as stored
            if entity == "systems":
                systems = rows
        assessments = sample_assessments(systems, as_of.date())
        written = write_models(session, {"assessments": assessments})  # type: ignore[dict-item]
        tallies["assessments"] = written["assessments"]
        session.flush()
        add_sample_checklists(session, bundled("policies"), as_of, seed=seed)
        session.merge(MetaRow(key="synthetic", value="true"))
        add_former_provinces(session)
    return tallies


def add_former_provinces(session: Session) -> None:
    """The sample province was formed on 1 July 2025 from two former provinces: kept retired, linked."""
    root = session.scalar(select(AgencyRow).where(AgencyRow.code == PROVINCE[0]))
    assert root is not None
    for code, name in FORMER_PROVINCES:
        former = session.scalar(select(AgencyRow).where(AgencyRow.code == code))
        if former is None:
            former = AgencyRow(code=code, name=name, kind="province", parent_id=None, retired_at=MERGED_ON,
                               retired_reason="sáp nhập tỉnh từ 1/7/2025 (Nghị quyết 202/2025/QH15)")
            session.add(former)
            session.flush()
        add_link(session, former.id, root.id, "merge", MERGED_ON, "sample")


def describe_sample(db: Database) -> str:
    """One line on the sample's shape, for the demo: two tiers, and the provinces it was formed from."""
    with db.session() as session:
        kinds = dict(session.execute(select(AgencyRow.kind, func.count()).where(AgencyRow.retired_at.is_(None))
                                     .group_by(AgencyRow.kind)).all())
        former = session.scalars(select(AgencyRow.name).where(AgencyRow.code.in_([c for c, _ in FORMER_PROVINCES]))).all()
    words = {"department": _("department"), "ward": _("ward"), "commune": _("commune"), "special_zone": _("special zone")}
    units = ", ".join(f"{words[k]}: {kinds[k]}" for k in words if kinds.get(k))
    return _("{province}: two tiers ({units} directly under the province); formed on {date} from {former}").format(
        province=PROVINCE[1], units=units, date=MERGED_ON.isoformat(), former=" + ".join(former))
