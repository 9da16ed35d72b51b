"""regies-federation: the node server of the Régies de Quartier et de Territoire network."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"
SCHEMA_VERSION = "v1"

# Plugin authors mark their hook implementations with this: `from federation import hookimpl`.
hookimpl = pluggy.HookimplMarker("regies")

__all__ = ["SCHEMA_VERSION", "__version__", "hookimpl"]
