"""The README path end to end: `regies init`, `regies serve` in a real process, then create and list with a token."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REGIES_")}


def test_init_serve_create_list(tmp_path: Path) -> None:
    data, port = str(tmp_path / "var"), _free_port()
    regies = [sys.executable, "-m", "federation", "--data-dir", data]
    init = subprocess.run([*regies, "init", "--name", "Régie de test"], capture_output=True, text=True, env=_env())
    assert init.returncode == 0, init.stderr
    token = init.stdout.strip().splitlines()[-1]
    server = subprocess.Popen(
        [*regies, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env()
    )
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_create_and_list(base, token))
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    text = output.decode()
    assert f"http://127.0.0.1:{port}/" in text
    assert "admin-token" in text
    assert token not in text  # secrets never reach the log


async def _create_and_list(base: str, token: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the server did not become ready")
        body = {
            "category": "urban_management",
            "service_type": "green_spaces",
            "title": "Entretien des pelouses",
            "place": {"commune": "69123"},
        }
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{base}/api/v1/activities", json=body, headers=headers) as response:
            assert response.status == 201, await response.text()
        async with session.get(f"{base}/api/v1/activities") as response:
            items = (await response.json())["items"]
        assert [item["title"] for item in items] == ["Entretien des pelouses"]
        async with session.get(f"{base}/openapi.json") as response:
            assert "ActivityData" in (await response.json())["components"]["schemas"]
