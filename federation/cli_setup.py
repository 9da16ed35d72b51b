"""What a `regies` command loads once before it runs: the node's settings and its plugins (see federation/cli.py)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from federation.config import ConfigError, Settings, load_settings
from federation.plugins import Plugins, node_plugins
from federation.registry import PluginError


@dataclass
class Preloaded:
    """The settings and plugins loaded before the command line is parsed (plugins may add commands to it), kept
    on the parsed arguments (`args.preloaded`) for the command itself: building the plugins again cost every
    command a second plugin build (about 30 ms of the 0.7 s of a `regies sync` with nothing to pull)."""

    data_dir: str | None
    config: str | None
    settings: Settings
    plugins: Plugins

    def serves(self, args: argparse.Namespace) -> bool:
        return (self.data_dir, self.config) == (args.data_dir, args.config)


def preload(
    argv: Sequence[str], internal: Iterable[tuple[str, object]] = ()
) -> tuple[Preloaded | None, Exception | None]:
    """The settings that --data-dir/--config on `argv` point to and their plugins with the program's `internal`
    ones (the core's commands; plugins may add theirs), or why they could not be loaded (the core's commands
    still run and say it in their own words)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--data-dir")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    try:
        settings = load_settings(data_dir=known.data_dir, config_file=known.config)
        return Preloaded(known.data_dir, known.config, settings, node_plugins(settings, internal)), None
    except (ConfigError, PluginError) as exc:
        return None, exc


def command_settings(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    """The settings that the command's --data-dir and --config point to, with `overrides` applied."""
    preloaded: Preloaded | None = getattr(args, "preloaded", None)
    if overrides is None and preloaded is not None and preloaded.serves(args):
        return preloaded.settings
    return load_settings(data_dir=args.data_dir, config_file=args.config, overrides=overrides)


def command_plugins(args: argparse.Namespace, settings: Settings) -> Plugins:
    """The plugins of the node that `settings` (the command's own) configure, with the program's internal ones
    (`args.internal_plugins`): built again only when the preloaded ones came from other settings or failed, in
    which case the command stops with the same error."""
    preloaded: Preloaded | None = getattr(args, "preloaded", None)
    if preloaded is not None and preloaded.settings is settings:
        return preloaded.plugins
    return node_plugins(settings, getattr(args, "internal_plugins", ()))
