"""Read a reorganisation file (YAML or CSV) into a plan: which old agencies become which new ones, from when.

YAML (merges and splits):

    version: 1
    effective_date: 2025-07-01
    inventories: [bac-kan.yaml]         # optional: inventories brought in, imported in the same transaction
    reorganisations:
      - merge: [X-A, X-B]               # old agencies, retired
        into: X-AB                      # an active agency, or a new one described by `new`
        new: {name: "Xã A B", kind: commune, parent: TN}
      - split: X-C
        parts:
          - {into: X-C1, new: {...}, systems: [..], endpoints: [..], staff: [..], agencies: [..]}
          - {into: X-C2, rest: true}    # everything not listed in another part

CSV (merges only): columns from, into, effective_date and, to create the new agency, into_name,
into_kind, into_parent; rows with the same `into` form one merge.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from secops.errors import InputRowsError, RowError, SecopsError
from secops.i18n import validation_reason
from secops.inventory.readers import _LineLoader, _strip_lines
from secops.models import Code
from secops.yamlsafe import load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewAgency(_Strict):
    name: str = Field(min_length=1, max_length=300)
    kind: str = Field(pattern=r"^[a-z][a-z_]{0,19}$")
    parent: Code | None = None


class Part(_Strict):
    into: Code
    new: NewAgency | None = None
    agencies: list[Code] = Field(default_factory=list)
    systems: list[Code] = Field(default_factory=list)
    endpoints: list[Code] = Field(default_factory=list)
    staff: list[Code] = Field(default_factory=list)
    rest: bool = Field(default=False, description="takes every record of the old agency not listed elsewhere")


class Entry(_Strict):
    row: int = 0
    merge: list[Code] | None = Field(default=None, min_length=1)
    split: Code | None = None
    into: Code | None = None
    new: NewAgency | None = None
    parts: list[Part] = Field(default_factory=list)
    effective_date: dt.date | None = None

    @model_validator(mode="after")
    def _shape(self) -> Entry:
        if (self.merge is None) == (self.split is None):
            raise ValueError("give either `merge: [old codes]` with `into`, or `split: old code` with `parts`")
        if self.merge is not None and (not self.into or self.parts):
            raise ValueError("a merge needs `into` (and no `parts`)")
        if self.split is not None and (len(self.parts) < 2 or self.into or self.new):
            raise ValueError("a split needs at least two `parts` (and no `into`/`new` of its own)")
        if sum(p.rest for p in self.parts) > 1:
            raise ValueError("at most one part may take the rest (`rest: true`)")
        return self

    @property
    def olds(self) -> list[str]:
        return list(self.merge or []) + ([self.split] if self.split else [])

    @property
    def targets(self) -> list[tuple[str, NewAgency | None]]:
        if self.merge is not None:
            return [(self.into or "", self.new)]
        return [(p.into, p.new) for p in self.parts]


class Plan(BaseModel):
    file: str
    entries: list[Entry]
    inventories: list[Path] = Field(default_factory=list)


def _entry(file: str, row: int, data: dict[str, Any], default_date: Any,
           today: dt.date | None = None) -> tuple[Entry | None, list[RowError]]:
    data = {"effective_date": default_date, **data, "row": row}
    if isinstance(data["effective_date"], str) and data["effective_date"].strip().lower() == "today":
        # a try-out (the README's example): the province's today; a real plan gives the decision's date
        from secops.localtime import local_today

        data["effective_date"] = today or local_today()
    try:
        entry = Entry.model_validate(data)
    except ValidationError as exc:
        return None, [RowError(file, row, ".".join(str(p) for p in e["loc"]) or "entry",
                               validation_reason(e)) for e in exc.errors()]
    if entry.effective_date is None:
        return None, [RowError(file, row, "effective_date", "missing (give it per entry or at the top)")]
    return entry, []


def read_yaml_plan(path: Path, today: dt.date | None = None) -> Plan:
    doc = load_yaml(path, _LineLoader)  # bounded: size, nesting, aliases (secops/yamlsafe.py)
    if not isinstance(doc, dict) or not isinstance(doc.get("reorganisations"), list):
        raise SecopsError(f"{path}:1: expected a mapping with a `reorganisations` list")
    unknown = sorted(set(doc) - {"__line__", "version", "effective_date", "inventories", "reorganisations"})
    if unknown:
        raise SecopsError(f"{path}:1: unknown key(s) {', '.join(unknown)}")
    inventories = doc.get("inventories") or []
    if not isinstance(inventories, list) or not all(isinstance(i, str) for i in inventories):
        raise SecopsError(f"{path}: inventories: expected a list of file names")
    entries, errors = [], []
    for item in doc["reorganisations"]:
        if not isinstance(item, dict):
            raise SecopsError(f"{path}: reorganisations: every entry must be a mapping, got {item!r}")
        entry, errs = _entry(str(path), int(item.get("__line__", 0)), _strip_lines(item), doc.get("effective_date"),
                             today)
        errors.extend(errs)
        if entry is not None:
            entries.append(entry)
    if errors:
        raise InputRowsError(errors)
    # Inventory files are named relative to the reorganisation file.
    return Plan(file=str(path), entries=entries, inventories=[path.parent / name for name in inventories])


CSV_COLUMNS = {"from", "into", "effective_date", "into_name", "into_kind", "into_parent"}


def read_csv_plan(path: Path, today: dt.date | None = None) -> Plan:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        if not {"from", "into", "effective_date"} <= header or not header <= CSV_COLUMNS:
            raise SecopsError(f"{path}:1: columns must be from, into, effective_date "
                              "(and optionally into_name, into_kind, into_parent)")
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        first_row: dict[str, int] = {}
        errors: list[RowError] = []
        for record in reader:
            cells = {k: (v or "").strip() for k, v in record.items() if k}
            if not any(cells.values()):
                continue
            if cells["from"] in first_row:
                errors.append(RowError(str(path), reader.line_num, "from", f"agency {cells['from']!r} is mapped "
                                       f"twice (also on row {first_row[cells['from']]})"))
                continue
            first_row[cells["from"]] = reader.line_num
            key = (cells["into"], cells["effective_date"])
            group = groups.setdefault(key, {"row": reader.line_num, "merge": [], "into": cells["into"],
                                            "effective_date": cells["effective_date"] or None})
            group["merge"].append(cells["from"])
            if cells.get("into_name"):
                group["new"] = {"name": cells["into_name"], "kind": cells.get("into_kind") or "",
                                "parent": cells.get("into_parent") or None}
    entries = []
    for group in groups.values():
        row = group.pop("row")
        entry, errs = _entry(str(path), row, group, None, today)
        errors.extend(errs)
        if entry is not None:
            entries.append(entry)
    if errors:
        raise InputRowsError(errors)
    return Plan(file=str(path), entries=entries)


def read_plan(path: Path, today: dt.date | None = None) -> Plan:
    """`today`: the province's date that `effective_date: today` stands for (default: the shipped zone's)."""
    if not path.is_file():
        raise SecopsError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return read_yaml_plan(path, today)
    if suffix == ".csv":
        return read_csv_plan(path, today)
    raise SecopsError(f"{path}: reorganisation files are .yaml, .yml or .csv")
