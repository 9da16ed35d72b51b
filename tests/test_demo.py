"""`python -m federation.demo`: the whole set-up in real processes; it never wipes a directory it did not make."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from federation.demo import MARKER, DemoError, choose_ports, prepare_dir
from federation.loadgen import node_env


def test_demo_sets_up_the_network_prints_the_summary_and_stops(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "federation.demo", "--dir", str(root), "--base-port", "0", "--no-wait"],
        capture_output=True,
        text=True,
        env=node_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    hub_url = re.search(r"http://127\.0\.0\.1:[0-9]+(?=/plugins/hub/tables/activities\?period=2026)", out)
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


def test_an_existing_directory_is_replaced_only_if_the_demo_made_it(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "federation.demo", "--dir", str(foreign), "--base-port", "0", "--no-wait"],
        capture_output=True,
        text=True,
        env=node_env(),
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
