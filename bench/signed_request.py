"""Benchmark of what a serving node does for each signed request besides its answer, against a bare SQLite read.

Every feed page and inbox batch a node serves starts with the same steps: find the signing peer, check the
signature, remember its nonce, sign the answer. This times each step on one node (initialised in a temporary
directory, with one pinned peer), in CPU milliseconds per call, so that a change to request authentication
shows up without the noise of a whole sync. The baseline is the same peer row read with Python's sqlite3 on an
open connection, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import header, node_env, regies

from federation.config import load_settings
from federation.protocol import persistence
from federation.protocol.keys import KeyStore
from federation.protocol.persistence import get_peer, read_peer
from federation.protocol.signing import HttpMessage, sign_request, sign_response, verify_request
from federation.storage.engine import create_engine, sqlite_path
from federation.storage.reader import open_reader

PEER_ID = "bench-peer"
FEED_URL = "http://127.0.0.1:8080/federation/v1/changes?since=Yzox&limit=1000"


async def cpu_ms(calls: int, step: Callable[[], Awaitable[Any]]) -> float:
    """CPU milliseconds per call of `step` (after one call to warm caches)."""
    await step()
    started = time.process_time()
    for _ in range(calls):
        await step()
    return (time.process_time() - started) / calls * 1000


async def measure(data_dir: Path, calls: int, page_bytes: int) -> list[tuple[str, float]]:
    regies(data_dir, "init", "--node-id", "bench-node", "--name", "Banc d'essai", env=node_env(1000))
    settings = load_settings(data_dir=data_dir)
    engine = create_engine(settings.database_url)
    reader = await open_reader(engine, settings.database_url)
    try:
        keys = await KeyStore.load(engine, settings.keys_dir)
        kid, private_key = keys.signing
        await persistence.save_peer(
            engine, node_id=PEER_ID, name="Pair", base_url="http://127.0.0.1:1", keys=keys.published
        )
        public_key = keys.published[0].public_key()
        raw = sqlite3.connect(f"file:{sqlite_path(settings.database_url)}?mode=ro", uri=True)

        async def bare_read() -> Any:
            return raw.execute("SELECT * FROM peers WHERE node_id = ?", (PEER_ID,)).fetchone()

        async def verify() -> Any:
            return verify_request("GET", FEED_URL, signed, b"", public_key)

        async def sign_page() -> Any:
            return sign_response(200, page, request, node_id="bench-node", kid=kid, private_key=private_key)

        signed = sign_request("GET", FEED_URL, None, node_id=PEER_ID, kid=kid, private_key=private_key)
        request = HttpMessage("GET", FEED_URL, signed)
        page = b"x" * page_bytes
        far = 2**62
        figures = [
            ("baseline: the peer row read with sqlite3", await cpu_ms(calls, bare_read)),
            ("peer lookup through the engine (get_peer)", await cpu_ms(calls, lambda: get_peer(engine, PEER_ID))),
            ("peer lookup through the reader (read_peer)", await cpu_ms(calls, lambda: read_peer(reader, PEER_ID))),
            ("signature check of a GET (verify_request)", await cpu_ms(calls, verify)),
            (
                "nonce insert (remember_nonce)",
                await cpu_ms(calls, lambda: persistence.remember_nonce(engine, kid, secrets.token_urlsafe(18), far)),
            ),
            (f"signed answer of {page_bytes:,} bytes (sign_response)", await cpu_ms(calls, sign_page)),
        ]
        raw.close()
        return figures
    finally:
        await reader.close()
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per step (default 500)")
    parser.add_argument("--page-bytes", type=int, default=900_000, help="answer size to sign (a feed page of 1,000)")
    args = parser.parse_args()
    print(header(args, script="bench/signed_request.py"), flush=True)
    with tempfile.TemporaryDirectory(prefix="regies-bench-signed-") as tmp:
        figures = asyncio.run(measure(Path(tmp) / "node", args.calls, args.page_bytes))
    baseline = figures[0][1]
    for label, milliseconds in figures:
        print(f"  {label:<52} {milliseconds:7.3f} ms CPU per call, ratio {milliseconds / baseline:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
