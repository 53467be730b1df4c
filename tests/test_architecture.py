"""The layout's rules: imports run one way (model <- experiments <- analysis <- command line and app), never in a circle.

Read from the source with ``ast`` (every import, at module level or inside a function), so a lazy import that
runs back up is caught too. The layers are those of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sim._compat import MOVED

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "dashboards")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "__pycache__" not in p.parts}


MODULES = modules()


def imports_of(name: str) -> set[str]:
    """The project modules ``name`` imports (resolved: relative imports, ``from package import submodule``)."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t.split(".")[0] in PACKAGES:
                out.add(t)
    return out - {name}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> tuple[int, str]:
    """(rank, layer) of a module: an import may only go to a layer of lower or equal rank."""
    if name in ("sim.errors", "sim.paths", "sim.version", "sim._compat", "sim.atomic", "sim.exiting", "sim.files"):
        return 0, "foundation"
    for prefix, rank in (("sim.model", 1), ("sim.experiments", 2), ("sim.analysis", 3), ("sim.cli", 4), ("dashboards", 4)):
        if name == prefix or name.startswith(prefix + "."):
            return rank, prefix
    if name == "sim":
        return 3, "the public API (sim/__init__.py)"
    raise AssertionError(f"{name}: in no layer of docs/ARCHITECTURE.md")


def test_every_module_is_in_a_layer():
    for name in MODULES:
        layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_one_way(name):
    rank, where = layer(name)
    for target in sorted(GRAPH[name]):
        assert target in MODULES or target in MOVED, f"{name} imports {target}, which is not a module of the project"
        assert target not in MOVED or MOVED[target] == target, f"{name} imports the old path {target}; use {MOVED[target]}"
        t_rank, t_where = layer(target)
        assert t_rank <= rank, f"{name} ({where}) imports {target} ({t_where}): imports must run model <- experiments <- analysis <- cli/app"
        if name.startswith("dashboards"):
            assert not target.startswith("sim.cli"), f"{name} imports the command line ({target}); the app must not depend on it"


def test_no_import_cycles():
    """No module reaches itself through its imports (a package importing its own modules is not a cycle back up)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH.get(n, ())):
            if m not in MODULES:
                continue
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(MODULES):
        if n not in state:
            visit(n)


def test_declared_dependencies_are_the_ones_imported():
    """pyproject.toml declares each third-party package the code imports, and nothing it does not need."""
    import re
    import sys
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[\[=<>~ ]", d)[0].lower().replace("-", "_") for d in project["dependencies"] + project["optional-dependencies"]["dev"]}
    import_names = {"pyyaml": "yaml", "dash_bootstrap_components": "dash_bootstrap_components", "salib": "SALib"}
    imported: set[str] = set()
    for path in [*ROOT.joinpath("sim").rglob("*.py"), *ROOT.joinpath("dashboards").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py"),
                 *ROOT.joinpath("benchmarks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    local = {"sim", "dashboards", "conftest", "browser_support", "baseline_cases", "machine", "reference_model", "benchmarks", "mandate_sim_reference_model"}
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in local}
    missing = sorted(m for m in third_party if m.lower() not in {import_names.get(d, d).lower() for d in declared})
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    unused = sorted(d for d in declared if import_names.get(d, d).lower() not in {m.lower() for m in third_party})
    # pyarrow is used by pandas for Parquet (to_parquet/read_parquet), never imported by name; pytest-xdist is the
    # pytest plugin behind `make test`'s `-n 2`.
    assert set(unused) <= {"pyarrow", "pytest_xdist"}, f"declared in pyproject.toml but never imported: {unused}"
