"""Plugins serving a standard's own paths at the node's root (`Registry.add_root_routes`) and announcing documents
on the public page (`Registry.add_public_link`): one owner per prefix, never the core's paths, in /openapi.json."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from federation import hookimpl
from federation.app import create_app
from federation.config import Settings
from federation.plugins import build_plugins
from federation.registrations import PublicLink
from federation.registry import PluginError, Registry


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": request.path})


class Standard:
    def __init__(self, prefix: str, routes: list[Any] | None = None) -> None:
        self.prefix = prefix
        self.routes = routes if routes is not None else [web.get("", hello), web.get("/items", hello)]

    @hookimpl
    def register_routes(self, registry: Registry) -> None:
        openapi = {
            f"{self.prefix}/items": {"get": {"operationId": "items", "responses": {"200": {"description": "ok"}}}}
        }
        registry.add_root_routes(self.prefix, self.routes, openapi=openapi)
        registry.add_public_link(PublicLink(f"{self.prefix}/items", "application/json", "Éléments", "Items"))


async def test_root_routes_are_served_documented_and_announced(
    aiohttp_client: Any, settings: Settings, admin_token: str
) -> None:
    plugins = build_plugins(extra=[("standard", Standard("/standard"))], load_entry_points=False)
    client = await aiohttp_client(create_app(settings, plugins))
    for path in ("/standard", "/standard/items"):
        response = await client.get(path)
        assert response.status == 200
        assert await response.json() == {"hello": path}
    missing = await client.get("/standard/other")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"  # an API's answer, not an HTML page
    document = await (await client.get("/openapi.json")).json()
    assert "/standard/items" in document["paths"]
    page = await (await client.get("/", headers={"Accept": "text/html"})).text()
    assert '<link rel="alternate" type="application/json" href="/standard/items" title="Éléments">' in page


@pytest.mark.parametrize("prefix", ["/api", "/admin", "/plugins", "/.well-known", "standard", "/Standard", "/a/b"])
def test_a_root_prefix_cannot_take_the_cores_paths_or_more_than_one_segment(prefix: str) -> None:
    with pytest.raises(PluginError, match="root prefix"):
        build_plugins(extra=[("standard", Standard(prefix))], load_entry_points=False)


def test_a_root_prefix_has_one_owner() -> None:
    with pytest.raises(PluginError, match="'/standard' is registered twice: by plugin 'one' and by plugin 'two'"):
        build_plugins(extra=[("one", Standard("/standard")), ("two", Standard("/standard"))], load_entry_points=False)


def test_a_root_prefix_cannot_be_another_plugins_web_pages() -> None:
    class Pages:
        @hookimpl
        def register_web_pages(self, registry: Registry) -> None:
            registry.add_web_pages("/standard", [web.get("", hello)])

    with pytest.raises(PluginError, match="web prefix '/standard' is plugin 'standard's root prefix"):
        build_plugins(extra=[("standard", Standard("/standard")), ("pages", Pages())], load_entry_points=False)


def test_a_web_prefix_taken_first_refuses_the_same_root_prefix_and_a_second_web_prefix() -> None:
    # The other order than above: the shared claim checks both kinds whichever comes first.
    registry = Registry()
    registry.current_plugin = "pages"
    registry.add_web_pages("/standard", [web.get("", hello)])
    registry.current_plugin = "standard"
    with pytest.raises(PluginError, match="root prefix '/standard' is plugin 'pages's web prefix"):
        registry.add_root_routes("/standard", [web.get("", hello)])
    registry.current_plugin = "other"
    with pytest.raises(PluginError, match="web prefix '/standard' is registered twice: by plugin 'pages'"):
        registry.add_web_pages("/standard", [web.get("", hello)])
    assert registry.owner("web prefix", "/standard") == "pages"
    assert ("root prefix", "/standard") not in registry.owners


def test_a_root_prefix_may_name_a_file_and_a_web_prefix_may_not() -> None:
    registry = Registry()
    registry.add_root_routes("/catalog.jsonld", [web.get("", hello)])
    assert registry.owner("root prefix", "/catalog.jsonld") == "<core>"
    with pytest.raises(PluginError, match=r"web prefix '/pages\.html' must be like '/hub'"):
        registry.add_web_pages("/pages.html", [web.get("", hello)])


def test_routes_must_be_route_definitions_under_the_prefix() -> None:
    with pytest.raises(PluginError, match="path is empty or starts with /"):
        build_plugins(extra=[("standard", Standard("/standard", [web.get("items", hello)]))], load_entry_points=False)
    with pytest.raises(PluginError, match="path is empty or starts with /"):
        build_plugins(extra=[("standard", Standard("/standard", [web.static("/files", ".")]))], load_entry_points=False)


def test_the_built_in_feeds_and_hsds_go_when_disabled() -> None:
    plugins = build_plugins(disabled=["feeds", "hsds"])
    assert "/feeds" not in {mount.prefix for mounts in plugins.registry.root_routes.values() for mount in mounts}
    assert plugins.registry.public_links == []
    plugins = build_plugins()
    assert {link.path for link in plugins.registry.public_links} == {
        "/feeds/activities.ics",
        "/feeds/activities.atom",
        "/hsds/services",
    }
