"""data·inclusion v1: the régie (and, on the hub, every member) as structures and services of the national schema
of the inclusion offer, under /api/v1/datainclusion/ (docs/open-data.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import PluginError, Registry, hookimpl

__version__ = "0.1.0"
REGIES_HOOK_API = ">=1.6,<3"


class DataInclusionSettings(BaseModel):
    """The `[plugins.datainclusion]` table."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "regies",
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="The producer name data·inclusion records as `source`, and the prefix of every id.",
    )


@hookimpl
def register_routes(registry: Registry) -> None:
    from .api import build_routes
    from .mapping import Vocabulary
    from .openapi import datainclusion_paths

    settings = registry.plugin_config(DataInclusionSettings)
    vocabulary = Vocabulary.load()
    # Service types registered first (every plugin's register_service_types runs before any register_routes):
    # a term data·inclusion does not know stops start-up, naming the service type and its plugin.
    for service_type in registry.service_types.values():
        problems = vocabulary.problems(service_type)
        if problems:
            owner = registry.owner("service type", service_type.key)
            raise PluginError(
                f"plugin '{owner}': service type '{service_type.key}' has data·inclusion terms that do not fit: "
                + "; ".join(problems)
            )
    registry.add_api_routes("datainclusion", build_routes(vocabulary, settings.source), openapi=datainclusion_paths())
