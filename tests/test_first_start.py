"""A régie's first start in real processes: the node id chosen at `regies init`, two nodes sharing an id, and
`regies serve` on a port already taken."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from devtools.loadgen import NodeProcess, node_env, run_regies

REGIES = [sys.executable, "-m", "federation"]


def _regies(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`regies` with no terminal attached (stdin is not a tty, as under cron or CI)."""
    command = [*REGIES, "--data-dir", str(data_dir), *args]
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=node_env(), timeout=60)


def _node_id(output: str) -> str:
    found = re.search(r"Initialised node '([^']+)'", output)
    assert found is not None, output
    return found[1]


def test_without_a_terminal_nor_a_name_each_node_gets_its_own_id(tmp_path: Path) -> None:
    first, second = _regies(tmp_path / "a", "init"), _regies(tmp_path / "b", "init")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    ids = {_node_id(first.stdout), _node_id(second.stdout)}
    assert len(ids) == 2
    assert all(re.fullmatch(r"regie-[0-9a-f]{6}", node_id) for node_id in ids)
    assert "regie-de-quartier-a-renommer" not in first.stdout
    # It says how to rename the régie and how to choose the id without questions.
    assert "/admin/profile" in first.stdout
    assert 'make run NAME="' in first.stdout and "regies init --name" in first.stdout


def test_a_name_gives_an_id_derived_from_it_and_unique(tmp_path: Path) -> None:
    name = "Régie de quartier des Lilas"
    ids = {_node_id(_regies(tmp_path / str(n), "init", "--name", name).stdout) for n in range(2)}
    assert len(ids) == 2
    assert all(re.fullmatch(r"regie-de-quartier-des-lilas-[0-9a-f]{6}", node_id) for node_id in ids)
    chosen = _regies(tmp_path / "chosen", "init", "--name", name, "--node-id", "rq-lilas")
    assert _node_id(chosen.stdout) == "rq-lilas"


def _init_on_a_terminal(data_dir: Path, typed: bytes) -> tuple[int, str]:
    """`regies init` with a terminal as its input, where `typed` is typed once the question shows."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [*REGIES, "--data-dir", str(data_dir), "init"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=node_env(),
    )
    os.close(terminal)
    try:
        prompt = _read_until(process, b"name")
        assert "Nom de la régie" in prompt
        os.write(controller, typed)
        out, err = process.communicate(timeout=60)
    finally:
        os.close(controller)
    return process.returncode, prompt + out.decode() + err.decode()


def test_on_a_terminal_init_asks_for_the_name(tmp_path: Path) -> None:
    status, text = _init_on_a_terminal(tmp_path / "var", "Régie de la Côte d'Opale\n".encode())
    assert status == 0, text
    assert re.fullmatch(r"regie-de-la-cote-d-opale-[0-9a-f]{6}", _node_id(text))
    assert "(Régie de la Côte d'Opale)" in text
    assert 'make run NAME="' in text  # how to do it without the question next time
    again = _regies(tmp_path / "var", "init")  # an initialised node asks nothing
    assert "already initialised" in again.stdout and "Nom de la régie" not in again.stdout


def test_no_answer_on_the_terminal_still_gives_a_unique_id(tmp_path: Path) -> None:
    status, text = _init_on_a_terminal(tmp_path / "var", b"\x04")  # Ctrl-D
    assert status == 0, text
    assert re.fullmatch(r"regie-[0-9a-f]{6}", _node_id(text))
    assert "Traceback" not in text and "/admin/profile" in text


def _read_until(process: subprocess.Popen[bytes], marker: bytes) -> str:
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 60
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen.decode()


def test_peer_add_says_when_two_nodes_share_an_id(tmp_path: Path, servers: list[NodeProcess]) -> None:
    run_regies(tmp_path / "a", "init", "--node-id", "rq-same")
    run_regies(tmp_path / "b", "init", "--node-id", "rq-same")
    other = NodeProcess(tmp_path / "b", REGIES_FEDERATION__WORKER="false")
    itself = NodeProcess(tmp_path / "a", REGIES_FEDERATION__WORKER="false")
    servers += [other, itself]
    shared = _regies(tmp_path / "a", "peer", "add", other.url, "--yes")
    assert shared.returncode == 1
    assert "the two nodes share the id 'rq-same'" in shared.stderr
    assert "itself" not in shared.stderr
    same = _regies(tmp_path / "a", "peer", "add", itself.url, "--yes")
    assert same.returncode == 1 and "this URL is this node itself" in same.stderr
    assert json.loads(_regies(tmp_path / "a", "peers", "--json").stdout) == []  # nothing was pinned


def test_serve_on_a_busy_port_says_so_and_claims_nothing(tmp_path: Path) -> None:
    assert _regies(tmp_path / "var", "init", "--node-id", "rq-busy").returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        served = _regies(tmp_path / "var", "serve", "--port", str(port))
        from_env = subprocess.run(
            [*REGIES, "--data-dir", str(tmp_path / "var"), "serve"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=node_env(REGIES_SERVER__PORT=str(port)),
            timeout=60,
        )
    for result in (served, from_env):
        assert result.returncode == 1
        assert f"port {port} on 127.0.0.1 is already taken" in result.stderr
        assert "make run PORT=" in result.stderr and "REGIES_SERVER__PORT=" in result.stderr
        assert "serving" not in result.stdout + result.stderr and "Ctrl-C" not in result.stdout
        assert "Traceback" not in result.stderr
