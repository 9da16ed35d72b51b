"""Errors meant for the person at the keyboard: the CLI prints them as `error: …` and exits with status 1."""


class CommandError(Exception):
    """A user-facing failure of a `regies` command."""
