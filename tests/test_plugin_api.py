"""The plugin API is documented: each exported name has its line in the module and the same line in docs/plugins.md."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = (
    "federation.plugin_api",
    "federation.plugin_api.web",
    "federation.plugin_api.files",
    "federation.plugin_api.network",
    "federation.plugin_api.storage",
)
# An entry of `__all__` with its one line: `    "name",  # what it is`.
DOCUMENTED_EXPORT = re.compile(r'^    "(\w+)",\s+# (.+)$', re.MULTILINE)
LISTED_EXPORT = re.compile(r"^- `(\w+)` — (.+)$", re.MULTILINE)


def documented_exports(module_name: str) -> dict[str, str]:
    module = importlib.import_module(module_name)
    assert module.__file__ is not None
    return dict(DOCUMENTED_EXPORT.findall(Path(module.__file__).read_text(encoding="utf-8")))


def listed_in_docs(module_name: str) -> dict[str, str]:
    """The names docs/plugins.md lists under the module's heading in its "Plugin API" section."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Plugin API\n") :]
    section = section[: section.index("\n## ", 1)]
    heading = f"\n### `{module_name}`\n"
    assert heading in section, f"docs/plugins.md has no heading for {module_name}"
    listing = section[section.index(heading) + len(heading) :]
    listing = listing.split("\n### ", 1)[0]
    return dict(LISTED_EXPORT.findall(listing))


@pytest.mark.parametrize("module_name", MODULES)
def test_every_export_has_its_line(module_name: str) -> None:
    module = importlib.import_module(module_name)
    documented = documented_exports(module_name)
    assert sorted(documented) == sorted(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)


@pytest.mark.parametrize("module_name", MODULES)
def test_docs_list_every_export_with_its_line(module_name: str) -> None:
    assert listed_in_docs(module_name) == documented_exports(module_name)


def test_a_name_is_exported_once() -> None:
    seen: dict[str, str] = {}
    for module_name in MODULES:
        for name in importlib.import_module(module_name).__all__:
            assert name not in seen, f"{name} is exported by {seen.get(name)} and {module_name}"
            seen[name] = module_name
