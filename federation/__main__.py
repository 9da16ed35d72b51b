"""Lets `python -m federation` behave like the `regies` command."""

from federation.cli import run

run()
