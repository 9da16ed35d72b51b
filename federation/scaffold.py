"""`regies plugin new`: writes an installable plugin package with one service type and passing tests."""

from __future__ import annotations

import re
from pathlib import Path

from federation import __version__

NAME_PATTERN = r"^[a-z][a-z0-9_]{1,30}$"

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "regies-{dist_name}"
version = "0.1.0"
description = "Plugin {name} for the Régies de Quartier federation node"
requires-python = ">=3.11"
dependencies = ["regies-federation>={core_version}"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-aiohttp>=1.0"]

# This line is what makes the node find the plugin.
[project.entry-points."regies.plugins"]
{name} = "regies_{name}"

[tool.setuptools]
packages = ["regies_{name}"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
# Said explicitly: pytest-asyncio warns (PytestDeprecationWarning) when this is left unset.
asyncio_default_fixture_loop_scope = "function"
"""

README = """\
# regies-{dist_name}

A plugin for the Régies de Quartier federation node, adding the service type `{name}_activity`.

```sh
pip install -e '.[test]'      # in the node's virtual environment
regies plugins                # the plugin '{name}' is listed
python -m pytest              # its tests
```

Switch it off with `[plugins] disabled = ["{name}"]` in the node's regies.toml, or
`REGIES_DISABLED_PLUGINS={name}`. See the node's docs/plugins.md for every hook.
"""

MODULE = """\
\"\"\"Plugin {name}: adds the service type `{name}_activity` (edit me: say what your plugin provides).

To add a service type, append its details model, its ServiceType and its indicators to this module
(the node's docs/plugins.md, "A second service type"): the hooks below read SERVICE_TYPES and INDICATORS
when the node starts.
\"\"\"

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The plugin API: the whole of the node a plugin imports (the node's docs/plugins.md, "Plugin API").
from federation.plugin_api import Category, Indicator, Registry, ServiceType, hookimpl, match_service_type_label

__version__ = "0.1.0"
REGIES_HOOK_API = ">=2.0,<3"


class {class_name}Details(BaseModel):
    \"\"\"What an activity of this type records in its `details`.

    `title` is the field's label on the back-office forms (in French: the pages are), `description` its hint.
    \"\"\"

    model_config = ConfigDict(extra="forbid")

    participants: int | None = Field(None, ge=0, title="Participants", description="Nombre de participants")
    sessions: int | None = Field(None, ge=0, title="Séances", description="Nombre de séances")


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="{name}_activity",
        category=Category.NEW_SERVICES,
        label_fr="Activité {name}",
        label_en="{name} activity",
        details_model={class_name}Details,
        indicators=("{name}_participants",),
        description="Décrivez ce service en une phrase (à modifier).",
    ),
)
INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="{name}_participants",
        label_fr="Participants ({name})",
        label_en="Participants ({name})",
        source="computed",
        service_type="{name}_activity",
        details_field="participants",
    ),
)


@hookimpl
def register_service_types(registry: Registry) -> None:
    for service_type in SERVICE_TYPES:
        registry.add_service_type(service_type)


@hookimpl
def register_indicators(registry: Registry) -> None:
    for indicator in INDICATORS:
        registry.add_indicator(indicator)


@hookimpl
def service_type_for_label(label: str, category: str | None) -> str | None:
    return match_service_type_label(label, category, SERVICE_TYPES)
"""

TEST = """\
\"\"\"Tests of plugin {name}, using the node's pytest fixtures (federation.testing).

They hold for every service type the plugin declares in SERVICE_TYPES, so they stay green as it grows.
\"\"\"

from __future__ import annotations

import regies_{name}

PLUGIN = [("{name}", regies_{name})]
ACTIVITY = {{
    "category": "new_services",
    "service_type": "{name}_activity",
    "title": "Première séance",
    "details": {{"participants": 12, "sessions": 1}},
}}


async def test_activity_of_the_new_type_is_accepted(regies_client):
    client = await regies_client(PLUGIN)
    response = await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)
    assert response.status == 201, await response.text()
    assert (await response.json())["details"] == {{"participants": 12, "sessions": 1}}


async def test_invalid_details_are_refused(regies_client):
    client = await regies_client(PLUGIN)
    body = {{**ACTIVITY, "details": {{"participants": -1}}}}
    response = await client.post("/api/v1/activities", json=body, headers=client.regies_auth)
    assert response.status == 422
    assert [error["pointer"] for error in (await response.json())["errors"]] == ["/details/participants"]


async def test_every_service_type_and_indicator_is_listed(regies_client):
    client = await regies_client(PLUGIN)
    listed = await (await client.get("/api/v1/service-types")).json()
    assert {{item["key"] for item in listed["items"]}} == {{kind.key for kind in regies_{name}.SERVICE_TYPES}}
    indicators = await (await client.get("/api/v1/indicators")).json()
    keys = {{item["key"] for item in indicators["items"]}}
    assert {{indicator.key for indicator in regies_{name}.INDICATORS}} <= keys


def test_details_fields_have_french_labels():
    \"\"\"Forms label a details field with its `title` (Field(title=...)); without one they show its key.\"\"\"
    for kind in regies_{name}.SERVICE_TYPES:
        untitled = [name for name, field in kind.details_model.model_fields.items() if not field.title]
        assert untitled == [], f"{{kind.key}}: give these fields a French Field(title=...): {{untitled}}"
"""


def scaffold_plugin(name: str, directory: Path) -> Path:
    """Write the package `regies-<name>/` under `directory` and return its path."""
    if not re.match(NAME_PATTERN, name):
        raise ValueError(f"plugin name '{name}' must be 2–31 lowercase letters, digits or '_', starting with a letter")
    dist_name = name.replace("_", "-")
    root = directory / f"regies-{dist_name}"
    if root.exists():
        raise ValueError(f"{root} already exists; choose another name or directory")
    values = {
        "name": name,
        "dist_name": dist_name,
        "class_name": "".join(part.capitalize() for part in name.split("_")),
        "core_version": __version__,
    }
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        root / f"regies_{name}" / "__init__.py": MODULE,
        root / "tests" / f"test_{name}.py": TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
