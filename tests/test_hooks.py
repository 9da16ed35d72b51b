"""One test per hook (named for it), and the rules every plugin lives by: failures name the plugin."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
import types
from collections.abc import Callable
from typing import Any

import pytest
import regies_exports
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from federation import appkeys, hookimpl, hookspecs
from federation.errors import CommandError
from federation.plugins import build_plugins
from federation.registrations import Exporter, FieldError, ServiceType, SyncTarget
from federation.registry import PluginError, Registry
from federation.schema.types import Category

HOOK_NAMES = sorted(
    name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "regies_spec")
)


class Details(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visitors: int = 0


def _service_type_plugin(key: str = "open_days") -> object:
    class Plugin:
        @hookimpl
        def register_service_types(self, registry: Registry) -> None:
            registry.add_service_type(ServiceType(key, Category.NEW_SERVICES, "Portes ouvertes", "Open days", Details))

    return Plugin()


ACTIVITY = {"category": "new_services", "service_type": "open_days", "title": "Portes ouvertes", "details": {}}


async def test_register_service_types(regies_client: Callable[..., Any]) -> None:
    client = await regies_client([("open-days", _service_type_plugin())])
    listed = (await (await client.get("/api/v1/service-types")).json())["items"]
    assert [(item["key"], item["plugin"], item["labels"]["fr"]) for item in listed] == [
        ("open_days", "open-days", "Portes ouvertes")
    ]
    assert listed[0]["details_schema"]["properties"]["visitors"]["type"] == "integer"
    created = await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)
    assert created.status == 201
    assert (await created.json())["details"] == {"visitors": 0}


def test_register_indicators() -> None:
    from federation.registrations import Indicator

    class Plugin:
        @hookimpl
        def register_indicators(self, registry: Registry) -> None:
            registry.add_indicator(Indicator("visitors_total", "Visiteurs", "Visitors", source="entered"))

    plugins = build_plugins(extra=[("visitors", Plugin())], load_entry_points=False)
    assert plugins.registry.indicators["visitors_total"].labels() == {"fr": "Visiteurs", "en": "Visitors"}
    assert plugins.registry.owner("indicator", "visitors_total") == "visitors"


async def test_register_routes(regies_client: Callable[..., Any]) -> None:
    routes = web.RouteTableDef()

    @routes.get("/hello")
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": request.match_info.get("name", "régie")})

    class Plugin:
        @hookimpl
        def register_routes(self, registry: Registry) -> None:
            registry.add_routes(routes)

    client = await regies_client([("greeter", Plugin())])
    assert await (await client.get("/plugins/greeter/hello")).json() == {"hello": "régie"}
    missing = await client.get("/plugins/greeter/nothing")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"
    description = await (await client.get("/api/v1/plugins")).json()
    assert description["plugins"][0]["routes"] == "/plugins/greeter/"


async def test_plugin_api_routes_are_served_beside_the_core_api(regies_client: Callable[..., Any]) -> None:
    routes = web.RouteTableDef()

    @routes.get("/items")
    async def items(request: web.Request) -> web.Response:
        return web.json_response([{"open": True}])

    class Plugin:
        @hookimpl
        def register_routes(self, registry: Registry) -> None:
            registry.add_api_routes("opendata", routes, openapi={"/items": {"get": {"responses": {"200": {}}}}})

    client = await regies_client([("opendata", Plugin())])
    assert await (await client.get("/api/v1/opendata/items")).json() == [{"open": True}]
    assert "/api/v1/opendata/items" in (await (await client.get("/openapi.json")).json())["paths"]

    class Squatter:
        @hookimpl
        def register_routes(self, registry: Registry) -> None:
            registry.add_api_routes("activities", routes)

    with pytest.raises(PluginError, match="plugin 'squatter': API name 'activities'"):
        build_plugins(extra=[("squatter", Squatter())], load_entry_points=False)
    with pytest.raises(PluginError, match="API name 'opendata' is registered twice"):
        build_plugins(extra=[("one", Plugin()), ("two", Plugin())], load_entry_points=False)


async def test_register_exporters(regies_client: Callable[..., Any]) -> None:
    async def write_titles(kind: str, records: Any, sink: Any) -> None:
        async for record in records:
            await sink(f"{kind}:{record['title']}\n".encode())

    class Plugin:
        @hookimpl
        def register_exporters(self, registry: Registry) -> None:
            registry.add_exporter(Exporter("titles", "text/plain; charset=utf-8", "txt", write_titles))

    client = await regies_client(
        [("open-days", _service_type_plugin()), ("titles", Plugin()), ("exports", regies_exports)]
    )
    for title in ("Un", "Deux"):
        await client.post("/api/v1/activities", json={**ACTIVITY, "title": title}, headers=client.regies_auth)
    response = await client.get("/api/v1/export/activities?format=titles")
    assert response.status == 200
    assert await response.text() == "activity:Un\nactivity:Deux\n"
    assert "attachment" in response.headers["Content-Disposition"]

    exported = await client.get("/api/v1/export/activities?format=csv&status=active")
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    assert [row["title"] for row in rows] == ["Un", "Deux"]
    assert rows[0]["details"] == '{"visitors":0}'
    assert "place.commune" in rows[0]
    as_json = await (await client.get("/api/v1/export/activities?format=json")).json()
    assert [item["title"] for item in as_json] == ["Un", "Deux"]
    unknown = await client.get("/api/v1/export/activities?format=pdf")
    assert unknown.status == 400
    assert "csv" in (await unknown.json())["detail"]
    assert (await client.get("/api/v1/export/activities?format=csv&colour=red")).status == 400
    assert (await client.get("/api/v1/export/reports?format=csv")).status == 401


async def test_register_sync_targets(regies_client: Callable[..., Any]) -> None:
    from federation.protocol import sender
    from federation.protocol.context import FEDERATION

    received: list[dict[str, Any]] = []
    failures = [RuntimeError("archive offline")]

    async def send(batch: dict[str, Any], context: Any) -> None:
        if failures:
            raise failures.pop()
        received.append(batch)

    class Plugin:
        @hookimpl
        def register_sync_targets(self, registry: Registry) -> None:
            registry.add_sync_target(SyncTarget("archive", send, "Keeps a copy"))

    client = await regies_client([("open-days", _service_type_plugin()), ("archive", Plugin())])
    created = await (await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)).json()
    context = client.app[FEDERATION]
    context.settings.retry_initial_s = 0.01
    assert await sender.push_all(context) == {"target:archive": 0}  # first attempt fails, batch kept
    (pending,) = await sender.list_outbox(context)
    assert pending.state == "pending" and "archive offline" in (pending.last_error or "")
    await asyncio.sleep(0.02)
    assert await sender.push_all(context) == {"target:archive": 1}
    (batch,) = received
    assert batch["origin"] == "regie-test" and batch["batch_id"] == pending.batch_id
    assert created["id"] in {record["id"] for record in batch["records"]}
    description = await (await client.get("/api/v1/plugins")).json()
    assert {p["name"]: p for p in description["plugins"]}["archive"]["sync_targets"] == ["archive"]
    with pytest.raises(PluginError, match="sync target 'archive' is registered twice"):
        build_plugins(extra=[("archive", Plugin()), ("archive-2", Plugin())], load_entry_points=False)


async def test_validate_record(regies_client: Callable[..., Any]) -> None:
    seen: list[tuple[str, Any]] = []

    class Plugin:
        @hookimpl
        def validate_record(self, kind: str, record: dict[str, Any], previous: dict[str, Any] | None) -> Any:
            seen.append((kind, previous and previous["title"]))
            if kind == "activity" and "interdit" in record["title"]:
                return [FieldError("/title", "ce titre est refusé par la règle locale")]
            return None

    client = await regies_client([("open-days", _service_type_plugin()), ("rules", Plugin())])
    refused = await client.post(
        "/api/v1/activities", json={**ACTIVITY, "title": "Titre interdit"}, headers=client.regies_auth
    )
    assert refused.status == 422
    assert (await refused.json())["errors"] == [
        {"pointer": "/title", "detail": "ce titre est refusé par la règle locale", "code": "plugin_rule"}
    ]
    assert (await (await client.get("/api/v1/activities")).json())["items"] == []
    created = await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)
    location = created.headers["Location"]
    assert (await client.put(location, json={**ACTIVITY, "title": "Autre"}, headers=client.regies_auth)).status == 200
    assert seen == [("activity", None), ("activity", None), ("activity", "Portes ouvertes")]


async def test_record_committed(regies_client: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    events: list[tuple[str, str, int]] = []

    class Recorder:
        @hookimpl
        async def record_committed(self, kind: str, record: dict[str, Any], action: str) -> None:
            events.append((kind, action, record["version"]))

    class Broken:
        @hookimpl
        def record_committed(self, kind: str, record: dict[str, Any], action: str) -> None:
            raise RuntimeError("disk full")

    client = await regies_client(
        [("open-days", _service_type_plugin()), ("recorder", Recorder()), ("broken", Broken())]
    )
    with caplog.at_level(logging.ERROR):
        created = await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)
        assert created.status == 201
        location = created.headers["Location"]
        assert (await client.put(location, json=ACTIVITY, headers=client.regies_auth)).status == 200
        assert (await client.delete(location, headers=client.regies_auth)).status == 204
    assert events == [("activity", "created", 1), ("activity", "updated", 2), ("activity", "deleted", 3)]
    assert "plugin 'broken' failed in record_committed" in caplog.text
    assert (await client.get("/healthz")).status == 200


def test_service_type_for_label() -> None:
    plugins = build_plugins()
    assert plugins.service_type_for_label("ENTRETIEN des espaces  verts") == "green_spaces"
    assert plugins.service_type_for_label("green spaces") == "green_spaces"
    assert plugins.service_type_for_label("  AUTO-ÉCOLE sociale ", "transport") == "social_driving_school"
    assert plugins.service_type_for_label("Social driving school") == "social_driving_school"
    assert plugins.service_type_for_label("green spaces", "training") is None
    assert plugins.service_type_for_label("Cours de tango") is None


def test_firstresult_hooks_refuse_async_implementations() -> None:
    firstresult = [name for name in HOOK_NAMES if getattr(hookspecs, name).regies_spec.get("firstresult")]
    assert firstresult == ["service_type_for_label"]

    class AsyncPlugin:
        @hookimpl
        async def service_type_for_label(self, label: str, category: str | None) -> str | None:
            return None

    with pytest.raises(PluginError, match="plugin 'async-labels' implements firstresult hook"):
        build_plugins(extra=[("async-labels", AsyncPlugin())], load_entry_points=False)
    # The installed plugins must all pass the same check.
    for impl in build_plugins().manager.hook.service_type_for_label.get_hookimpls():
        assert not asyncio.iscoroutinefunction(impl.function), impl.plugin_name


def test_unknown_hook_fails_at_start() -> None:
    class Typo:
        @hookimpl
        def register_service_type(self, registry: Registry) -> None:  # missing "s"
            pass

    with pytest.raises(PluginError, match="unknown hook"):
        build_plugins(extra=[("typo", Typo())], load_entry_points=False)


def test_duplicate_service_type_names_both_plugins() -> None:
    with pytest.raises(PluginError) as error:
        build_plugins(extra=[("one", _service_type_plugin()), ("two", _service_type_plugin())], load_entry_points=False)
    assert "'open_days' is registered twice: by plugin 'one' and by plugin 'two'" in str(error.value)


def test_failing_registration_names_the_plugin() -> None:
    class Broken:
        @hookimpl
        def register_indicators(self, registry: Registry) -> None:
            raise KeyError("oops")

    with pytest.raises(PluginError, match="plugin 'broken' failed in register_indicators"):
        build_plugins(extra=[("broken", Broken())], load_entry_points=False)


def test_incompatible_hook_api_is_refused() -> None:
    future = types.SimpleNamespace(REGIES_HOOK_API=">=3.0")
    provides = re.escape(hookspecs.HOOK_API_VERSION)
    with pytest.raises(
        PluginError, match=rf"plugin 'future' supports hook API >=3\.0 but this node provides {provides}"
    ):
        build_plugins(extra=[("future", future)], load_entry_points=False)
    # Hook API 2.0 changed what commands and `records_replicated` receive: a plugin written for 1.x is refused.
    past = types.SimpleNamespace(REGIES_HOOK_API=">=1.0,<2")
    with pytest.raises(PluginError, match=r"plugin 'past' supports hook API >=1\.0,<2 but this node provides 2\."):
        build_plugins(extra=[("past", past)], load_entry_points=False)
    compatible = types.SimpleNamespace(REGIES_HOOK_API=">=2.0,<3")
    assert "compatible" in build_plugins(extra=[("compatible", compatible)], load_entry_points=False).infos


def test_plugin_settings_are_validated_by_the_plugins_model() -> None:
    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        greeting: str = "bonjour"

    seen: list[Settings] = []

    class Plugin:
        @hookimpl
        def register_routes(self, registry: Registry) -> None:
            seen.append(registry.plugin_config(Settings))

    build_plugins(extra=[("greeter", Plugin())], load_entry_points=False, settings={"greeter": {"greeting": "salut"}})
    assert seen[-1].greeting == "salut"
    with pytest.raises(PluginError, match=r"invalid settings in \[plugins.greeter\]: 'greting'"):
        build_plugins(extra=[("greeter", Plugin())], load_entry_points=False, settings={"greeter": {"greting": "x"}})
    with pytest.raises(PluginError, match="not installed"):
        build_plugins(extra=[("greeter", Plugin())], load_entry_points=False, settings={"gretter": {}})
    with pytest.raises(PluginError, match="takes none"):
        build_plugins(
            extra=[("silent", types.SimpleNamespace())], load_entry_points=False, settings={"silent": {"x": 1}}
        )


def test_every_hook_is_documented_in_its_docstring_and_in_the_guide() -> None:
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    for name in HOOK_NAMES:
        doc = getattr(hookspecs, name).__doc__ or ""
        for section in ("When:", "Arguments:", "Returns:", "Several plugins:", "Added in:"):
            assert section in doc, f"hook {name} docstring lacks '{section}'"
        assert f"### `{name}`" in guide, f"docs/plugins.md has no section for hook {name}"


def test_every_hook_has_a_test_named_for_it() -> None:
    from pathlib import Path

    tests = "\n".join(path.read_text() for path in (Path(__file__).resolve().parent).rglob("test_*.py"))
    for name in HOOK_NAMES:
        assert f"def test_{name}(" in tests, f"no test named test_{name}"


def test_plugins_json_lists_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    from federation.cli import main

    assert main(["plugins", "--json"]) == 0
    description = json.loads(capsys.readouterr().out)
    by_name = {plugin["name"]: plugin for plugin in description["plugins"]}
    assert "register_service_types" in by_name["mobility"]["hooks"]
    assert "social_driving_school" in by_name["mobility"]["service_types"]
    assert by_name["exports"]["export_formats"] == ["csv", "geojson", "json", "ndjson", "ods", "xlsx"]


def test_register_commands(regies_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A plugin's command is registered, parsed and run like the core's, which are registered through the same
    hook: `run(args, node)` on the node opened for it, or on an `UnopenedNode` when it says it needs none."""
    from federation.bootstrap import init_node
    from federation.cli import INTERNAL_PLUGINS, build_parser, run_command
    from federation.cli_setup import Preloaded
    from federation.node import Node, UnopenedNode
    from federation.registrations import Command
    from federation.registry import CORE
    from federation.storage.tokens import list_tokens

    received: list[object] = []

    def configure(parser: Any) -> None:
        parser.add_argument("--loud", action="store_true")

    async def greet(args: Any, node: Node) -> int:
        received.append(node)
        tokens = sorted(token.name for token in await list_tokens(node.engine))
        print("BONJOUR" if args.loud else "bonjour", node.node_id, ", ".join(tokens))
        return 0

    def hello(args: Any, node: UnopenedNode) -> int:
        received.append(node)
        print("hello", node.settings.data_dir.name)
        return 0

    class Plugin:
        @hookimpl
        def register_commands(self, registry: Registry) -> None:
            registry.add_command(Command("greet", "say hello", configure, greet))
            registry.add_command(Command("hello", "say hello offline", configure, hello, needs_node=False))

    plugins = build_plugins(extra=[("greeter", Plugin())], load_entry_points=False, internal=INTERNAL_PLUGINS)
    parser = build_parser(plugins.registry)
    data_dir = str(regies_settings.data_dir)

    def regies(*argv: str) -> int:
        args = parser.parse_args(["--data-dir", data_dir, *argv])
        args.preloaded = Preloaded(data_dir, None, regies_settings, plugins)
        return run_command(args)

    # Without a node, only the command that needs none runs.
    assert regies("hello") == 0
    assert capsys.readouterr().out == "hello regies-node\n"
    assert isinstance(received.pop(), UnopenedNode)
    with pytest.raises(CommandError, match=r"no node database at .*; run `regies init` first"):
        regies("greet")
    asyncio.run(init_node(regies_settings, name="Régie de test", node_id="rq-greet"))
    # A core command and the plugin's work on the same node: the plugin sees the token the core created.
    assert regies("token", "create", "--name", "import-csv") == 0
    capsys.readouterr()
    assert regies("greet", "--loud") == 0
    assert capsys.readouterr().out == "BONJOUR rq-greet admin, import-csv\n"
    (node,) = received
    assert isinstance(node, Node) and node.plugins is plugins
    assert node.registry.owner("command", "token") == CORE and node.registry.owner("command", "greet") == "greeter"

    class Clash:
        @hookimpl
        def register_commands(self, registry: Registry) -> None:
            registry.add_command(Command("serve", "oops", configure, greet))

    with pytest.raises(PluginError, match="plugin 'clash': its command 'serve' clashes with the core command"):
        build_plugins(extra=[("clash", Clash())], load_entry_points=False, internal=INTERNAL_PLUGINS)


async def test_register_indexes(regies_client: Callable[..., Any], regies_settings: Any) -> None:
    import sqlite3

    class Plugin:
        @hookimpl
        def register_indexes(self, registry: Registry) -> None:
            registry.add_index("ix_records_by_commune", "records", ["kind", "commune"])

    await regies_client([("communes", Plugin())])
    database = regies_settings.data_dir / "regies.db"
    with sqlite3.connect(database) as connection:
        sql = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_records_by_commune'").fetchone()
    assert sql == ("CREATE INDEX ix_records_by_commune ON records (kind, commune)",)

    def registering(name: str, table: str, columns: list[str]) -> object:
        class Asker:
            @hookimpl
            def register_indexes(self, registry: Registry) -> None:
                registry.add_index(name, table, columns)

        return Asker()

    for (name, table, columns), message in [
        (("ix_x", "no_such_table", ["kind"]), "unknown table 'no_such_table'"),
        (("ix_x", "records", ["colour"]), "unknown columns of 'records': \\['colour'\\]"),
        (("records_x", "records", ["kind"]), "must look like 'ix_"),
        (("ix_records_id_origin", "records", ["id"]), "is one of the core's"),
    ]:
        with pytest.raises(PluginError, match=message):
            build_plugins(extra=[("asker", registering(name, table, columns))], load_entry_points=False)
    with pytest.raises(PluginError, match="index 'ix_x' is registered twice: by plugin 'a' and by plugin 'b'"):
        build_plugins(
            extra=[("a", registering("ix_x", "records", ["kind"])), ("b", registering("ix_x", "records", ["origin"]))],
            load_entry_points=False,
        )


async def test_only_a_hub_has_the_activity_facets_index(regies_app_factory: Callable[..., Any]) -> None:
    import regies_hub
    from sqlalchemy import inspect

    for enabled in (False, True):
        app, _ = await regies_app_factory([("hub", regies_hub)], plugin_settings={"hub": {"enabled": enabled}})
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            async with app[appkeys.ENGINE].connect() as connection:
                names = await connection.run_sync(
                    lambda sync: {i["name"] for i in inspect(sync).get_indexes("records")}
                )
        finally:
            await runner.cleanup()
        assert ("ix_records_activity_facets" in names) is enabled


async def test_register_background_tasks(regies_client: Callable[..., Any]) -> None:
    from federation.protocol.context import FEDERATION
    from federation.protocol.worker import running_worker
    from federation.registrations import BackgroundTask
    from federation.registry import PluginError

    runs: list[Any] = []
    done = asyncio.Event()

    async def deliver(node: Any) -> None:
        runs.append(node)
        if len(runs) == 1:
            raise RuntimeError("mail server down")  # logged, then the task is started again
        done.set()
        await asyncio.Event().wait()  # runs until the node stops

    class Plugin:
        @hookimpl
        def register_background_tasks(self, registry: Registry) -> None:
            registry.add_background_task(BackgroundTask("deliver", deliver, restart_delay_s=0.01))

    client = await regies_client([("mailer", Plugin())])
    context = client.app[FEDERATION]
    async with running_worker(context):
        await asyncio.wait_for(done.wait(), 10)
    # The task gets the opened node, as commands and records_replicated do (hook API 2.0).
    opened = client.app[appkeys.NODE]
    assert runs == [opened, opened] and opened.node_id == context.node_id

    with pytest.raises(PluginError, match="background task 'deliver' is registered twice"):
        await regies_client([("mailer", Plugin()), ("copy", Plugin())])


def test_plugin_state_is_one_object_per_plugin_and_app() -> None:
    class Shared:
        pass

    class Plugin:
        def __init__(self) -> None:
            self.seen: list[Shared] = []

        @hookimpl
        def register_routes(self, registry: Registry) -> None:
            self.seen.append(registry.plugin_state(Shared))

        @hookimpl
        def register_web_pages(self, registry: Registry) -> None:
            self.seen.append(registry.plugin_state(Shared))

    one, other = Plugin(), Plugin()
    build_plugins(extra=[("one", one), ("other", other)], load_entry_points=False)
    assert one.seen[0] is one.seen[1]  # the same object from both hooks
    assert other.seen[0] is other.seen[1] and other.seen[0] is not one.seen[0]  # each plugin its own
    build_plugins(extra=[("one", one)], load_entry_points=False)
    assert one.seen[2] is not one.seen[0]  # another app, another object
