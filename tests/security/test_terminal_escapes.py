"""Terminal escapes: a node being added cannot rewrite what `regies peer add` and `regies peers` print."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from devtools.loadgen import NodeProcess, free_port, node_env, run_regies
from federation.cli import main
from federation.config import load_settings
from federation.protocol import persistence
from federation.protocol.keys import PublicKeyInfo, fingerprint
from federation.storage.engine import create_engine
from federation.terminal import printable
from tests.protocol.conftest import NodeFactory

# Cursor up, erase the line, back to its start: the operator would see the forged line instead of the real one.
ERASE_LINE = "\x1b[1A\x1b[2K\r"
FORGED_FINGERPRINT = "SHA256:TOUT-VA-BIEN-COMPAREZ-CELUI-CI"
HIDDEN = ("\x1b", "\r", "\x9b", "\x07", "\u202e", "\u200b", "\x7f")


def test_printable_escapes_controls_and_format_characters() -> None:
    assert printable("Régie des Lilas — 93") == "Régie des Lilas — 93"
    assert printable(ERASE_LINE) == "\\x1b[1A\\x1b[2K\\x0d"
    assert printable("a\x9b2Jb\x7f\x00\n\t") == "a\\x9b2Jb\\x7f\\x00\\x0a\\x09"
    assert printable("abc\u202edcba\u2066\u200b\ufeff") == "abc\\u202edcba\\u2066\\u200b\\ufeff"
    assert printable("x\u2028y\ud800") == "x\\u2028y\\ud800"  # a line separator, a lone surrogate from JSON


async def regies_async(data: Path, *args: str) -> tuple[str, str, int]:
    """`regies ARGS` in a process of its own while this test's servers keep answering: (stdout, stderr, status)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "federation",
        "--data-dir",
        str(data),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=node_env(),
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return out.decode(), err.decode(), process.returncode or 0


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


async def test_peer_add_and_peers_show_a_hostile_nodes_escapes_as_text(make_node: NodeFactory, tmp_path: Path) -> None:
    # The operator's node: initialised, then served once on a port of its own (not the configured 8080).
    data = tmp_path / "moi"
    await asyncio.to_thread(run_regies, data, "init", "--node-id", "rq-moi", "--name", "Régie de l'opérateur")
    port = free_port()
    served = await asyncio.to_thread(NodeProcess, data, port, REGIES_FEDERATION__WORKER="false")
    served.stop()

    # The hostile node: a real node's discovery document, with escapes in its name and key id.
    real = await make_node("rq-hostile")
    _status, document = await real.get("/.well-known/regies-node")
    real_key = PublicKeyInfo.from_jwk(document["keys"][0])
    document["name"] = f"Régie hostile{ERASE_LINE}Node:    rq-de-confiance  (Régie amie)\u202e"
    document["keys"][0]["kid"] = f"{real_key.kid}{ERASE_LINE}Key k1: {FORGED_FINGERPRINT} \x9b2J\x07"

    async def discovery(_request: web.Request) -> web.Response:
        return web.json_response(document)

    async def hostile_problem(_request: web.Request) -> web.Response:
        # What its feed answers: a problem whose detail would clear the screen and retitle the terminal.
        detail = f"{ERASE_LINE}\x1b[2J\x1b]0;tout va bien\x07 sync OK"
        return web.json_response({"title": "Bad", "status": 400, "detail": detail}, status=400)

    app = web.Application()
    app.router.add_get("/.well-known/regies-node", discovery)
    app.router.add_route("*", "/{tail:.*}", hostile_problem)
    hostile = TestServer(app, host="127.0.0.1")
    await hostile.start_server()
    try:
        address = str(hostile.make_url("")).rstrip("/")
        document["base_url"] = address
        added, errors, status = await regies_async(data, "peer", "add", address, "--yes")
        assert status == 0, added + errors
        synced, sync_errors, sync_status = await regies_async(data, "sync", "rq-hostile", "--pull-only")
    finally:
        await hostile.close()

    assert not any(char in added for char in HIDDEN), repr(added)
    (key_line,) = _lines_with(added, fingerprint(real_key.x))  # the real fingerprint is on screen, once
    assert key_line.startswith(f"Key {real_key.kid}\\x1b[1A\\x1b[2K\\x0dKey k1: {FORGED_FINGERPRINT} \\x9b2J\\x07:")
    assert _lines_with(added, "rq-de-confiance") == [
        "Node:    rq-hostile  (Régie hostile\\x1b[1A\\x1b[2K\\x0dNode:    rq-de-confiance  (Régie amie)\\u202e)"
    ]
    # 26.6: the hint names the address `regies serve` listened on, not the configured port.
    assert f"  regies peer add http://127.0.0.1:{port}" in added.splitlines()

    assert sync_status == 1
    # The peer's own wording never reaches the terminal: a status and a reason the node wrote (docs/security.md).
    assert "pull from rq-hostile failed" in sync_errors and "400 Bad Request" in sync_errors
    assert "tout va bien" not in sync_errors
    assert not any(char in synced + sync_errors for char in HIDDEN), repr(sync_errors)

    listed = (await asyncio.to_thread(run_regies, data, "peers")).stdout
    assert not any(char in listed for char in HIDDEN), repr(listed)
    (row,) = _lines_with(listed, "rq-hostile")
    assert row.startswith("rq-hostile") and "Régie hostile\\x1b[1" in row
    as_json = json.loads((await asyncio.to_thread(run_regies, data, "peers", "--json")).stdout)
    assert as_json[0]["name"] == document["name"]  # --json is unchanged: JSON escapes control characters itself


def test_peers_is_a_table_with_worded_headers_and_aligned_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("REGIES_")]:
        monkeypatch.delenv(key)
    data = tmp_path / "node"
    assert main(["--data-dir", str(data), "init", "--node-id", "rq-ici"]) == 0
    long_id = "regie-de-territoire-des-coteaux-et-vallees-du-haut-pays"

    async def pin_peers() -> None:
        engine = create_engine(load_settings(data_dir=data).database_url)
        try:
            await persistence.save_peer(
                engine, node_id="rq-a", name="Régie A", base_url="http://127.0.0.1:1", keys=[], push=True
            )
            await persistence.save_peer(
                engine, node_id=long_id, name="Régie des Coteaux", base_url="http://127.0.0.1:2", keys=[], role="hub"
            )
        finally:
            await engine.dispose()

    asyncio.run(pin_peers())
    capsys.readouterr()
    assert main(["--data-dir", str(data), "peers"]) == 0
    output = capsys.readouterr().out
    lines = output.splitlines()
    rule = next(number for number, line in enumerate(lines) if line.startswith("─"))
    top, header = lines[rule - 2], lines[rule - 1]  # headers of two words stand on two lines
    for words in ("Node", "Name", "Exchanges", "Status", "sync", "behind", "waiting", "failed", "Last error"):
        assert words in header
    assert "Last successful" in top and top.count("Batches") == 2 and "Records" in top and "0f" not in output
    rows = [line for line in lines if line.startswith(("rq-a", "regie-de-territoire"))]
    assert len(rows) == 2
    column = header.index("Exchanges")
    assert [row[column:].split()[0] for row in rows] == ["pull", "pull"]  # the long id pushed no column aside
    by_id = {row.split()[0]: row for row in rows}
    assert "pull + push" in by_id["rq-a"] and "pull (hub)" in by_id[long_id]
    # Counts are right-aligned under their header's last letter.
    for word in ("behind", "waiting", "failed"):
        end = header.index(word) + len(word)
        assert [row[end - 1] for row in rows] == ["-" if word == "behind" else "0"] * 2


def test_outbox_retry_refuses_a_batch_id_the_database_cannot_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("REGIES_")]:
        monkeypatch.delenv(key)
    data = str(tmp_path / "node")
    assert main(["--data-dir", data, "init", "--node-id", "rq-ici"]) == 0
    with pytest.raises(SystemExit) as refused:
        main(["--data-dir", data, "outbox", "retry", "9" * 30])
    assert refused.value.code == 2
    assert "is not a batch id" in capsys.readouterr().err
