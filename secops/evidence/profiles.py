"""Import profiles for protection-console exports: one YAML file per product, as data.

A profile names the columns of one console's export (header aliases, case-insensitive), what each
console word means (protected / degraded / unprotected / unknown, or `ignore`), its date formats
and which columns date the observation and the signatures. Profiles live in
policies/evidence_profiles/*.yaml (a site's policies folder may add or override files by name).
`--profile auto` picks the profile whose `recognise` headers all appear in the file's header.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from secops.config import bundled
from secops.errors import SecopsError
from secops.i18n import _
from secops.policyfile import format_validation, read_yaml

Status = Literal["protected", "degraded", "unprotected", "unknown"]
Mapped = Literal["protected", "degraded", "unprotected", "unknown", "ignore"]
IDENTITY = ("hostname", "ip", "mac", "product")
Kind = Literal["text", "xlsx", "xml2003"]


def _text_only() -> list[Kind]:
    return ["text"]
FOLDER = "evidence_profiles"


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1, description="header aliases, first present wins")
    kind: Literal["text", "state", "date", "days"] = "text"
    # state: console word (lower-cased, trimmed) -> status; `ignore` = recorded, does not decide.
    values: dict[str, Mapped] = Field(default_factory=dict)
    # days: values that mean "never" (Defender writes 4294967295 = UInt32 max).
    never: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_need_state(self) -> FieldSpec:
        if self.kind == "state" and not self.values:
            raise ValueError(_("a state field needs values"))
        if self.values and self.kind != "state":
            raise ValueError(_("values are only for kind: state"))
        self.values = {k.strip().lower(): v for k, v in self.values.items()}
        return self


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    name: str = ""  # the file's stem; set on load
    title: str
    product: str | None = None  # stored when the export has no product column
    draft: bool = False  # headers not yet confirmed against a real export
    centrally_managed: bool | None = True
    reports_to_national_platform: bool | None = None
    formats: list[Kind] = Field(default_factory=_text_only)
    sheet: str | None = None  # spreadsheets: the sheet to read (else the first)
    header_search_rows: int = Field(default=10, ge=1, le=50)
    recognise: list[str] = Field(default_factory=list)
    fields: dict[str, FieldSpec]
    required: list[str] = Field(default_factory=list)
    console_status: str | None = None  # the field whose text is stored as the console's status
    observed_at: str | None = None  # the field that dates the observation (else export/import time)
    signature_date: str | None = None  # date of the last signature update
    signature_age: str | None = None  # days since the last signature update
    max_signature_age_days: int = Field(default=7, ge=0)
    date_formats: list[str] = Field(default_factory=list)
    # the console's clock for dates without an offset; none given: the province's (policies/locale.yaml)
    timezone: str | None = None
    am_pm: dict[str, str] = Field(default_factory=dict)  # locale AM/PM words, e.g. SA: AM, CH: PM

    @model_validator(mode="after")
    def _references_exist(self) -> Profile:
        refs = [self.console_status, self.observed_at, self.signature_date, self.signature_age, *self.required]
        for ref in refs:
            if ref is not None and ref not in self.fields:
                raise ValueError(_("{ref} is not one of the fields").format(ref=repr(ref)))
        if "hostname" not in self.fields and "ip" not in self.fields:
            raise ValueError(_("a profile needs a hostname or ip field"))
        return self


def _load(path: Path) -> Profile:
    try:
        profile = Profile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc
    profile.name = path.stem
    return profile


def profile_files(policies_dir: Path) -> dict[str, Path]:
    """Bundled profiles, overridden or extended by the site's policies folder (by file name)."""
    files: dict[str, Path] = {}
    for folder in (bundled("policies") / FOLDER, policies_dir / FOLDER):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                files[path.stem] = path
    return files


def load_profile(policies_dir: Path, name: str) -> Profile:
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return _load(candidate)  # a profile written by `secops evidence profile new`
    files = profile_files(policies_dir)
    if name not in files:
        raise SecopsError(_("unknown profile {name}; known: {items}, or a profile .yaml file").format(
                              name=repr(name), items=', '.join(sorted(files))))
    return _load(files[name])


def load_profiles(policies_dir: Path) -> list[Profile]:
    return [_load(path) for path in profile_files(policies_dir).values()]


def norm_header(text: object) -> str:
    return unicodedata.normalize("NFC", " ".join(str(text or "").replace("\ufeff", "").split()).lower())


def resolve_columns(profile: Profile, header: list[str]) -> tuple[dict[str, int], list[str]]:
    """(field -> column index, missing required fields) for one header row."""
    lowered = [norm_header(h) for h in header]
    found: dict[str, int] = {}
    for name, spec in profile.fields.items():
        for alias in spec.columns:
            if norm_header(alias) in lowered:
                found[name] = lowered.index(norm_header(alias))
                break
    missing = [name for name in profile.required if name not in found]
    if "hostname" not in found and "ip" not in found and not {"hostname", "ip"} & set(missing):
        missing.append("hostname or ip")
    return found, missing


def find_header(profile: Profile, rows: list[tuple[int, list[str]]]) -> int | None:
    """Index in `rows` of the header row (title rows, `#TYPE` lines may come first)."""
    for index, (_line, cells) in enumerate(rows[:profile.header_search_rows]):
        _cols, missing = resolve_columns(profile, cells)
        if not missing:
            return index
    return None


def recognises(profile: Profile, rows: list[tuple[int, list[str]]]) -> bool:
    wanted = {norm_header(h) for h in profile.recognise}
    return bool(wanted) and any(wanted <= {norm_header(c) for c in cells}
                                for _, cells in rows[:profile.header_search_rows])


def choose_profile(profiles: list[Profile], rows: list[tuple[int, list[str]]], kind: str, path: Path) -> Profile:
    """The one profile that recognises the file; fallback profiles (no `recognise`) only when
    no specific one does and exactly one of them finds its required columns."""
    usable = [p for p in profiles if kind in p.formats]
    specific = [p for p in usable if recognises(p, rows)]
    if len(specific) > 1:
        best = max(len(p.recognise) for p in specific)
        specific = [p for p in specific if len(p.recognise) == best]
    if len(specific) == 1:
        return specific[0]
    if len(specific) > 1:
        raise SecopsError(_("{path}: several profiles recognise this file ({items}); choose one with --profile").format(
                              path=path, items=', '.join(p.name for p in specific)))
    fallback = [p for p in usable if not p.recognise and find_header(p, rows) is not None]
    if len(fallback) == 1:
        return fallback[0]
    names = ", ".join(p.name for p in fallback) if fallback else "none"
    raise SecopsError(_("{path}: no profile recognises this file's headers (fallback candidates: {names}); choose "
                        "one with --profile, or write one with `secops evidence profile new FILE`").format(
                          path=path, names=names))
