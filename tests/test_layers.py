"""The package map holds: the layers contract (pyproject [tool.importlinter]) is kept, no module imports
itself through others (no cycles), at most 8 listed exceptions, and every registry of names resolves."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _contract() -> dict:  # type: ignore[type-arg]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["type"] == "layers")


def test_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def test_at_most_eight_exceptions_each_with_its_reason() -> None:
    ignored = _contract()["ignore_imports"]
    assert len(ignored) <= 8, ignored
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for rule in ignored:
        before = text[:text.index(f'"{rule}"')].rstrip().splitlines()
        reason = [line for line in before[-3:] if line.strip().startswith("#")]
        assert reason or before[-1].strip().endswith(","), f"{rule}: no reason written above it"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("secops", exclude_type_checking_imports=True)
    # A package's __init__ that re-exports its modules is not a cycle of ideas: `secops.runs` gathers
    # runs.records for its users, and runs.records never imports the package.
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]


def _resolve(target: str) -> object:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute.removesuffix("()"))


def test_every_command_registered_by_name_resolves() -> None:
    import secops.cli  # noqa: F401  (registers the commands)
    from secops.lazycli import registered

    names = registered()
    assert {"inventory", "inventory sample", "inventory export", "report", "audit", "checks"} <= set(names)
    for name, target in names.items():
        assert callable(_resolve(target)) or _resolve(target) is not None, name


def test_every_stage_resolves_to_a_stage_function() -> None:
    from secops.stages import STAGES, stage_function

    for name in STAGES:
        params = list(inspect.signature(stage_function(name)).parameters)
        assert params[:3] == ["app_state", "run_id", "options"], (name, params)


def test_every_dashboard_section_resolves() -> None:
    from secops.report.sections import PROVIDERS, load_providers

    assert [name for name, _ in load_providers()] == list(PROVIDERS)


@pytest.mark.parametrize("module", ["secops.grade.cli", "secops.inventory.cli", "secops.collect.cli"])
def test_commands_of_low_packages_import_no_higher_package_at_start(module: str) -> None:
    """The commands run the pipeline's stages by name (secops.stages), not by importing them."""
    done = subprocess.run([sys.executable, "-c", f"import sys, {module}; "
                           "print(sorted(m for m in sys.modules if m in ('secops.pipeline', 'secops.remote.central')))"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_stage_refuses_an_option_it_does_not_know() -> None:
    """Stage options are typed per stage: a misspelt key in a job's options is named, not ignored."""
    from secops.collect.stage import audit_options
    from secops.discover.plan import discover_options
    from secops.errors import SecopsError
    from secops.stages import StageOptions

    with pytest.raises(SecopsError, match="audit options: hostz"):
        audit_options(StageOptions(extra={"hostz": ["a"]}))
    with pytest.raises(SecopsError, match="discover options: profil"):
        discover_options(StageOptions(extra={"profil": "standard"}))
    assert audit_options(StageOptions(extra={"hosts": ["a"], "local": False})).hosts == ["a"]


def test_no_function_above_radon_c() -> None:
    """Cyclomatic complexity (radon) of every function and method of the package is at most C (<= 20)."""
    from radon.complexity import cc_rank, cc_visit

    too_complex = []
    for path in sorted((ROOT / "secops").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for block in cc_visit(path.read_text(encoding="utf-8")):
            if cc_rank(block.complexity) not in "ABC":
                too_complex.append(f"{path.relative_to(ROOT)}:{block.lineno} {block.name} {block.complexity}")
    assert too_complex == []
