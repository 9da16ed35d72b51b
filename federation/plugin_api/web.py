"""The plugin API for server-rendered pages (`register_web_pages`): rendering, the user, labels and maps.

Import it from the modules that build pages only: it loads the templates' machinery (Jinja2), which commands that
serve no page do without. docs/web.md ("Adding pages from a plugin") walks through a page.
"""

from __future__ import annotations

from federation.web import (
    HUB_ROLES,
    NODE_ROLES,
    WebUser,
    current_user,
    language,
    render,
    require_user,
    translate,
    translate_plural,
)
from federation.web.labels import N_
from federation.web.maps import AREA_LEVELS, ChoroplethMap, Level, choropleth, locator
from federation.web.rendering import category_label
from federation.web.validation import explain

__all__ = [
    "AREA_LEVELS",  # the levels a choropleth map draws: region and department
    "HUB_ROLES",  # the roles of the hub's coordinators in the web interface: national, regional
    "NODE_ROLES",  # the roles of a régie's own users in the web interface: admin, staff
    "N_",  # marks a text for translation where it is defined; `translate` translates it when shown
    "ChoroplethMap",  # a map drawn server-side as accessible inline SVG, with its legend and data table
    "Level",  # a map's level: `region` or `department`
    "WebUser",  # the signed-in user of a page: username, role, region (`sees_region`)
    "category_label",  # the label of a field of action in a language
    "choropleth",  # draws a ChoroplethMap of values by region or department
    "current_user",  # the signed-in user or None, for public pages that show more to users
    "explain",  # one API field error as a sentence in the request's language (for forms)
    "language",  # the language of the request: `fr` or `en`
    "locator",  # a department map with one department highlighted: where a régie is
    "render",  # renders a template in the node's layout (language, navigation, CSRF token)
    "require_user",  # the signed-in user if their role is allowed, else the login page or a 403
    "translate",  # a text in the request's language
    "translate_plural",  # a text in the request's language, singular or plural by a count
]
