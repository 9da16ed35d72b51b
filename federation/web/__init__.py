"""The web interface: server-rendered pages for régie staff and coordinators, and the API plugins' pages use.

Plugin pages (see docs/web.md, "Adding pages from a plugin") need only these::

    from federation.web import render, require_user

    user = await require_user(request, roles=("national", "regional"))   # login, role and CSRF checks
    return await render(request, "myplugin/page.html", {"rows": rows})   # layout, language, CSRF token
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from federation.registrations import NavEntry
    from federation.web.auth import check_csrf, csrf_token, current_user, require_user
    from federation.web.i18n_request import language, translate, translate_plural
    from federation.web.rendering import render
    from federation.web.users import HUB_ROLES, NODE_ROLES, WebUser

# Imported on first use (PEP 562), not with the package: commands that only need an inner module
# (`regies user` needs federation.web.users, `regies sync` none) would otherwise import Jinja2 and the page code,
# a few tens of milliseconds at every start.
_EXPORTS = {
    "HUB_ROLES": "federation.web.users",
    "NODE_ROLES": "federation.web.users",
    "NavEntry": "federation.registrations",
    "WebUser": "federation.web.users",
    "check_csrf": "federation.web.auth",
    "csrf_token": "federation.web.auth",
    "current_user": "federation.web.auth",
    "language": "federation.web.i18n_request",
    "render": "federation.web.rendering",
    "require_user": "federation.web.auth",
    "translate": "federation.web.i18n_request",
    "translate_plural": "federation.web.i18n_request",
}
__all__ = [
    "HUB_ROLES",
    "NODE_ROLES",
    "NavEntry",
    "WebUser",
    "check_csrf",
    "csrf_token",
    "current_user",
    "language",
    "render",
    "require_user",
    "translate",
    "translate_plural",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'federation.web' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
