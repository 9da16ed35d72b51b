"""The web interface: server-rendered pages for régie staff and coordinators, and the API plugins' pages use.

Plugin pages (see docs/web.md, "Adding pages from a plugin") need only these::

    from federation.web import render, require_user

    user = await require_user(request, roles=("national", "regional"))   # login, role and CSRF checks
    return await render(request, "myplugin/page.html", {"rows": rows})   # layout, language, CSRF token
"""

from __future__ import annotations

from federation.plugins import NavEntry
from federation.web.auth import check_csrf, csrf_token, current_user, require_user
from federation.web.i18n_request import language, translate, translate_plural
from federation.web.rendering import render
from federation.web.users import HUB_ROLES, NODE_ROLES, WebUser

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
