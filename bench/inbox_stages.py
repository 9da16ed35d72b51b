"""Benchmark of the event-loop time of each CPU stage of one inbox push on a hub, with the real functions.

Run by hand:  .venv/bin/python bench/inbox_stages.py [--per-batch 20] [--calls 400] [--repeats 5] [--postgresql]

The hub's inbox handler (federation/protocol/receiver.py) does, for every pushed batch, besides its database round
trips: read the claimed keyid from Signature-Input, check the signature (RFC 9421 base, Content-Digest, Ed25519),
validate the batch and turn it into rows, check who may author them, and sign its answer. This times each of those
stages with `time.perf_counter` on one core, `--calls` times in a loop, and prints the best of `--repeats` loops in
milliseconds per push, against the same run's bare Ed25519 verification and signature of a signature base (what the
cryptography alone costs): the rest of a stage is the RFC 9421 mechanics in Python. The batch is the one
bench/load.py pushes (`--per-batch` activities of one member, signed with its key), with the headers aiohttp gives
the handler. With `--postgresql`, also the two statements every signed request runs on a PostgreSQL hub (the peer
lookup through the node's record reader and the nonce insert), on a throwaway database at 127.0.0.1:5432, in CPU
milliseconds of this process per call (the database's own work is in its process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import repo_root  # noqa: F401  (puts devtools/ on the path before it is imported)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hub import ActivityFactory, make_members
from multidict import CIMultiDict, CIMultiDictProxy
from push_load import push_body

from devtools.hubcrash import temporary_postgres_database
from federation.plugins import build_plugins
from federation.protocol import persistence
from federation.protocol.apply import check_authors
from federation.protocol.batchparser import parse_and_map
from federation.protocol.signing import HttpMessage, sign_request, sign_response, signature_keyid, verify_request
from federation.storage.engine import create_engine
from federation.storage.migrate import upgrade
from federation.storage.reader import open_reader

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
HUB_ID = "bench-hub"
PEER_ID = "bench-member"
INBOX_URL = "http://127.0.0.1:8080/federation/v1/inbox"


def best_ms(step: Callable[[], Any], calls: int, repeats: int) -> float:
    """Milliseconds per call of `step`, best of `repeats` loops of `calls` (after one call to warm caches)."""
    step()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        best = min(best, (time.perf_counter() - started) / calls * 1000)
    return best


def stages(per_batch: int, seed: int) -> list[tuple[str, Callable[[], Any]]]:
    registry = build_plugins(settings={"hub": {"enabled": True}}).registry
    kinds = registry.kinds
    member = make_members(random.Random(seed), 1, sorted(registry.service_types))[0]
    factory = ActivityFactory(registry, [member], seed + 2)
    body = push_body(factory, member, per_batch, f"{member.node_id}-bench")
    member_key, hub_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed = sign_request("POST", INBOX_URL, body, node_id=member.node_id, kid="k1", private_key=member_key)
    # What aiohttp hands the handler: the client's usual headers around the signature's.
    raw_headers: CIMultiDict[str] = CIMultiDict(
        {"Host": "127.0.0.1:8080", "User-Agent": "Python/3.11 aiohttp/3.14", "Accept": "*/*"}
    )
    raw_headers.update({"Content-Type": "application/json", "Content-Length": str(len(body))})
    raw_headers.extend(signed)
    headers = CIMultiDictProxy(raw_headers)
    public_key = member_key.public_key()
    request = HttpMessage("POST", INBOX_URL, headers)
    parsed = parse_and_map(body, member.node_id, kinds)
    answer = json.dumps({"batch_id": parsed.batch_id, "status": "applied", "received": per_batch, "applied": 20})
    answer_bytes = answer.encode()
    base = b"x" * 400  # about the length of a signature base of these requests and answers
    signature = member_key.sign(base)
    return [
        ("baseline: Ed25519 verify of a signature base", lambda: public_key.verify(signature, base)),
        ("baseline: Ed25519 sign of a signature base", lambda: hub_key.sign(base)),
        ("keyid read from Signature-Input (signature_keyid)", lambda: signature_keyid(headers)),
        (
            "signature check (verify_request)",
            lambda: verify_request("POST", INBOX_URL, headers, body, public_key),
        ),
        ("batch validated into rows (parse_and_map)", lambda: parse_and_map(body, member.node_id, kinds)),
        ("authors checked (check_authors)", lambda: check_authors(parsed.rows, False, kinds)),
        (
            "answer signed (sign_response)",
            lambda: sign_response(202, answer_bytes, request, node_id=HUB_ID, kid="h1", private_key=hub_key),
        ),
    ]


async def database_stages(url: str, calls: int, repeats: int) -> list[tuple[str, float]]:
    """CPU ms per call of the peer lookup and of the nonce insert, best of `repeats` loops of `calls`."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await persistence.save_peer(engine, node_id=PEER_ID, name="Membre", base_url="http://127.0.0.1:1", keys=[])
        reader = await open_reader(engine, url)

        async def peer() -> Any:
            return await persistence.read_peer(reader, PEER_ID)

        async def nonce() -> Any:
            return await persistence.remember_nonce(engine, f"{PEER_ID}#k1", secrets.token_urlsafe(18), 2**62)

        figures = []
        for name, step in (("peer lookup (read_peer)", peer), ("nonce stored (remember_nonce)", nonce)):
            await step()
            best = float("inf")
            for _ in range(repeats):
                started = time.process_time()
                for _ in range(calls):
                    await step()
                best = min(best, (time.process_time() - started) / calls * 1000)
            figures.append((f"PostgreSQL: {name}, CPU", best))
        return figures
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-batch", type=int, default=20, help="activities per pushed batch")
    parser.add_argument("--calls", type=int, default=400, help="calls per timed loop")
    parser.add_argument("--repeats", type=int, default=5, help="timed loops per stage (the best is printed)")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--postgresql", action="store_true", help="also the peer lookup and nonce on PostgreSQL")
    args = parser.parse_args()
    total = 0.0
    print(f"one push of {args.per_batch} activities, ms per push (best of {args.repeats} loops of {args.calls}):")
    for name, step in stages(args.per_batch, args.seed):
        figure = best_ms(step, args.calls, args.repeats)
        if not name.startswith("baseline"):
            total += figure
        print(f"  {name:<52} {figure:8.3f}")
    if args.postgresql:
        with temporary_postgres_database(ADMIN_URL) as url:
            for name, figure in asyncio.run(database_stages(url, args.calls, args.repeats)):
                total += figure
                print(f"  {name:<52} {figure:8.3f}")
    print(f"  {'the stages of a push together':<52} {total:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
