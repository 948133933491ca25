"""Parse YAML from files nobody vouches for, within fixed bounds on size, nesting and aliases.

`yaml.safe_load` refuses to build arbitrary objects but not to expand aliases: a 1 KB file with
nine nested anchors ("billion laughs") describes 10^9 nodes, which every later step that walks
the data (line tagging, pydantic, the importer) materialises. The loader here counts, while it
composes, how many nodes the document stands for once every alias is expanded, and how deep it
nests, and stops with `file: reason` as soon as either passes its bound. Legitimate files
(Wazuh SCA policies reuse a few anchors) stay far below the bounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from secops.errors import SecopsError
from secops.i18n import _

MAX_BYTES = 32 * 1024 * 1024  # the largest real input (a Windows SCA policy) is ~1.2 MB
MAX_DEPTH = 64  # nesting levels; real files use fewer than 10
MAX_EXPANDED_NODES = 2_000_000  # nodes after alias expansion; a 1 MB SCA file has ~60k
MAX_ALIASES = 10_000


class YamlBoundError(yaml.YAMLError):
    """The document passes a bound: too deep, too many aliases, or too large once expanded."""

    def __init__(self, problem: str, mark: yaml.Mark | None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents that are too deep or expand too far through aliases."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        is_alias = self.check_event(AliasEvent)
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # PyYAML has no annotations here
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlBoundError(f"nested more than {MAX_DEPTH} levels deep", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if is_alias and node is not None:
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlBoundError(f"more than {MAX_ALIASES} aliases (*name)", mark)
            self._expanded += self._size(node)
        else:
            self._expanded += 1
        if self._expanded > MAX_EXPANDED_NODES:
            raise YamlBoundError(f"aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                                 "(an alias bomb?)", mark)
        return node

    def _size(self, node: Node) -> int:
        """Number of nodes `node` stands for with its aliases expanded (memoised: linear time)."""
        key = id(node)
        if key not in self._sizes:
            self._sizes[key] = 0  # a recursive alias (&a [*a]) counts once instead of looping
            total = 1
            if isinstance(node, SequenceNode):
                total += sum(self._size(child) for child in node.value)
            elif isinstance(node, MappingNode):
                total += sum(self._size(k) + self._size(v) for k, v in node.value)
            self._sizes[key] = total
        return self._sizes[key]


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """A text file's contents as UTF-8, refusing oversized, unreadable or binary files."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise SecopsError(_("{path}: file not found").format(path=path)) from exc
    except IsADirectoryError as exc:
        raise SecopsError(_("{path}: is a folder, expected a file").format(path=path)) from exc
    except OSError as exc:
        raise SecopsError(_("{path}: cannot read: {value}").format(path=path, value=exc.strerror or exc)) from exc
    if len(data) > max_bytes:
        raise SecopsError(_("{path}: larger than {value} MB; refusing to read it").format(
                              path=path, value=max_bytes // (1024 * 1024)))
    if b"\x00" in data[:8192]:
        raise SecopsError(_("{path}: binary data, not a text file").format(path=path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SecopsError(_("{path}: not UTF-8 text (byte {start}: {reason})").format(
                              path=path, start=exc.start, reason=exc.reason)) from exc


def yaml_error(path: Path | str, exc: yaml.YAMLError) -> SecopsError:
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}" if mark else ""
    return SecopsError(_("{path}{where}: not valid YAML: {value}").format(
                           path=path, where=where, value=getattr(exc, 'problem', None) or exc))


def load_yaml(path: Path, loader: type[BoundedSafeLoader] = BoundedSafeLoader) -> Any:
    """Parse one YAML file with the bounded loader; every failure is `file[:line]: reason`."""
    text = read_text(path)
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from exc
    except RecursionError as exc:  # belt and braces: the depth bound should stop it first
        raise SecopsError(_("{path}: nested too deeply").format(path=path)) from exc
    except (ValueError, OverflowError) as exc:  # e.g. a date like 2026-02-30 that does not exist
        raise SecopsError(_("{path}: not valid YAML: {exc}").format(path=path, exc=exc)) from exc
