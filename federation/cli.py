"""The `regies` program: its commands (the core's and the plugins', all registered through `register_commands`),
parsed and run with the one handler signature `run(args, node)`.

How a command runs: the settings and plugins are loaded once before parsing (federation/cli_setup.py), the core's
commands (federation/commands.py) being an internal plugin. A command that needs the node gets it opened by
`open_node` (federation/node.py), in the event loop its `run` is awaited in, and closed when it returns; one that
runs without an opened node (`needs_node=False`) gets an `UnopenedNode` (settings and plugins, loaded on first
use) and is called outside any event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any

from federation import commands
from federation.cli_setup import command_plugins, command_settings, preload
from federation.config import ConfigError
from federation.errors import CommandError
from federation.node import UnopenedNode, open_node
from federation.plugins import build_plugins
from federation.registrations import Command
from federation.registry import CORE, PluginError, Registry

# The program's own plugins, registered before any other (see `build_plugins`).
INTERNAL_PLUGINS = ((commands.PLUGIN_NAME, commands),)


def core_registry() -> Registry:
    """The registry of the core's commands alone, for when the plugins could not be loaded."""
    return build_plugins(load_entry_points=False, internal=INTERNAL_PLUGINS).registry


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    """The command line of the commands in `registry`: the core's in their order, then the plugins' by name."""
    parser = argparse.ArgumentParser(prog="regies", description="Node of the Régies de Quartier federation.")
    parser.add_argument("--data-dir", help="node data directory (default ./var, or REGIES_DATA_DIR)")
    parser.add_argument("--config", help="config file (default <data-dir>/regies.toml, or REGIES_CONFIG)")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    core = [command for name, command in registry.commands.items() if registry.owner("command", name) == CORE]
    added = sorted((command for command in registry.commands.values() if command not in core), key=_name)
    for command in core + added:
        sub = subcommands.add_parser(command.name, help=command.help)
        command.configure(sub)
        sub.set_defaults(regies_command=command)
    return parser


def _name(command: Command[Any]) -> str:
    return command.name


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command: on its opened node, or with an `UnopenedNode` if it runs without one."""
    command: Command[Any] = args.regies_command
    if command.opens_node(args):
        return asyncio.run(_on_node(command, args))
    unopened = UnopenedNode(lambda: command_settings(args), lambda settings: command_plugins(args, settings))
    result = command.run(args, unopened)
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _on_node(command: Command[Any], args: argparse.Namespace) -> int:
    settings = command_settings(args)
    async with open_node(settings, command_plugins(args, settings)) as node:
        result = command.run(args, node)
        return await result if inspect.isawaitable(result) else result


def _awaited(result: Awaitable[int]) -> Coroutine[Any, Any, int]:
    async def wait() -> int:
        return await result

    return wait()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    preloaded, plugin_error = preload(arguments, INTERNAL_PLUGINS)
    parser = build_parser(preloaded.plugins.registry if preloaded else core_registry())
    try:
        args = parser.parse_args(arguments)
    except SystemExit:
        if plugin_error is not None:
            print(f"note: plugins could not be loaded, so their commands are missing: {plugin_error}", file=sys.stderr)
        raise
    args.preloaded = preloaded
    args.internal_plugins = INTERNAL_PLUGINS
    try:
        return run_command(args)
    except (CommandError, ConfigError, PluginError, ValueError) as exc:
        from federation.terminal import printable

        print(f"error: {printable(str(exc))}", file=sys.stderr)  # errors may quote what another node answered
        return 1
    except KeyboardInterrupt:
        return 130
