"""Lets `python -m federation` behave like the `regies` command."""

from federation.cli import main

raise SystemExit(main())
