"""The `regies` program's entry point: the command line imported with the cyclic garbage collector paused.

Why: importing the command line (pydantic models, SQLAlchemy, aiohttp) allocates about 160,000 objects, and the
collector, triggered by allocation counts, walked them again and again meanwhile (measured: the imports took 45 ms
less with it paused, about a tenth). Once imported they live as long as the program, so they are frozen: later
collections never walk them again (a full one over them costs about 50 ms). The little garbage the imports leave
(about 2,000 objects) stays.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def run() -> NoReturn:
    enabled = gc.isenabled()
    gc.disable()
    try:
        from federation.cli import run as run_command
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    run_command()
