"""The conformance kit (`regies conformance URL`) against this project's own node, served as a real process: every
check passes; and against a node whose answers lose their signatures on the way: that check, and only the checks
that need it, fail."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from devtools.loadgen import CURRENT_REGIES, NodeProcess, node_env, run_regies
from federation.conformance.command import run_kit
from federation.conformance.peer import KitIdentity
from federation.protocol import persistence
from federation.versions import spoken
from tests.protocol.conftest import Node, NodeFactory, activity

CHECK_LINE = re.compile(r"^(PASS|FAIL|SKIP)  §(\S+)\s+(.*)$")


def test_every_check_passes_against_this_projects_node(tmp_path: Path, servers: list[NodeProcess]) -> None:
    data_dir = tmp_path / "node"
    token = run_regies(data_dir, "init", "--node-id", "rq-tested", "--name", "Régie testée").stdout.split()[-1]
    node = NodeProcess(data_dir, REGIES_FEDERATION__WORKER="false")
    servers.append(node)
    asyncio.run(create_and_delete_an_activity(node.url, token))  # a tombstone in its feed, for §6.3

    kit = subprocess.Popen(
        [*CURRENT_REGIES, "conformance", node.url, "--wait", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=node_env(),
    )
    lines: list[str] = []
    try:
        assert kit.stdout is not None
        for line in kit.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("  regies peer add "):
                # What the node's operator runs, as printed (with --yes: no terminal to confirm the fingerprint on).
                run_regies(data_dir, *line.split()[1:], "--yes", timeout=120)
        assert kit.wait(timeout=120) == 0, "\n".join(lines)
    finally:
        if kit.poll() is None:
            kit.kill()
            kit.wait()

    checks = [match.groups() for match in map(CHECK_LINE.match, lines) if match]
    assert len(checks) >= 36 and all(status == "PASS" for status, _, _ in checks), "\n".join(lines)
    sections = {section for _, section, _ in checks}
    assert {"3.1", "5.2", "5.3", "5.6", "6.1", "6.3", "7", "8", "9", "11", "14.2"} <= sections
    assert any("reserved characters" in name for _, _, name in checks)
    assert f"{len(checks)} checks: {len(checks)} passed, 0 failed, 0 skipped" in lines


async def create_and_delete_an_activity(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/v1/activities", json=activity(1), headers=headers) as answer:
            assert answer.status == 201
            record_id = (await answer.json())["id"]
        async with session.delete(f"{url}/api/v1/activities/{record_id}", headers=headers) as answer:
            assert answer.status == 204


def unsigning_proxy(node: Node) -> web.Application:
    """Forwards every request to `node` as received and answers with the node's answer minus its signature."""

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        sent = {
            name: value for name, value in request.headers.items() if name.lower() not in ("host", "content-length")
        }
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, URL(node.url + request.raw_path, encoded=True), data=body or None, headers=sent
            ) as answer,
        ):
            received = await answer.read()
            kept = {
                name: value
                for name, value in answer.headers.items()
                if name.lower() not in ("signature", "signature-input", "content-length", "transfer-encoding")
            }
            return web.Response(status=answer.status, body=received, headers=kept)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", forward)
    return app


async def test_a_node_whose_answers_are_unsigned_fails_the_signed_answer_checks(make_node: NodeFactory) -> None:
    node = await make_node("rq-unsigned")
    proxy = TestServer(unsigning_proxy(node), host="127.0.0.1")
    await proxy.start_server()
    proxy_url = str(proxy.make_url("")).rstrip("/")
    node.behind(proxy_url)  # the node names the proxy's URL as its own: signatures made for it verify
    lines: list[str] = []
    pairing: list[asyncio.Task[None]] = []

    async def add_kit(kit_url: str) -> None:
        # What `regies peer add KIT_URL` does on the node.
        remote = await node.context.client.fetch_discovery(kit_url)
        await persistence.save_peer(
            node.context.engine,
            node_id=remote.node_id,
            name=remote.name,
            base_url=remote.base_url,
            keys=remote.keys,
            pull=False,
            speaks=spoken(remote.document),
        )

    def say(line: str) -> None:
        lines.append(line)
        if line.startswith("  regies peer add "):
            pairing.append(asyncio.get_running_loop().create_task(add_kit(line.split()[3])))

    try:
        started = time.monotonic()
        code = await run_kit(proxy_url, KitIdentity.throwaway(), "127.0.0.1", 0, None, 60, say)
    finally:
        await proxy.close()
    assert pairing and time.monotonic() - started < 60

    results: dict[str, tuple[str, str]] = {}  # check name → (status, section)
    for line in lines:
        match = CHECK_LINE.match(line)
        if match:
            results[match[3].split(" — ")[0]] = (match[1], match[2])
    assert code == 1
    assert results["feed answers are signed by a published key and bound to the request"] == ("FAIL", "5.6")
    failed_receipt = results["the inbox applies a batch (202 applied) and signs its receipt"]
    assert failed_receipt == ("FAIL", "8")
    assert any("the answer is not signed" in line for line in lines), "\n".join(lines)
    # The other checks still pass: the kit tells which behaviour is wrong, not just that something is.
    failed = sorted(name for name, (status, _) in results.items() if status == "FAIL")
    assert failed == [
        "feed answers are signed by a published key and bound to the request",
        "the inbox applies a batch (202 applied) and signs its receipt",
    ], "\n".join(lines)
