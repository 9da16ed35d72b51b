"""docs/reliability.md names the test that proves each guarantee: every one of them must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_every_test_named_in_the_reliability_doc_exists() -> None:
    named = NAMED_TEST.findall(DOC.read_text(encoding="utf-8"))
    assert len(named) >= 30, f"only {len(named)} tests named: the pattern no longer matches the doc"
    missing = [
        f"{file}::{name}"
        for file, name in sorted(set(named))
        if not (ROOT / file).is_file() or name not in _test_functions(ROOT / file)
    ]
    assert missing == [], f"docs/reliability.md names tests that do not exist: {missing}"


def test_the_reliability_doc_is_linked_from_the_readme_and_the_operations_guide() -> None:
    assert "docs/reliability.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "reliability.md" in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
