"""The floors of the house, read from the code (see docs/architecture.md).

Every module of `early_warning` sits on one floor. A module may import from its own
floor and from the floors below, never from a floor above; the pure core and the store
stand side by side on the first floor and never import each other. A private name
(`_x`) is never taken from another module, and there is no import cycle. Imports are
read with `ast`, so a lazy import inside a function counts like one at the top (it
still points where it points); only `if TYPE_CHECKING:` blocks are left out.

EXEMPT would name a violation accepted for a while, one line each with the reason; the
move of issue 15 emptied it. A fixed violation must leave EXEMPT (the test says so).
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "early_warning"

# Floors from the ground up, and the modules on each (a package name covers its
# submodules unless a longer name is listed). The rank orders the floors; two floors
# of the same rank (core and store) do not see each other.
FLOORS: dict[str, tuple[int, tuple[str, ...]]] = {
    "base": (
        0,
        (
            "early_warning",
            "errors",
            "clock",
            "periods",
            "config",
            "catalog",
            "theatres",
            "files",
            "lazy",
            "numbers",
        ),
    ),
    "core": (
        1,
        (
            "scoring",
            "panel",
            "forecast",
            "alerts.rules",
            "alerts.signals",
            "alerts.states",
            "alerts.records",
            "alerts.warning",
            "alerts.skill",
        ),
    ),
    "store": (1, ("store",)),
    "io": (2, ("ingest", "alerts.mail")),
    "services": (3, ("services", "alerts")),
    "report": (4, ("report", "pipeline")),
    "faces": (5, ("cli", "web", "daemon", "demo", "__main__")),
}

# Violations accepted for a while, each "importer -> imported" with a comment saying why.
EXEMPT: set[str] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a module of early_warning
    names: tuple[str, ...]
    line: int
    top_level: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def short(module: str) -> str:
    return module.removeprefix("early_warning.") if module != "early_warning" else module


def floor_of(module: str) -> str:
    name, best = short(module), ("", -1)
    for floor, (_, prefixes) in FLOORS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best[1]:
                best = (floor, len(prefix))
    if not best[0]:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS and the map")
    return best[0]


def may_import(here: str, there: str) -> bool:
    """Own floor, or a floor of lower rank; never a sibling of the same rank."""
    return here == there or FLOORS[there][0] < FLOORS[here][0]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, top: bool):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            continue
        inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield child, top
        yield from _walk(child, inner)


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node, top in _walk(ast.parse(path.read_text(encoding="utf-8")), True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "early_warning":
                    found.append(Import(module, alias.name, (), node.lineno, top))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "early_warning":
                continue
            names = tuple(a.name for a in node.names)
            submodules = [n for n in names if f"{target}.{n}" in known]
            for name in submodules:  # `from . import x` names a module
                found.append(Import(module, f"{target}.{name}", (), node.lineno, top))
            rest = tuple(n for n in names if n not in submodules)
            if rest or not submodules:
                found.append(Import(module, target, rest, node.lineno, top))
    return found


def all_imports() -> list[Import]:
    return _imports_under(SRC)


@functools.cache
def _imports_under(src: Path) -> list[Import]:
    # Parsed once per tree (SRC is `src` here; the planted test swaps in its own copy).
    known = modules()
    return [i for m, p in known.items() for i in imports_of(m, p, known)]


def violations() -> dict[str, str]:
    """Every breach of the rules, keyed "importer -> imported", with what it breaks."""
    found: dict[str, list[str]] = {}
    for imp in all_imports():
        key = f"{short(imp.importer)} -> {short(imp.imported)}"
        reasons = found.setdefault(key, [])
        if imp.importer.startswith(imp.imported + "."):
            # A module inside a package taking names from the package's own __init__.
            if any(not n.startswith("__") for n in imp.names):
                reasons.append(f"line {imp.line}: takes names from its own package")
            continue
        here, there = floor_of(imp.importer), floor_of(imp.imported)
        if not may_import(here, there):
            reasons.append(f"line {imp.line}: {here} imports {there}")
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private:
            reasons.append(f"line {imp.line}: takes private {', '.join(private)}")
    for key, reason in heavy_package_inits():
        found.setdefault(key, []).append(reason)
    for component in cycles():
        found[" <-> ".join(short(m) for m in component)] = ["import cycle"]
    return {k: "; ".join(dict.fromkeys(v)) for k, v in found.items() if v}


def heavy_package_inits() -> list[tuple[str, str]]:
    """Imports a package init makes that one of its own modules may not make.

    Importing `scoring.index` runs `scoring/__init__` first: an init that imports the
    store drags the store into every pure module under it. A package holding several
    floors re-exports the higher ones lazily (PEP 562 `__getattr__`).
    """
    known, found, imports = modules(), [], all_imports()
    for package, path in known.items():
        if path.name != "__init__.py":
            continue
        parts = [m for m in known if m.startswith(package + ".")]
        for imp in imports:
            if imp.importer == package and imp.top_level:
                for part in parts:
                    if part != imp.imported and not may_import(
                        floor_of(part), floor_of(imp.imported)
                    ):
                        key = f"{short(package)} -> {short(imp.imported)}"
                        found.append((key, f"line {imp.line}: runs on import of {short(part)}"))
                        break
    return found


def cycles() -> list[list[str]]:
    """The modules that import each other round a loop (strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if not imp.importer.startswith(imp.imported + "."):  # a package runs before its parts
            graph.setdefault(imp.importer, set()).add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan (1972)
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_every_module_is_on_a_floor() -> None:
    for module in modules():
        floor_of(module)


def test_no_import_points_up_takes_a_private_name_or_closes_a_cycle() -> None:
    found = violations()
    new = {k: v for k, v in found.items() if k not in EXEMPT}
    assert not new, "imports that break the floors:\n" + "\n".join(
        f"  {k}  ({v})" for k, v in sorted(new.items())
    )


def test_an_exemption_leaves_when_its_violation_is_fixed() -> None:
    gone = EXEMPT - set(violations())
    assert not gone, "fixed, so remove from EXEMPT:\n" + "\n".join(sorted(gone))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..store import Store", "core imports store"),
        ("from ..cli import main", "core imports faces"),
        ("from ..ingest.readers import _Splitter", "takes private _Splitter"),
    ],
)
def test_the_checker_sees_a_breach(tmp_path: Path, source: str, expected: str) -> None:
    # The rules themselves, on a module planted in a copy of the tree.
    import shutil

    global SRC
    copy = tmp_path / "early_warning"
    shutil.copytree(SRC, copy)
    (copy / "scoring" / "planted.py").write_text(source + "\n", encoding="utf-8")
    saved, SRC = SRC, copy
    try:
        found = violations()
    finally:
        SRC = saved
    assert any(k.startswith("scoring.planted ->") and expected in v for k, v in found.items())


# -- light imports ----------------------------------------------------------------------


def _modules_loaded(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_the_vocabulary_loads_without_the_science() -> None:
    # Every subprocess and every `status` used to pay for pandas through the root.
    loaded = _modules_loaded("import early_warning.errors, early_warning.periods")
    assert not loaded & {"pandas", "numpy", "sqlite_utils", "matplotlib", "apscheduler"}


def test_version_lists_under_150_modules() -> None:
    # The issue's own measure: `python -X importtime -m early_warning --version`.
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "early_warning", "--version"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stdout.startswith("early-warning, version ")
    listed = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    assert len(listed) - 1 < 150, f"{len(listed) - 1} modules"  # minus the header line


def test_the_public_api_resolves_lazily() -> None:
    import early_warning as ew

    for name in ew.__all__:
        assert getattr(ew, name) is not None, name
    assert callable(ew.ingest)  # the function, even once the `ingest` package is loaded
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ew.nope  # noqa: B018


def test_every_exception_is_in_the_one_tree() -> None:
    # errors.py documents the tree at its top; a class defined elsewhere would not be.
    # A private class (`_CannotEdit`) is a signal caught inside its own module, which
    # the private-name rule above keeps from travelling; it never reaches a user.
    outside = []
    for module, path in modules().items():
        if short(module) == "errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ClassDef)
                and not node.name.startswith("_")
                and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
                    for b in node.bases
                )
            ):
                outside.append(f"{short(module)}:{node.lineno} {node.name}")
    assert not outside, outside
    from early_warning import errors

    documented = errors.__doc__ or ""
    for name in errors.__all__:
        assert f" {name} " in documented, f"{name} is missing from the tree in errors.py"
