"""Dependencies point inward: the core must import no Qt, no httpx and no sqlite3."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "app" / "core"
FORBIDDEN = ("PySide6", "httpx", "sqlite3", "keyring", "app.adapters", "app.gui", "app.democloud")


def imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_from_the_edges(path):
    bad = {m for m in imported_modules(path.read_text()) if m.startswith(FORBIDDEN)}
    assert not bad, f"{path.name} imports {bad}"


def test_the_check_sees_a_forbidden_import():
    assert imported_modules("from PySide6.QtCore import QObject\nimport httpx") == {
        "PySide6.QtCore", "httpx"}
