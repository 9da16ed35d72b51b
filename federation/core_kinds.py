"""The core's internal plugin that registers its five record kinds through `register_record_kinds`, the hook every
plugin declaring a kind implements (as datasette's default plugins use datasette's own hooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from federation import hookimpl
from federation.schema.records import RECORD_KINDS

if TYPE_CHECKING:
    from federation.registry import Registry

# Registered by every plugin manager under this name, before any other plugin; not listed among the plugins.
NAME = "regies.core_kinds"


@hookimpl
def register_record_kinds(registry: Registry) -> None:
    for kind in RECORD_KINDS.values():
        registry.add_record_kind(kind)
