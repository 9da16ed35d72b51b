"""A plugin adds pages under its own prefix, with the core's layout, login, CSRF check and navigation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from federation import hookimpl
from federation.plugins import build_plugins
from federation.registrations import NavEntry
from federation.registry import PluginError, Registry
from federation.web import render, require_user
from tests.web.conftest import HTML, add_account, csrf_of, log_in, login_target

routes = web.RouteTableDef()


@routes.get("")
async def dashboard(request: web.Request) -> web.StreamResponse:
    user = await require_user(request, roles=("national", "regional"))
    return await render(request, "dashboardplugin/dashboard.html", {"region": user.region or "toutes"})


@routes.post("/validate")
async def validate(request: web.Request) -> web.StreamResponse:
    await require_user(request, roles=("national",))
    raise web.HTTPSeeOther("/dash?validated=1")


class DashboardPlugin:
    def __init__(self, templates: Path) -> None:
        self.templates = templates

    @hookimpl
    def register_web_pages(self, registry: Registry) -> None:
        registry.add_web_pages(
            "/dash",
            routes,
            nav=[NavEntry("/dash", "Tableau national", "National dashboard", ("national", "regional"))],
            templates=self.templates,
        )


def _templates(directory: Path) -> Path:
    (directory / "dashboard.html").write_text(
        '{% extends "base.html" %}{% from "charts.html" import bar_chart with context %}'
        "{% block content %}<h1>Région {{ region }}</h1>"
        '<form method="post" action="/dash/validate"><input type="hidden" name="_csrf" value="{{ csrf_token }}">'
        "<button>{{ _('Log in') }}</button></form>"
        '{{ bar_chart("Activités par domaine", [("Gestion urbaine", 12), ("Médiation", 3)]) }}{% endblock %}'
    )
    return directory


@pytest.fixture
async def hub(aiohttp_client: Any, regies_app_factory: Any, tmp_path: Path, password_hash: str) -> Any:
    app, _ = await regies_app_factory([("dashboardplugin", DashboardPlugin(_templates(tmp_path)))])
    client = await aiohttp_client(app)
    await add_account(app, password_hash, "nadia", "national")
    await add_account(app, password_hash, "rachid", "regional", "84")
    await add_account(app, password_hash, "marie", "staff")
    return client


async def test_register_web_pages(hub: Any) -> None:
    """A plugin page uses the layout, the login and the navigation."""
    assert login_target(await hub.get("/dash", allow_redirects=False)) == "/dash"
    response = await log_in(hub, username="rachid")
    assert response.headers["Location"] == "/dash"  # coordinators land on their first page
    page = await (await hub.get("/dash")).text()
    assert "<h1>Région 84</h1>" in page
    assert '<a href="/dash" aria-current="page">Tableau national</a>' in page
    assert "Se connecter" in page  # the core's catalogue translates the plugin's template
    assert "/admin/activities" not in page  # the régie back-office is not in a coordinator's navigation


async def test_plugin_pages_check_roles_and_csrf(hub: Any) -> None:
    await log_in(hub, username="rachid")
    page = await (await hub.get("/dash")).text()
    refused = await hub.post("/dash/validate", data={"_csrf": csrf_of(page)}, headers=HTML, allow_redirects=False)
    assert refused.status == 403  # a regional coordinator may not validate in this plugin
    await log_in(hub, username="nadia")
    page = await (await hub.get("/dash")).text()
    forged = await hub.post("/dash/validate", data={"_csrf": "forged"}, allow_redirects=False)
    assert forged.status == 403
    done = await hub.post("/dash/validate", data={"_csrf": csrf_of(page)}, allow_redirects=False)
    assert done.status == 303
    await log_in(hub, username="marie")
    assert (await hub.get("/dash", headers=HTML)).status == 403


async def test_the_login_fixture_for_plugin_authors(regies_client: Any, regies_login: Any, tmp_path: Path) -> None:
    client = await regies_client([("dashboardplugin", DashboardPlugin(_templates(tmp_path)))])
    response = await regies_login(client, "regional", region="84")
    assert response.headers["Location"] == "/dash"
    page = await (await client.get("/dash")).text()
    assert "<h1>Région 84</h1>" in page
    # The core's chart macro: one bar per row, scaled to the largest value, with the figures as text.
    bars = re.findall(r'<rect x="0" y="[0-9.]+" width="([0-9.]+)"', page)
    assert [float(width) for width in bars] == [550.0, 137.5]
    assert '<th scope="row">Médiation</th><td>3</td>' in page


@pytest.mark.parametrize("prefix", ["/admin", "/api", "hub", "/Hub"])
def test_a_plugin_cannot_take_the_core_paths(prefix: str) -> None:
    class Greedy:
        @hookimpl
        def register_web_pages(self, registry: Registry) -> None:
            registry.add_web_pages(prefix, [])

    with pytest.raises(PluginError, match="web prefix"):
        build_plugins(extra=[("greedy", Greedy())], load_entry_points=False)
