"""The `regies` commands that create and look after this node: init, serve, token, db, schema, plugins, plugin,
backup, restore and version (registered in federation/commands.py)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from federation import PROTOCOL_VERSION, SCHEMA_VERSION, __version__
from federation.cli_peers import remember_served_url
from federation.cli_setup import command_settings
from federation.config import Settings
from federation.errors import CommandError
from federation.node import Node, UnopenedNode

if TYPE_CHECKING:
    from federation.schema.kinds import RecordKinds

log = logging.getLogger("federation")


def cmd_init(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.bootstrap import UNNAMED, init_node

    settings = node.settings
    # Asked only when a person is there to answer, and only when the node is created.
    ask = _ask_name if args.name is None and sys.stdin.isatty() else None
    result = asyncio.run(
        init_node(settings, name=args.name, kind=args.kind, node_id=args.node_id, ask_name=ask, base_url=args.base_url)
    )
    if not result.created:
        print(f"Node '{result.node_id}' is already initialised in {settings.data_dir}; nothing changed.")
        print(f"Admin token file: {settings.admin_token_file}")
        return 0
    print(f"Initialised node '{result.node_id}' ({result.name}) in {settings.data_dir}")
    if args.name is None and args.node_id is None:
        _explain_naming(result.node_id, None if result.name == UNNAMED else result.name)
    elif result.name == UNNAMED:
        print("  Its name is a placeholder: rename the régie in the back-office (/admin/profile) or PUT /api/v1/node.")
    print(f"Database: {settings.database_url}")
    print(f"Admin token (shown once, also saved with mode 0600 in {result.token_file}):")
    print(result.admin_token)
    return 0


async def _ask_name() -> str:
    prompt = "Nom de la régie / the régie's name (e.g. Régie de quartier des Lilas): "
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:  # Ctrl-D: no name, as without a terminal
        print()
        return ""


def _explain_naming(node_id: str, name: str | None) -> None:
    """How the id was chosen and how to choose it without questions: ids are how peers and the hub know a node."""
    if name is None:
        print(f"No name was given, so the node's id is '{node_id}' and its name is a placeholder.")
        print("  Rename the régie at any time in the back-office (/admin/profile) or with PUT /api/v1/node.")
        print("  The id is fixed once other nodes know it; to choose it now, before pairing with anyone, start again")
        print("  from an empty data directory with a name:")
    else:
        print(f"The node's id '{node_id}' comes from that name (the suffix keeps ids unique across the network).")
        print("  Without questions next time:")
    print('    make run NAME="Régie de quartier des Lilas" [NODE_ID=rq-lilas]')
    print('    regies init --name "Régie de quartier des Lilas" [--node-id rq-lilas]')


def cmd_serve(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.app import create_app
    from federation.serving import run_node

    server: dict[str, Any] = {}
    if args.host:
        server["host"] = args.host
    if args.port:
        server["port"] = args.port
    # --host and --port override the configuration: settings of their own, not the preloaded ones.
    settings = command_settings(args, {"server": server}) if server else node.settings
    from federation.observability import configure_logging

    configure_logging(settings.log.level, settings.log.format)
    check_base_url(settings)
    host, port = settings.server.host, settings.server.port
    # Bound before anything is announced: a port already taken must not be reported as served.
    listening = _listen(host, port)
    app = create_app(settings, upgrade_database=not args.no_upgrade)
    app.on_startup.append(remember_served_url)  # `regies peer add` then tells peers the address really served
    print(f"Régies federation node serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    print(f"Admin token: {settings.admin_token_file}  (new ones: regies token create --name NAME)")
    print("Press Ctrl-C to stop.", flush=True)
    run_node(app, sock=listening, access_log=logging.getLogger("aiohttp.access") if settings.log.access_log else None)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a CommandError saying the port is taken and how to choose another."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on '{host}': {exc.strerror} (server.host in regies.toml)") from exc
    listening = socket.socket(family, kind, protocol)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does: restarts need no wait
        listening.bind(address)
        listening.listen(128)
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else 8081
            raise CommandError(
                f"port {port} on {host} is already taken (another node or program is listening there). "
                f"Choose another port: `make run PORT={other}`, `regies serve --port {other}`, "
                f"REGIES_SERVER__PORT={other}, or port = {other} under [server] in regies.toml"
            ) from exc
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return listening


def check_base_url(settings: Settings) -> None:
    """`regies serve` needs to know the node's own URL (signatures are checked against it, never against the Host
    header): CommandError when it is empty on a node other nodes reach through a non-loopback interface."""
    from urllib.parse import urlsplit

    from federation.config import is_loopback_host

    server = settings.server
    if not server.base_url:
        if not is_loopback_host(server.host):
            raise CommandError(
                f"server.base_url is empty and this node listens on {server.host}: set base_url in [server] of "
                "regies.toml (or REGIES_SERVER__BASE_URL) to the address other nodes reach it at, "
                "e.g. https://regie.example.org"
            )
        return
    configured = urlsplit(server.base_url)
    if configured.hostname and is_loopback_host(configured.hostname) and configured.port != server.port:
        log.warning(
            "server.base_url is %s but this node listens on port %d: other nodes' requests will not verify",
            server.base_url,
            server.port,
        )


async def cmd_token_create(args: argparse.Namespace, node: Node) -> int:
    from federation.storage.tokens import create_token

    token = await create_token(node.engine, args.name, args.role, args.region)
    print(f"Created token '{args.name}'. It is shown only now; store it safely:")
    print(token)
    return 0


async def cmd_token_list(args: argparse.Namespace, node: Node) -> int:
    from federation.storage.tokens import list_tokens

    infos = await list_tokens(node.engine)
    print(f"{'ID':>4}  {'NAME':<24} {'ROLE':<14} {'PREFIX':<12} {'CREATED':<28} STATUS")
    for info in infos:
        status = "active" if info.active else f"revoked {info.revoked_at}"
        role = info.role + (f" ({info.region})" if info.region else "")
        print(f"{info.id:>4}  {info.name:<24} {role:<14} {info.prefix:<12} {info.created_at:<28} {status}")
    return 0


async def cmd_token_revoke(args: argparse.Namespace, node: Node) -> int:
    from federation.storage.tokens import revoke_tokens

    count = await revoke_tokens(node.engine, args.name_or_id)
    if count == 0:
        raise CommandError(f"no active token named or numbered '{args.name_or_id}' (see `regies token list`)")
    print(f"Revoked {count} token(s).")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, node: UnopenedNode) -> int:
    """Migrates without opening the node: it also creates the schema of an empty database (`regies init` then
    adds the node)."""
    from federation.storage import migrate
    from federation.storage.engine import create_engine

    settings = node.settings

    async def run() -> tuple[str | None, str]:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    if before == after:
        print(f"Database already at revision {after}.")
    else:
        print(f"Database upgraded from {before or 'empty'} to revision {after}.")
    return 0


def _openapi() -> dict[str, Any]:
    from federation.api.records import CURSOR_PATTERN, filter_parameters
    from federation.openapi import build_openapi
    from federation.schema.records import CORE_KINDS

    return build_openapi(CORE_KINDS, filter_parameters(CORE_KINDS.values()), cursor_pattern=CURSOR_PATTERN)


DISTRIBUTION = "regies-federation"


def _published_kinds() -> RecordKinds:
    """The record kinds whose JSON Schemas schemas/ publishes: the core's and those of the plugins shipped in this
    distribution (the lending plugin's loan requests and decisions), whatever else is installed or disabled."""
    from federation.plugins import build_plugins
    from federation.schema.kinds import RecordKinds
    from federation.schema.records import CORE_KINDS

    plugins = build_plugins()
    shipped = {
        name
        for name, info in plugins.infos.items()
        if (info.distribution or "").replace("_", "-").lower() == DISTRIBUTION
    }
    registry = plugins.registry
    return RecordKinds.of(
        kind
        for name, kind in registry.kinds.items()
        if name in CORE_KINDS or registry.owner("record kind", name) in shipped
    )


def cmd_schema_export(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.schema.export import export

    written = export(Path(args.dir), _openapi(), _published_kinds())
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} file(s) written under {args.dir}" if written else f"{args.dir} is up to date.")
    return 0


def cmd_schema_check(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.schema.export import stale_files

    stale = stale_files(Path(args.dir), _openapi(), _published_kinds())
    if stale:
        print(f"{len(stale)} generated file(s) under {args.dir} are stale or missing:", file=sys.stderr)
        for relative in stale:
            print(f"  {relative}", file=sys.stderr)
        print("run `regies schema export` and commit the result", file=sys.stderr)
        return 1
    print(f"{args.dir} matches the models.")
    return 0


def cmd_plugins(args: argparse.Namespace, node: UnopenedNode) -> int:
    import json

    from federation.api.introspection import describe_plugins

    settings = node.settings
    description = describe_plugins(node.plugins)
    if args.json:
        print(json.dumps(description, ensure_ascii=False, indent=2))
        return 0
    print(f"Hook API {description['hook_api_version']}")
    for plugin in description["plugins"]:
        print(f"\n{plugin['name']} {plugin['version'] or ''}  ({plugin['distribution'] or 'not installed'})")
        print(f"  hooks:          {', '.join(plugin['hooks']) or '-'}")
        for field, label in (
            ("service_types", "service types"),
            ("indicators", "indicators"),
            ("export_formats", "export formats"),
            ("sync_targets", "sync targets"),
        ):
            if plugin[field]:
                print(f"  {label + ':':<15} {', '.join(plugin[field])}")
        if plugin["routes"]:
            print(f"  routes:         {plugin['routes']}")
    if settings.plugins.disabled:
        print(f"\ndisabled: {', '.join(settings.plugins.disabled)}")
    return 0


def cmd_plugin_new(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.scaffold import scaffold_plugin

    root = scaffold_plugin(args.name, Path(args.dir))
    print(f"Created plugin package {root}")
    print("Next steps:")
    print(f"  pip install -e '{root}[test]'   # in the node's virtual environment")
    print("  regies plugins                    # check it is discovered")
    print(f"  python -m pytest {root}/tests")
    return 0


def cmd_backup(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.backup import backup

    result = backup(node.settings, Path(args.destination))
    manifest = result.manifest
    print(f"Backup of node '{manifest.get('node_id', '?')}' written to {result.destination} (mode 0700).")
    if manifest["database"] == "postgresql":
        print("The database is PostgreSQL: dump it now with")
        print(f"  {manifest['pg_dump']}")
    else:
        print(
            f"SQLite database at revision {manifest['revision']}, {manifest['records']} records; "
            "keys and config copied."
        )
    return 0


def cmd_restore(args: argparse.Namespace, node: UnopenedNode) -> int:
    from federation.backup import restore

    settings = node.settings
    manifest = restore(settings, Path(args.source), force=args.force)
    print(f"Restored node '{manifest.get('node_id')}' ({manifest.get('records')} records) into {settings.data_dir}.")
    print("Start it with `regies serve`: pending database migrations are applied on start.")
    return 0


def cmd_version(args: argparse.Namespace, node: UnopenedNode) -> int:
    print(f"regies-federation {__version__}")
    print(f"protocol {PROTOCOL_VERSION}")
    print(f"common schema {SCHEMA_VERSION}")
    return 0


def configure_init(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="the régie's name (asked when a terminal is attached)")
    parser.add_argument("--kind", choices=["quartier", "territoire"], default="quartier")
    parser.add_argument(
        "--node-id", help="node identifier, unique in the network (default: from the name, with a random suffix)"
    )
    parser.add_argument(
        "--base-url",
        help="this node's public URL, e.g. https://regie.example.org (default for a node on 127.0.0.1: "
        "http://127.0.0.1:<port>)",
    )


def configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to listen on (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default from config: 8080)")
    parser.add_argument("--no-upgrade", action="store_true", help="do not apply database migrations on start")


def configure_token(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it (last line)")
    create.add_argument("--name", required=True, help="what the token is for, e.g. 'accueil' or 'import-csv'")
    create.add_argument(
        "--role",
        choices=["admin", "national", "regional"],
        default="admin",
        help="admin (the node's administrator, default); on a hub: national or regional coordinator",
    )
    create.add_argument("--region", help="INSEE region code of a regional coordinator, e.g. 84")
    create.set_defaults(action_handler=cmd_token_create)
    actions.add_parser("list", help="list tokens (never their value)").set_defaults(action_handler=cmd_token_list)
    revoke = actions.add_parser("revoke", help="revoke tokens by name or id")
    revoke.add_argument("name_or_id")
    revoke.set_defaults(action_handler=cmd_token_revoke)


def configure_db(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help="apply pending migrations").set_defaults(action_handler=cmd_db_upgrade)


def configure_schema(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    for name, handler, text in (
        ("export", cmd_schema_export, "write schemas/ from the models"),
        ("check", cmd_schema_check, "exit 1 if schemas/ is stale"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("--dir", default="schemas", help="output directory (default: schemas)")
        sub.set_defaults(action_handler=handler)


def configure_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def configure_plugin(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="plugin_command", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="scaffold an installable plugin package")
    new.add_argument("name", help="plugin name: lowercase letters, digits, '_'")
    new.add_argument("--dir", default=".", help="where to create regies-<name>/ (default: here)")
    new.set_defaults(action_handler=cmd_plugin_new)


def configure_backup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("destination", help="new or empty directory")


def configure_restore(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a directory written by `regies backup`")
    parser.add_argument("--force", action="store_true", help="replace an existing database")


def configure_nothing(parser: argparse.ArgumentParser) -> None:
    """A command without arguments (`regies version`)."""
