"""How the `regies` program and its helper processes start and end: with the cyclic garbage collector kept off
the objects they import.

Start: importing the command line (pydantic models, SQLAlchemy, aiohttp) allocates about 160,000 objects, and the
collector, triggered by allocation counts, walked them again and again meanwhile (measured: the imports took 45 ms
less with it paused, about a tenth). Once imported they live as long as the program, so they are frozen: later
collections never walk them again (a full one over them costs about 50 ms). The little garbage the imports leave
(about 2,000 objects) stays.

End: at exit the interpreter's collector walks every object still alive, those of every imported module included:
0.1 s of every command and helper process on this machine class (a no-op `regies sync` takes 0.55-0.7 s). Frozen
objects are skipped; the process's memory goes back to the operating system at once all the same. Not for code
that calls `federation.cli.main` in-process (the tests): frozen objects would never be collected there.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def run() -> NoReturn:
    """The `regies` program (the console script's entry point, and `python -m federation`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from federation.cli import main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    exit_leaving_objects(main())


def exit_leaving_objects(code: int) -> NoReturn:
    """End the process with `code`, what it still holds left to the operating system (see above)."""
    gc.freeze()
    raise SystemExit(code)
