"""Load the synthetic sample province into a database (one transaction, marked synthetic)."""

from __future__ import annotations

import datetime as dt

from secops.config import bundled
from secops.inventory.importer import write_models
from secops.inventory.sample import generate
from secops.register.sample import sample_assessments
from secops.inventory.upsert import Tally
from secops.requirements.sample import add_sample_checklists
from secops.store.db import Database
from secops.store.tables import MetaRow


def load_sample(db: Database, as_of: dt.datetime, *, endpoints: int = 10_000, seed: int = 85) -> dict[str, Tally]:
    sample = generate(as_of, endpoints=endpoints, seed=seed)
    with db.session() as session:
        rows = {**sample.as_rows(), "assessments": sample_assessments(sample.systems, as_of.date())}
        tallies = write_models(session, rows)  # type: ignore[arg-type]
        session.flush()
        add_sample_checklists(session, bundled("policies"), as_of, seed=seed)  # issue 11
        session.merge(MetaRow(key="synthetic", value="true"))
    return tallies
