"""Lets `python -m federation` behave like the `regies` command."""

from federation.entry import run

run()
