"""docs/cloud-api.md section 14 names a test for every answer: each named test must exist, so
the table cannot point at something deleted or renamed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_TESTS = "tests/democloud/test_contract_answers.py"


def _section_14() -> str:
    text = (ROOT / "docs" / "cloud-api.md").read_text(encoding="utf-8")
    start = text.index("## 14. Questions an implementer asks")
    return text[start:text.index("\n## ", start + 5)]


def _functions(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_answer_names_a_test_that_exists():
    rows = [line for line in _section_14().splitlines()
            if line.startswith("| ") and not line.startswith(("| Question", "|---"))]
    assert len(rows) >= 13
    for row in rows:
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        names = re.findall(r"`([^`]+)`", cell)
        assert names, f"no test named for: {row[:60]}"
        for name in names:
            if name.startswith("test_") and "::" not in name and "/" not in name:
                assert name in _functions(CONTRACT_TESTS), name
                continue
            path, _, function = name.partition("::")
            assert (ROOT / path).exists(), path
            if function:
                assert function in _functions(path), name
