"""The core's `regies` commands, registered through the `register_commands` hook like a plugin's (as tox
registers its built-in commands): the `regies` program adds this module to its plugin manager as an internal
plugin (federation/cli.py). Every handler has the one signature `run(args, node)` (`federation.registrations.Command`);
the commands that run without an opened node say `needs_node=False` and get an `UnopenedNode`."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import Any

from federation import cli_admin, cli_federation, cli_peers, hookimpl
from federation.conformance import command as conformance_command
from federation.registrations import Command
from federation.registry import Registry
from federation.web import cli as user_cli

# The name this internal plugin is registered under; what it registers belongs to the core ("<core>").
PLUGIN_NAME = "regies-core-commands"


def run_action(args: argparse.Namespace, node: Any) -> int | Awaitable[int]:
    """The `run` of a command with actions (`regies token create | list | revoke`): each action's parser names
    its handler (`set_defaults(action_handler=...)`), which has the commands' signature."""
    result: int | Awaitable[int] = args.action_handler(args, node)
    return result


@hookimpl
def register_commands(registry: Registry) -> None:
    for command in (
        Command(
            "init",
            "create the node: database, identity, first admin token",
            cli_admin.configure_init,
            cli_admin.cmd_init,
            needs_node=False,
        ),
        # The server opens the node itself, in the app (federation/app.py), for as long as it runs.
        Command(
            "serve",
            "run the node's HTTP server (upgrades the database first)",
            cli_admin.configure_serve,
            cli_admin.cmd_serve,
            needs_node=False,
        ),
        Command("token", "manage API bearer tokens", cli_admin.configure_token, run_action),
        # `db upgrade` migrates without opening the node: it also brings an empty database to the schema.
        Command("db", "database maintenance", cli_admin.configure_db, run_action, needs_node=False),
        Command(
            "schema",
            "the generated JSON Schema / OpenAPI contract",
            cli_admin.configure_schema,
            run_action,
            needs_node=False,
        ),
        Command(
            "plugins",
            "list plugins, their hooks and what they register",
            cli_admin.configure_plugins,
            cli_admin.cmd_plugins,
            needs_node=False,
        ),
        Command("plugin", "plugin development", cli_admin.configure_plugin, run_action, needs_node=False),
        # A backup copies the database online with SQLite's own backup; a restore runs while the node is stopped.
        Command(
            "backup",
            "consistent online copy of the node: database, keys, config",
            cli_admin.configure_backup,
            cli_admin.cmd_backup,
            needs_node=False,
        ),
        Command(
            "restore",
            "bring a backup back into the data directory (node stopped)",
            cli_admin.configure_restore,
            cli_admin.cmd_restore,
            needs_node=False,
        ),
        Command("peer", "add or remove a peer node", cli_peers.configure_peer, run_action),
        Command(
            "peers",
            "list peers with status, last sync, lag and errors",
            cli_peers.configure_peers,
            cli_peers.cmd_peers,
        ),
        Command(
            "sync",
            "pull from peers and deliver the outbox now, with progress",
            cli_federation.configure_sync,
            cli_federation.cmd_sync,
        ),
        Command(
            "outbox",
            "batches waiting or failed to be delivered",
            cli_federation.configure_outbox,
            cli_federation.cmd_outbox,
        ),
        Command("keys", "this node's signing keys", cli_federation.configure_keys, cli_federation.cmd_keys),
        Command(
            "user",
            "accounts of the web interface (staff, coordinators)",
            user_cli.configure_user,
            user_cli.run_user,
        ),
        Command("version", "print the version", cli_admin.configure_nothing, cli_admin.cmd_version, needs_node=False),
        # The conformance kit tests another node, not this one.
        Command(
            "conformance",
            "check a node at URL against docs/protocol.md",
            conformance_command.configure,
            conformance_command.run,
            needs_node=False,
        ),
    ):
        registry.add_command(command)
