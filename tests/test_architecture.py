"""The layers of app/ and the arrows between them, checked on the source so a later change cannot
quietly break them.

    core  <-  adapters  <-  runtime  <-  orchestration  <-  cli, gui
    democloud stands alone: it plays an independent server and shares no code with the client.

Every import counts, including the ones under TYPE_CHECKING and inside functions: a lazy import
is still a dependency, and it is how circles sneak in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
QT = ("PySide6", "shiboken6")

# package -> what no module in it may import (prefix match on the dotted name)
RULES = {
    "app.core": (*QT, "httpx", "sqlite3", "keyring", "smtplib", "apprise", "paho",
                 "app.adapters",
                 "app.orchestration", "app.runtime", "app.cli", "app.gui", "app.democloud"),
    "app.adapters": (*QT, "app.orchestration", "app.runtime", "app.cli", "app.gui",
                     "app.democloud"),
    "app.orchestration": (*QT, "app.cli", "app.gui", "app.democloud"),
    "app.runtime": (*QT, "app.orchestration", "app.cli", "app.gui"),
    "app.democloud": ("app.core", "app.adapters", "app.orchestration", "app.runtime", "app.cli",
                      "app.gui", *QT),
}
EDGE_PACKAGES = ("bandwidth", "cloud", "intake", "mail", "mqtt", "notify", "store", "system")


def module_name(path: Path, root: Path = APP) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, package: str = "") -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from pkg import mod` imports the submodule pkg.mod when there is one
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules(root: Path = APP) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def violations(root: Path = APP) -> list[str]:
    found = []
    for name, path in modules(root).items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports = imported_modules(path.read_text(), package)
        for layer, forbidden in RULES.items():
            if name == layer or name.startswith(layer + "."):
                bad = sorted(m for m in imports if m.startswith(forbidden))
                found += [f"{name} imports {m} (forbidden in {layer})" for m in bad]
    return found


def import_cycles(root: Path = APP) -> list[list[str]]:
    known = modules(root)

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports = imported_modules(path.read_text(), package)
        # `from pkg import mod` depends on pkg.mod, not on whatever pkg/__init__ re-exports;
        # a package's own __init__ importing its modules is not a circle.
        imports -= {m.rpartition(".")[0] for m in imports if m in known}
        targets = {resolve(m) for m in imports}
        graph[name] = {t for t in targets if t and t != name}

    # Tarjan's strongly connected components; any with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_layer_imports_what_it_must_not():
    assert violations() == []


def test_no_import_circles():
    assert import_cycles() == []


@pytest.mark.parametrize("name", EDGE_PACKAGES)
def test_each_edge_package_says_what_it_owns(name):
    init = APP / "adapters" / name / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc, f"app/adapters/{name}/__init__.py needs a docstring saying what it owns"


def test_adapters_holds_only_edge_packages():
    loose = sorted(p.name for p in (APP / "adapters").glob("*.py") if p.name != "__init__.py")
    packages = sorted(p.name for p in (APP / "adapters").iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert loose == [] and packages == sorted(EDGE_PACKAGES)


# -- the checks themselves can fail -----------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "app"
    for rel, source in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    return root


def test_the_rule_check_sees_qt_in_the_orchestration(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "orchestration/__init__.py": "",
                            "orchestration/job_engine.py": "def f():\n    import PySide6\n"})
    assert violations(root) == [
        "app.orchestration.job_engine imports PySide6 (forbidden in app.orchestration)"]


def test_the_rule_check_sees_an_adapter_reaching_up(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "adapters/__init__.py": "",
                            "adapters/store.py": "from app.gui import tray\n"})
    assert "app.adapters.store imports app.gui.tray (forbidden in app.adapters)" in \
        violations(root)


def test_the_cycle_check_sees_a_circle_through_a_type_checking_import(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "", "d/__init__.py": "",
        "d/jobs.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from app.d.runtime import Runtime\n",
        "d/runtime.py": "from app.d.scenarios import X\n",
        "d/scenarios.py": "from app.d import jobs\n",
    })
    assert import_cycles(root) == [["app.d.jobs", "app.d.runtime", "app.d.scenarios"]]


def test_relative_imports_are_resolved():
    assert imported_modules("from . import jobs\nfrom .db import x", "app.democloud") >= {
        "app.democloud.jobs", "app.democloud.db"}
