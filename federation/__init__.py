"""regies-federation: the node server of the Régies de Quartier et de Territoire network."""

from __future__ import annotations

import pluggy

from federation.versions import PROTOCOL_VERSION, SCHEMA_VERSION

__version__ = "0.2.0.dev0"

# Plugin authors mark their hook implementations with this: `from federation import hookimpl`.
hookimpl = pluggy.HookimplMarker("regies")

__all__ = ["PROTOCOL_VERSION", "SCHEMA_VERSION", "__version__", "hookimpl"]
