"""A real `regies serve` process on a free port, for tests that talk to it over raw sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def regies_served(data: Path, name: str, settings: dict[str, str] | None = None) -> Iterator[tuple[int, str]]:
    """`regies init` then `regies serve` under `data`, with `settings` as REGIES_ variables and no others from the
    environment; yields the port and the admin token, then stops it as an operator does (SIGINT), which must end
    it gracefully and at once."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIES_")}
    env.update(settings or {})
    regies = [sys.executable, "-m", "federation", "--data-dir", str(data)]
    init = subprocess.run([*regies, "init", "--name", name], capture_output=True, text=True, env=env)
    assert init.returncode == 0, init.stderr
    process = subprocess.Popen([*regies, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, env=env)
    try:
        for _ in range(400):  # the process's imports and start-up: seconds on a loaded machine
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port, init.stdout.strip().splitlines()[-1]
    finally:
        process.send_signal(signal.SIGINT)
        # Stopped gracefully and at once, as `web.run_app` did before the node ran its own runner.
        assert process.wait(timeout=20) == 0
