"""`regies conformance URL`: pair the kit with the node at URL (its operator adds the kit as a peer), run every
check, print one line per check with the section of docs/protocol.md it tests; exit 0 only if none failed."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from federation.conformance.checks import Conformance, Result
from federation.conformance.peer import TIMEOUT, KitClient, KitIdentity, Signing, serve_kit
from federation.protocol.keys import PublicKeyInfo
from federation.terminal import printable

if TYPE_CHECKING:
    from federation.node import UnopenedNode

POLL_S = 1.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the tested node's base URL, e.g. https://regie.example.org")
    parser.add_argument(
        "--key-dir",
        type=Path,
        help="keep the kit's identity in this directory: a node that added the kit once need not add it again "
        "(default: a throwaway identity for this run)",
    )
    parser.add_argument(
        "--listen", default="127.0.0.1:0", help="HOST:PORT of the kit's own server, which the node must reach"
    )
    parser.add_argument("--public-url", help="the kit's URL as the node reaches it (default http://HOST:PORT)")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the node to add the kit")


def run(args: argparse.Namespace, node: UnopenedNode) -> int:
    """Registered with `needs_node=False` (federation/commands.py): the kit tests another node, not this one."""
    identity = KitIdentity.kept_in(args.key_dir) if args.key_dir else KitIdentity.throwaway()
    host, _, port = str(args.listen).rpartition(":")
    return asyncio.run(
        run_kit(str(args.url).rstrip("/"), identity, host or "127.0.0.1", int(port or 0), args.public_url, args.wait)
    )


async def run_kit(
    url: str,
    identity: KitIdentity,
    host: str,
    port: int,
    public_url: str | None,
    wait_s: float,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> int:
    results: list[Result] = []

    def report(result: Result) -> None:
        results.append(result)
        say(printable(result.line()))

    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        try:
            async with session.get(f"{url}/.well-known/regies-node", allow_redirects=False) as answer:
                discovery = await answer.json(content_type=None) if answer.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            discovery, failure = None, str(exc)
        else:
            failure = f"answered {answer.status}"
    if not isinstance(discovery, dict):
        report(Result("3.1", "discovery document", "FAIL", f"GET {url}/.well-known/regies-node: {failure}"))
        return 1
    keys = [PublicKeyInfo.from_jwk(jwk) for jwk in discovery.get("keys") or [] if isinstance(jwk, dict)]
    base_url = str(discovery.get("base_url") or url).rstrip("/")
    node_keys = {f"{discovery.get('node_id')}#{key.kid}": key.public_key() for key in keys}
    runner, kit_url = await serve_kit(identity, host, port, public_url)
    try:
        async with KitClient(identity, base_url, node_keys) as client:
            checks = Conformance(client, discovery)
            for section, name, check in checks.discovery_checks():
                report(await checks.check(section, name, check))
            if not await paired(client, kit_url, identity, wait_s, say):
                report(Result("4", "the node added the kit as a peer", "FAIL", f"still 401 after {wait_s:g} s"))
            else:
                for section, name, check in checks.signed_checks():
                    report(await checks.check(section, name, check))
    finally:
        await runner.cleanup()
    failed = sum(result.status == "FAIL" for result in results)
    skipped = sum(result.status == "SKIP" for result in results)
    say(f"{len(results)} checks: {len(results) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    say(f"The kit pushed test records under its own node id '{identity.node_id}'; forget it on the node with:")
    say(f"  regies peer remove {identity.node_id}")
    return 1 if failed else 0


async def paired(
    client: KitClient, kit_url: str, identity: KitIdentity, wait_s: float, say: Callable[[str], None]
) -> bool:
    """Whether the node serves the kit (it added the kit as a peer), asking its operator to and waiting if not."""
    deadline = time.monotonic() + wait_s
    asked = False
    while True:
        answer = await client.send("GET", "/federation/v1/changes?limit=1", signing=Signing())
        if answer.status != 401:
            return True
        if not asked:
            say(f"The node must add this kit as a peer (key fingerprint {identity.fingerprint}). On the node, run:")
            say(f"  regies peer add {kit_url} --no-pull")
            say(f"Waiting up to {wait_s:g} s (the node must be allowed to contact the kit: docs/protocol.md §15).")
            asked = True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
