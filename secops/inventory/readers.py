"""Read inventory files (YAML or CSV) into raw rows that remember where they came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from secops.errors import SecopsError
from secops.i18n import _
from secops.textio import detect_format, input_errors, iter_rows
from secops.textsafe import restore_cell
from secops.yamlsafe import BoundedSafeLoader, load_yaml

EntityName = Literal["agencies", "systems", "endpoints", "staff", "assessments"]
ENTITIES: tuple[EntityName, ...] = ("agencies", "systems", "endpoints", "staff", "assessments")
# In CSV, nested endpoint protection evidence is flattened into protection_* columns.
NESTED_PREFIXES = {"protection_": "protection"}


@dataclass
class RawRow:
    entity: EntityName
    file: str
    row: int  # line number in the file (CSV header is line 1)
    data: dict[str, Any]


class _LineLoader(BoundedSafeLoader):
    """SafeLoader that records the line of every mapping, for `file:row:` errors."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)  # type: ignore[assignment]
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def read_yaml(path: Path) -> list[RawRow]:
    doc = load_yaml(path, _LineLoader)
    if not isinstance(doc, dict):
        raise SecopsError(_("{path}:1: expected a mapping with keys {items}").format(
                              path=path, items=', '.join(ENTITIES)))
    unknown = sorted(set(doc) - set(ENTITIES) - {"__line__", "version"})
    if unknown:
        raise SecopsError(_("{path}:1: unknown section(s) {items}; expected {items2}").format(
                              path=path, items=', '.join(unknown), items2=', '.join(ENTITIES)))
    rows: list[RawRow] = []
    for entity in ENTITIES:
        items = doc.get(entity) or []
        if not isinstance(items, list):
            raise SecopsError(_("{path}:{line}: {entity}: expected a list").format(
                                  path=path, line=doc.get('__line__', 1), entity=entity))
        for item in items:
            if not isinstance(item, dict):
                raise SecopsError(_("{path}: {entity}: every entry must be a mapping, got {item}").format(
                                      path=path, entity=entity, item=repr(item)))
            rows.append(RawRow(entity, str(path), int(item.get("__line__", 0)), _strip_lines(item)))
    return rows


def entity_from_name(path: Path) -> EntityName | None:
    stem = path.stem.lower()
    for entity in ENTITIES:
        if stem == entity or stem.endswith((f"_{entity}", f"-{entity}")):
            return entity
    return None


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        for prefix, nested in NESTED_PREFIXES.items():
            if key.startswith(prefix):
                if value is not None:
                    out.setdefault(nested, {})[key[len(prefix):]] = value
                break
        else:
            out[key] = value
    return out


def read_csv(path: Path, entity: EntityName | None) -> list[RawRow]:
    entity = entity or entity_from_name(path)
    if entity is None:
        raise SecopsError(_("{path}: cannot tell what the CSV holds; name it agencies.csv, systems.csv, endpoints.csv, "
                            "staff.csv or assessments.csv, or pass --kind").format(path=path))
    # secops.textio: BOM/UTF-16 detection, delimiter sniffing, bounded streaming (Excel writes all of these).
    fmt = detect_format(path, encoding_option=False)  # inventory import has no --encoding
    rows_iter = iter_rows(path, fmt)
    first = next(rows_iter, None)
    if first is None or not any(c.strip() for c in first[1]):
        raise SecopsError(_("{path}:1: empty file or no header row").format(path=path))
    header = [h.strip() for h in first[1]]
    rows = []
    for line, cells in rows_iter:
        if len(cells) > len(header):
            raise SecopsError(_("{path}:{line}: more cells than header columns").format(path=path, line=line))
        cleaned = {k: (restore_cell(v.strip()) or None) for k, v in zip(header, cells, strict=False)}
        if all(v is None for v in cleaned.values()):
            continue
        # An empty cell means "not given", so the model's default applies (e.g. role, is_head).
        given = {k: v for k, v in cleaned.items() if v is not None}
        rows.append(RawRow(entity, str(path), line, _unflatten(given)))
    return rows


def read_file(path: Path, entity: EntityName | None = None) -> list[RawRow]:
    if not path.is_file():
        raise SecopsError(_("{path}: file not found").format(path=path))
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return read_yaml(path)
    if suffix == ".csv":
        with input_errors(path):  # undecodable bytes, NULs: `file: reason`, not a traceback
            return read_csv(path, entity)
    raise SecopsError(_("{path}: unsupported format {value}; use .yaml, .yml or .csv").format(
                          path=path, value=suffix or '(none)'))
