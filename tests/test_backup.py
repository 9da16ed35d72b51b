"""`regies backup` while the node serves, then `regies restore` into a new data directory: same node, same data."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from devtools.loadgen import NodeProcess, run_regies
from federation.cli import main


def test_backup_while_serving_then_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import urllib.request

    source, copy, restored = tmp_path / "node", tmp_path / "backup", tmp_path / "restored"
    token = run_regies(source, "init", "--node-id", "rq-sauve").stdout.strip().splitlines()[-1]
    server = NodeProcess(source)
    try:
        body = json.dumps({"category": "urban_management", "service_type": "green_spaces", "title": "Haies"})
        request = urllib.request.Request(
            f"{server.url}/api/v1/activities",
            data=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            created = json.loads(response.read())
        assert main(["--data-dir", str(source), "backup", str(copy)]) == 0  # online: the node is serving
    finally:
        server.stop()
    assert "rq-sauve" in capsys.readouterr().out
    assert stat.S_IMODE(copy.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(pem.stat().st_mode) == 0o600 for pem in (copy / "keys").glob("*.pem"))
    assert main(["--data-dir", str(copy / "elsewhere"), "backup", str(copy)]) == 1  # refuses a non-empty dir

    assert main(["--data-dir", str(restored), "restore", str(copy)]) == 0
    assert main(["--data-dir", str(restored), "restore", str(copy)]) == 1  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    server = NodeProcess(restored)
    try:
        with urllib.request.urlopen(f"{server.url}/api/v1/activities/{created['id']}") as response:
            assert json.loads(response.read()) == created
        with urllib.request.urlopen(f"{server.url}/.well-known/regies-node") as response:
            document = json.loads(response.read())
    finally:
        server.stop()
    assert document["node_id"] == "rq-sauve"
    original_keys = sorted(path.name for path in (source / "keys").glob("*.pem"))
    assert [key["kid"] + ".pem" for key in document["keys"]] == original_keys


def test_restore_refuses_a_directory_that_is_not_a_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path / "node"), "restore", str(tmp_path)]) == 1
    assert "not a backup" in capsys.readouterr().err
