"""`secops evidence profile new FILE`: propose a profile from a sample export's headers.

The proposal starts from the user-mapped profile's Vietnamese and English aliases; headers it
does not know are matched by similarity (difflib) and marked `# CONFIRM`; status words seen in the
sample are mapped with the known words, unknown ones proposed as `unknown` and marked too. The
officer reads the file, corrects it and imports with `--profile the-file.yaml`.
"""

from __future__ import annotations

import difflib
import os
from itertools import islice
from pathlib import Path

import yaml

from secops.errors import SecopsError
from secops.evidence.profiles import Profile, load_profile, norm_header
from secops.evidence.rows import open_table
from secops.textio import Limits

SAMPLE_ROWS = 2000
MAX_WORDS = 40


def _header(rows: list[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    """The first row with at least two filled cells that are not numbers or dates."""
    for index, (_, cells) in enumerate(rows[:10]):
        texts = [c for c in cells if c.strip() and not c.strip()[:1].isdigit()]
        if len(texts) >= 2 and not cells[0].startswith("#"):
            return index, cells
    raise SecopsError("no header row found in the first 10 rows")


def propose(path: Path, policies_dir: Path, encoding: str | None = None) -> tuple[str, list[str]]:
    """(profile YAML text, notes for the officer)."""
    base = load_profile(policies_dir, "user_mapped")
    table = open_table(path, sheets=[], encoding=encoding, limits=Limits())
    rows = list(islice(table.rows, SAMPLE_ROWS))
    if not rows:
        raise SecopsError(f"{path}: empty file")
    try:
        index, header = _header(rows)
    except SecopsError as exc:
        raise SecopsError(f"{path}: {exc}") from exc
    names = [h.strip() for h in header if h.strip()]
    notes: list[str] = []
    fields, used = _map_fields(base, header, rows[index + 1:], notes)
    doc = {
        "version": 1,
        "title": f"{path.stem} (proposed from {path.name}; CONFIRM before use)",
        "draft": True,
        "centrally_managed": True,
        "reports_to_national_platform": None,
        "formats": [table.kind],
        "fields": fields,
        "required": [f for f in ("status", "last_update") if f in fields],
        "console_status": "status" if "status" in fields else None,
        "observed_at": "last_update" if "last_update" in fields else None,
        "date_formats": base.date_formats,
        "timezone": "Asia/Ho_Chi_Minh",
    }
    unused = [h for h in names if h not in used]
    if unused:
        notes.append(f"columns not used: {', '.join(unused)}")
    head = (f"# Proposed by `secops evidence profile new {path.name}` from its headers ({table.label}).\n"
            "# CONFIRM every column and status word below, then import with --profile THIS_FILE.yaml\n"
            "# (or copy it into policies/evidence_profiles/ to make it a named profile).\n")
    return head + "\n".join(f"# note: {n}" for n in notes) + "\n" + yaml.safe_dump(
        doc, allow_unicode=True, sort_keys=False), notes


def _map_fields(base: Profile, header: list[str], body: list[tuple[int, list[str]]],
                notes: list[str]) -> tuple[dict[str, dict[str, object]], set[str]]:
    """Each field of the user-mapped profile to the header's column of that name, or the closest one
    (noted: CONFIRM); status columns with the words seen in the sample."""
    lowered = {norm_header(h): h for h in (h.strip() for h in header) if h}
    fields: dict[str, dict[str, object]] = {}
    used: set[str] = set()
    for field, spec in base.fields.items():
        exact = next((lowered[norm_header(a)] for a in spec.columns if norm_header(a) in lowered), None)
        if exact is None:
            close = difflib.get_close_matches(norm_header(spec.columns[0]),
                                              [k for k in lowered if lowered[k] not in used], n=1, cutoff=0.6)
            if not close:
                notes.append(f"{field}: no column found")
                continue
            exact = lowered[close[0]]
            notes.append(f"{field}: guessed column {exact!r} (CONFIRM)")
        used.add(exact)
        entry: dict[str, object] = {"columns": [exact], "kind": spec.kind}
        if spec.kind == "state":
            entry["values"] = _values(body, header.index(exact), base, field, notes)
        fields[field] = entry
    return fields, used


def _values(body: list[tuple[int, list[str]]], column: int, base: Profile, field: str,
            notes: list[str]) -> dict[str, str]:
    seen: list[str] = []
    for _, cells in body:
        word = " ".join(cells[column].split()).lower() if column < len(cells) else ""
        if word and word not in seen:
            seen.append(word)
        if len(seen) >= MAX_WORDS:
            break
    known = base.fields[field].values
    values: dict[str, str] = {}
    for word in seen:
        values[word] = known.get(word, "unknown")
        if word not in known:
            notes.append(f"{field}: status word {word!r} proposed as unknown (CONFIRM)")
    return values


def write_new(out: Path, text: str) -> None:
    """Create the proposal without following a link or replacing a file (O_EXCL|O_NOFOLLOW)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(out, flags, 0o644)
    except FileExistsError as exc:
        raise SecopsError(f"{out}: already exists; choose another --out") from exc
    except OSError as exc:
        raise SecopsError(f"{out}: cannot create: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
