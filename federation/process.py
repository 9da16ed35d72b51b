"""How the `regies` program and its helper processes end: leaving what they still hold to the operating system.

At exit the interpreter's collector walks every object still alive, those of every imported module included:
0.1 s of every command and helper process on this machine class (a no-op `regies sync` takes 0.55-0.7 s). Frozen
objects are skipped; the process's memory goes back to the operating system at once all the same. Not for code
that calls `federation.cli.main` in-process (the tests): frozen objects would never be collected there.

It imports nothing of the node, so the helper processes (`protocol/sqlite_writer.py`, `protocol/page_parsers.py`)
end this way without importing the program's entry point and, through it, the command line.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def exit_leaving_objects(code: int) -> NoReturn:
    """End the process with `code`, what it still holds left to the operating system (see above)."""
    gc.freeze()
    raise SystemExit(code)
