"""`python -m devtools.demo`: the whole set-up in real processes; it never wipes a directory it did not make."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from devtools.demo import MARKER, DemoError, choose_ports, prepare_dir
from devtools.loadgen import node_env

# `python -m devtools.demo` finds devtools/ from the repository root, where `make demo` runs it.
REPOSITORY = Path(__file__).resolve().parents[1]


def test_demo_sets_up_the_network_prints_the_summary_and_stops(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    demo = subprocess.Popen(
        [sys.executable, "-m", "devtools.demo", "--dir", str(root), "--base-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=node_env(),
        cwd=REPOSITORY,
    )
    try:
        summary = _read_summary(demo)
        logins = _logins_printed(summary)
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C does
        rest, errors = demo.communicate(timeout=60)
    assert demo.returncode == 0, summary + rest + errors
    out = summary + rest
    hub_url = re.search(r"http://127\.0\.0\.1:[0-9]+(?=/plugins/hub/tables/activities\?period=2025)", out)
    assert hub_url is not None, out
    assert f"{hub_url[0]}/docs" in out
    token = (root / "hub" / "coordinator-token").read_text().strip()
    assert token in out
    for node_id in ("rq-belleville", "rq-duchere", "rt-pays-de-bray"):
        assert str(root / node_id / "admin-token") in out
    assert "validé / validated" in out and "brouillon / draft" in out
    assert "2/3" in out and "Régie de territoire du Pays de Bray" in out  # the draft report counts as missing
    assert out.rstrip().endswith("Terminé — done.")
    assert (root / MARKER).is_file()
    # The printed web logins open the coordinators' dashboard (national and regional) and each régie's back-office.
    # The dashboard opens on the last year, the latest one the régies can have reported.
    assert logins["coord-national"] == (f"{hub_url[0]}/hub", f"Rapport national {dt.date.today().year - 1}")
    assert logins["coord-aura"] == (
        f"{hub_url[0]}/hub",
        f"Rapport régional · Auvergne-Rhône-Alpes (84) {dt.date.today().year - 1}",
    )
    back_offices = {key: page for key, page in logins.items() if key.startswith("admin@")}
    assert len(back_offices) == 3
    for key, (page, title) in back_offices.items():
        assert page == f"{key.removeprefix('admin@')}/admin" and title.startswith("Espace de gestion — Régie")


def _read_summary(demo: subprocess.Popen[str]) -> str:
    """The demo's output up to the end of its summary, while its servers still run."""
    assert demo.stdout is not None
    lines: list[str] = []
    for line in demo.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            return "".join(lines)
    pytest.fail("the demo ended before printing its summary:\n" + "".join(lines))


def _logins_printed(summary: str) -> dict[str, tuple[str, str]]:
    """Log in with every web login the summary prints; for each, the page it lands on and that page's title."""
    hub = re.search(r"dashboard:\s+(\S+)/login\s+puis / then\s+\S+", summary)
    assert hub is not None, summary
    accounts = [(hub[1], username, password) for username, password in re.findall(r":\s+(coord-\S+) / (\S+)", summary)]
    for base, username, password in re.findall(r"Back-office:\s+(\S+)/login\s+\((\S+) / (\S+)\)", summary):
        accounts.append((base, username, password))
    assert {username for _, username, _ in accounts} >= {"coord-national", "coord-aura", "admin"}
    return asyncio.run(_log_in_all(accounts))


async def _log_in_all(accounts: list[tuple[str, str, str]]) -> dict[str, tuple[str, str]]:
    landed: dict[str, tuple[str, str]] = {}
    for base, username, password in accounts:
        # unsafe=True: keep the session cookie of a server addressed by its IP address, as a browser does.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(f"{base}/login") as response:
                form = await response.text()
            csrf = re.search(r'name="_csrf" value="([^"]+)"', form)
            assert csrf is not None, form
            data = {"_csrf": csrf[1], "username": username, "password": password, "next": ""}
            async with session.post(f"{base}/login", data=data) as response:
                assert response.status == 200, await response.text()
                title = re.search(r"<h1[^>]*>([^<]+)</h1>", await response.text())
                key = username if username.startswith("coord-") else f"{username}@{base}"
                landed[key] = (str(response.url), title[1].strip() if title else "")
    return landed


def test_an_existing_directory_is_replaced_only_if_the_demo_made_it(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--dir", str(foreign), "--base-port", "0", "--no-wait"],
        capture_output=True,
        text=True,
        env=node_env(),
        cwd=REPOSITORY,
        timeout=60,
    )
    assert result.returncode == 2
    assert "was not created by the demo" in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"

    ours = tmp_path / "demo"
    prepare_dir(ours)
    (ours / "hub").mkdir()
    prepare_dir(ours)
    assert sorted(path.name for path in ours.iterdir()) == [MARKER]


def test_ports_in_use_are_refused() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DemoError, match=f"port {port}"):
            choose_ports(port, 4)
    assert len(set(choose_ports(0, 4))) == 4
