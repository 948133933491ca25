"""Validate raw rows into domain models, including the rules that span rows and the database."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from secops.errors import RowError
from secops.i18n import _, validation_reason
from secops.inventory.kinds import KindPolicy
from secops.inventory.levels import LevelPolicy
from secops.inventory.readers import RawRow
from secops.inventory.regime import Regime, regime_on
from secops.models import Agency, Assessment, Endpoint, InformationSystem, StaffMember

MODELS: dict[str, type[BaseModel]] = {
    "agencies": Agency, "systems": InformationSystem, "endpoints": Endpoint, "staff": StaffMember,
    "assessments": Assessment,
}
OWNER_FIELD = {"systems": "owner", "endpoints": "owner", "staff": "agency"}


@dataclass
class Validated:
    rows: dict[str, list[tuple[RawRow, BaseModel]]] = field(default_factory=lambda: {k: [] for k in MODELS})
    errors: list[RowError] = field(default_factory=list)


def _pydantic(raw: RawRow, today: dt.date) -> tuple[BaseModel | None, list[RowError]]:
    try:
        return MODELS[raw.entity].model_validate(raw.data, context={"today": today}), []
    except ValidationError as exc:
        return None, [RowError(raw.file, raw.row, ".".join(str(p) for p in e["loc"]) or raw.entity,
                               validation_reason(e)) for e in exc.errors()]


def _missing(code: str, retired: dict[str, str], what: str | None = None) -> str:
    what = what or _("agency")
    if code in retired:  # e.g. an old inventory file re-imported after a merge
        return _("{what} {code} is retired ({retired}); use its successor").format(
                   what=what, code=repr(code), retired=retired[code])
    return _("{what} {code} is not in the file or the database").format(what=what, code=repr(code))


def _agency_rules(agency: Agency, kinds: dict[str, str], policy: KindPolicy,
                  retired: dict[str, str]) -> str | None:
    """Which kinds may sit under which comes from policies/agency_kinds.yaml."""
    if agency.kind not in policy.kinds:
        return _("kind {kind} is not in policies/agency_kinds.yaml (one of {items})").format(
                   kind=repr(agency.kind), items=', '.join(policy.kinds))
    if agency.parent is None:
        return None
    parent_kind = kinds.get(agency.parent)
    if parent_kind is None:
        return _missing(agency.parent, retired, _("parent agency"))
    reason = policy.parent_error(agency.kind, parent_kind)
    return _("{reason} ({parent})").format(reason=reason, parent=agency.parent) if reason else None


def _cycle(code: str, parents: dict[str, str | None]) -> bool:
    seen: set[str] = set()
    current: str | None = code
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _key(raw: RawRow) -> tuple[str, str]:
    if raw.entity == "assessments":  # an assessment is one kind of check of one system on one day
        return raw.entity, "/".join(str(raw.data.get(k)) for k in ("system", "kind", "date"))
    return raw.entity, str(raw.data.get("code"))


def _second_root(agency: Agency, roots: list[str]) -> str | None:
    """One inventory holds one province: a second top-level agency breaks every later grade and report."""
    if agency.parent is not None:
        return None
    return second_province(agency.code, roots)


def second_province(code: str, roots: list[str]) -> str | None:
    """Why a new top-level agency `code` is refused when the database holds the top-level `roots`."""
    if code in roots or not roots:
        return None
    return (_("a second top-level agency: the inventory already holds {root}; one database holds one "
              "province (retire the old one with `secops inventory remove agencies {code}`, or merge them "
              "with `secops inventory reorganise`)").format(root=repr(roots[0]), code=roots[0]))


def validate(raw_rows: list[RawRow], known_agencies: dict[str, tuple[str, str | None]],
             levels: LevelPolicy, today: dt.date, known_systems: set[str] | None = None,
             regimes: list[Regime] | None = None, *, kinds: KindPolicy, one_root: bool = True,
             retired: dict[str, str] | None = None) -> Validated:
    """known_agencies: code -> (kind, parent code) of active agencies already in the database;
    known_systems: codes of information systems already in the database;
    retired: code -> reason of retired ones (named in errors)."""
    retired = retired or {}
    out = Validated()
    parsed = _parse_rows(raw_rows, today, out)
    _check_agencies(parsed["agencies"], known_agencies, kinds, retired, one_root, out)
    valid_agencies = set(known_agencies) | {a.code for _, a in out.rows["agencies"]}  # type: ignore[attr-defined]
    for entity in ("systems", "endpoints", "staff"):
        for raw, model in parsed[entity]:
            reason_field, reason = _owned_reason(entity, model, valid_agencies, retired, levels, regimes)
            if reason:
                out.errors.append(RowError(raw.file, raw.row, reason_field, reason))
            else:
                out.rows[entity].append((raw, model))
    valid_systems = (known_systems or set()) | {s.code for _, s in out.rows["systems"]}  # type: ignore[attr-defined]
    for raw, model in parsed["assessments"]:
        if model.system not in valid_systems:  # type: ignore[attr-defined]
            out.errors.append(RowError(raw.file, raw.row, "system",
                                       _("information system {system} is not in the file or the database").format(
                                           system=repr(model.system))))  # type: ignore[attr-defined]
        else:
            out.rows["assessments"].append((raw, model))
    out.errors.sort(key=lambda e: (e.file, e.row))
    return out


def _parse_rows(raw_rows: list[RawRow], today: dt.date, out: Validated) -> dict[str, list[tuple[RawRow, BaseModel]]]:
    """Each row through its pydantic model; duplicates and model errors go to `out.errors`."""
    dupes = Counter(_key(r) for r in raw_rows)
    parsed: dict[str, list[tuple[RawRow, BaseModel]]] = {k: [] for k in MODELS}
    for raw in raw_rows:
        if dupes[_key(raw)] > 1:
            field_name = "code" if raw.entity != "assessments" else "date"
            out.errors.append(RowError(raw.file, raw.row, field_name, _("{key} appears more than once").format(
                                                                          key=repr(_key(raw)[1]))))
            continue
        model, errors = _pydantic(raw, today)
        out.errors.extend(errors)
        if model is not None:
            parsed[raw.entity].append((raw, model))
    return parsed


def _check_agencies(rows: list[tuple[RawRow, BaseModel]], known_agencies: dict[str, tuple[str, str | None]],
                    kinds: KindPolicy, retired: dict[str, str], one_root: bool, out: Validated) -> None:
    """The tree rules over the file's agencies and the database's: kinds, retired codes, one root, no loop."""
    kind_of = {code: kind for code, (kind, _parent) in known_agencies.items()}
    parents = {code: parent for code, (_kind, parent) in known_agencies.items()}
    for _raw, agency in rows:
        kind_of[agency.code], parents[agency.code] = agency.kind, agency.parent  # type: ignore[attr-defined]
    roots = [code for code, (_kind, parent) in known_agencies.items() if parent is None]
    for raw, agency in rows:
        reason = _agency_rules(agency, kind_of, kinds, retired)  # type: ignore[arg-type]
        if agency.code in retired:  # type: ignore[attr-defined]
            # Re-importing an old file after a merge would move records back under a retired agency.
            reason = _("agency {code} is retired ({retired}); remove the row").format(
                         code=repr(agency.code), retired=retired[agency.code])  # type: ignore[attr-defined]
        if reason is None and one_root:
            reason = _second_root(agency, roots)  # type: ignore[arg-type]
            if reason is None and agency.parent is None and agency.code not in roots:  # type: ignore[attr-defined]
                roots.append(agency.code)  # type: ignore[attr-defined]
        if reason is None and _cycle(agency.code, parents):  # type: ignore[attr-defined]
            reason = _("parent chain loops back to this agency")
        if reason:
            out.errors.append(RowError(raw.file, raw.row, "parent", reason))
        else:
            out.rows["agencies"].append((raw, agency))


def _owned_reason(entity: str, model: BaseModel, valid_agencies: set[str], retired: dict[str, str],
                  levels: LevelPolicy, regimes: list[Regime] | None) -> tuple[str, str | None]:
    """(field, reason) why a system, endpoint or staff row is refused: an unknown owner, or a system's
    approver that is not the one the regime in force on its approval date names."""
    owner_field = OWNER_FIELD[entity]
    if getattr(model, owner_field) not in valid_agencies:
        return owner_field, _missing(getattr(model, owner_field), retired)
    if isinstance(model, InformationSystem) and model.approved_by and model.level:
        expected, source = levels.approver(model.level), "policies/levels.yaml"
        if regimes and model.approval_date:  # the approver of the regime in force that day
            regime = regime_on(regimes, model.approval_date)
            expected, source = regime.levels[model.level].approver, f"policies/regimes/{regime.id}.yaml"
        if expected is not None and model.approved_by != expected:
            return "approved_by", _("level {level} is approved by {expected}, not {given} ({source})").format(
                level=model.level, expected=expected.value, given=model.approved_by.value, source=source)
    return owner_field, None
