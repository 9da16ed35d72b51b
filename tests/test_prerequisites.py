"""`python -m tests.prerequisites` (run by `make test`) in real processes, and the throwaway PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.prerequisites import dsn, find_postgres_binaries, server_answers, throwaway_postgres

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on return: nothing listens there


def _check(
    port: int, *options: str, python: str = sys.executable, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REGIES_TEST_POSTGRES_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"}
    command = [python, "-m", "tests.prerequisites", *options]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_nothing_to_do_when_chromium_is_there_and_a_server_answers(listening_port: int) -> None:
    result = _check(listening_port, "--chromium", sys.executable)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_no_server_answering_means_a_throwaway_one(dead_port: int) -> None:
    binaries = find_postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL's programs are not installed here")
    result = _check(dead_port, "--chromium", sys.executable, "--postgres-bin", str(binaries))
    assert result.returncode == 0, result.stderr
    assert f"no PostgreSQL server answers on 127.0.0.1:{dead_port}" in result.stdout
    assert "start a throwaway one" in result.stdout
    assert "installing" not in result.stdout


@pytest.mark.skipif(not IS_ROOT, reason="the root path installs packages")
def test_as_root_missing_programs_are_installed_with_apt(dead_port: int, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _check(dead_port, "--chromium", str(tmp_path / "chromium"), "--postgres-bin", str(empty), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "installing Debian's chromium package" in result.stdout
    assert "apt-get install -y -qq chromium" in result.stdout
    assert "programs are not installed: installing Debian's postgresql package" in result.stdout


def test_a_user_who_cannot_install_is_stopped_at_once_with_the_command(tmp_path: Path, dead_port: int) -> None:
    user: str | None = None
    python = sys.executable
    if IS_ROOT:
        # A real unprivileged process: `nobody` may not read root's Python, so it gets the system one.
        user, python = "nobody", shutil.which("python3", path="/usr/bin:/bin") or ""
        if not python:
            pytest.skip("no system python3 for the unprivileged user")
    result = _check(dead_port, "--chromium", str(tmp_path / "chromium"), python=python, user=user)
    assert result.returncode == 1
    assert "sudo apt-get install -y chromium" in result.stderr
    assert "PostgreSQL" not in result.stdout + result.stderr  # it stopped at the first missing piece
    assert "installing" not in result.stdout


def test_a_throwaway_server_serves_then_disappears() -> None:
    binaries = find_postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL's programs are not installed here")
    with throwaway_postgres(binaries) as url:
        data_directory = Path(asyncio.run(_data_directory(url)))
        assert data_directory.is_dir()
    assert not server_answers(url)
    assert not data_directory.parent.exists()


async def _data_directory(url: str) -> str:
    connection = await asyncpg.connect(dsn(url))
    try:
        return str(await connection.fetchval("SHOW data_directory"))
    finally:
        await connection.close()
