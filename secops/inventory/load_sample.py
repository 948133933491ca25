"""Load the synthetic sample province into a database (one transaction, marked synthetic).

The sample is generated and written part by part (endpoints in chunks, bulk inserts): memory
stays bounded at a million endpoints, and a failure anywhere still writes nothing.
"""

from __future__ import annotations

import datetime as dt

from secops.inventory.importer import write_models
from secops.inventory.sample import stream
from secops.inventory.upsert import Tally
from secops.register.sample import sample_assessments
from secops.store.db import Database
from secops.store.tables import MetaRow


def _add(tallies: dict[str, Tally], entity: str, step: Tally) -> None:
    tallies[entity] = Tally(**{k: getattr(tallies[entity], k) + getattr(step, k) for k in Tally.model_fields})


def load_sample(db: Database, as_of: dt.datetime, *, endpoints: int = 10_000, seed: int = 85) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {name: Tally() for name in ("agencies", "systems", "endpoints", "staff")}
    with db.session() as session:
        systems: list = []  # type: ignore[type-arg]
        for entity, rows in stream(as_of, endpoints=endpoints, seed=seed):
            _add(tallies, entity, write_models(session, {entity: rows})[entity])
            if entity == "systems":
                systems = rows
        assessments = sample_assessments(systems, as_of.date())
        tallies["assessments"] = write_models(session, {"assessments": assessments})["assessments"]  # type: ignore[dict-item]
        session.merge(MetaRow(key="synthetic", value="true"))
    return tallies
