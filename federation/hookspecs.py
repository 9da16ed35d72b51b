"""The hook specifications plugins implement: the whole plugin API of a node, one documented hook each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from federation.plugins import Registry

hookspec = pluggy.HookspecMarker("regies")


@hookspec
def register_service_types(registry: Registry) -> None:
    """Declare the service types this plugin provides.

    Called: once per app, at start-up, while the plugin manager is built.
    Arguments: ``registry`` — call ``registry.add_service_type(ServiceType(...))`` for each type.
    Returns: nothing (the return value is ignored).
    Several plugins: all are called; two plugins registering the same key stop start-up with an error
    naming both.
    Added in: hook API 1.0.
    """


@hookspec
def register_indicators(registry: Registry) -> None:
    """Declare the period-report indicators this plugin contributes.

    Called: once per app, at start-up, after every plugin's ``register_service_types``.
    Arguments: ``registry`` — call ``registry.add_indicator(Indicator(...))`` for each indicator.
    Returns: nothing (the return value is ignored).
    Several plugins: all are called; two plugins registering the same key stop start-up with an error
    naming both.
    Added in: hook API 1.0.
    """
