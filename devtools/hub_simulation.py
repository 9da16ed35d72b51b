"""Simulated régies pushing signed batches to hub processes at once, for the scale test and benchmark.

Each simulated régie has its own Ed25519 key and is enrolled (approved) directly in the hub's database; it
then pushes its activities through the real inbox protocol (RFC 9421-signed POSTs), spread over several hub
processes sharing one database, some batches delivered twice to different processes.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.loadgen import COMMUNES, SERVICE_TYPES
from federation.protocol import persistence
from federation.protocol.keys import PublicKeyInfo, b64url, raw_public
from federation.protocol.signing import sign_request
from federation.schema.geo import department_for_commune
from federation.schema.records import Activity, utcnow
from federation.storage.mapping import to_micros
from federation.storage.tables import enrolments


@dataclass
class SimulatedRegie:
    node_id: str
    key: Ed25519PrivateKey
    commune: str
    batches: list[bytes] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    @property
    def kid(self) -> str:
        return "sim-key"


@dataclass
class PushReport:
    sent: int = 0
    duplicates_sent: int = 0
    applied: int = 0
    answered_duplicate: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def make_regies(count: int, batches: int, per_batch: int, seed: int = 7) -> tuple[list[SimulatedRegie], Counter[Any]]:
    """`count` régies with `batches` batches of `per_batch` activities each, and the ground truth of the
    national activity table: activities per (region, category, service type)."""
    rng = random.Random(seed)
    regies = []
    truth: Counter[Any] = Counter()
    for n in range(count):
        commune = COMMUNES[n % len(COMMUNES)]
        regie = SimulatedRegie(f"sim-{n:04d}", Ed25519PrivateKey.generate(), commune)
        region = department_for_commune(commune).region_code
        for b in range(batches):
            records = []
            for _ in range(per_batch):
                category, service_type = SERVICE_TYPES[rng.randrange(len(SERVICE_TYPES))]
                activity = Activity.model_validate(
                    {
                        "origin": regie.node_id,
                        "id": uuid.uuid4(),
                        "version": 1,
                        "updated_at": "2026-03-01T08:00:00Z",
                        "category": category,
                        "service_type": service_type,
                        "title": f"Activité simulée {n}-{b}",
                        "start_date": "2026-01-01",
                        "place": {"commune": commune},
                    }
                )
                regie.ids.add(str(activity.id))
                truth[(region, category, service_type)] += 1
                body = activity.model_dump_json()
                records.append(
                    f'{{"origin":"{regie.node_id}","id":"{activity.id}","kind":"activity","version":1,'
                    f'"updated_at":"2026-03-01T08:00:00Z","deleted":false,"payload":{body}}}'
                )
            batch = f'{{"origin":"{regie.node_id}","batch_id":"{uuid.uuid4()}","records":[{",".join(records)}]}}'
            regie.batches.append(batch.encode())
        regies.append(regie)
    return regies, truth


async def enrol(engine: AsyncEngine, regies: list[SimulatedRegie], base_url: str = "http://127.0.0.1:9") -> None:
    """Make every simulated régie an approved member of the hub (as a coordinator's approval would)."""
    now = to_micros(utcnow())
    async with engine.begin() as connection:
        await connection.execute(
            insert(enrolments),
            [
                {
                    "node_id": regie.node_id,
                    "name": f"Régie simulée {regie.node_id}",
                    "base_url": base_url,
                    "keys": "[]",
                    "commune": regie.commune,
                    "department": department_for_commune(regie.commune).code,
                    "region": department_for_commune(regie.commune).region_code,
                    "label_status": "labellisee",
                    "kind": "quartier",
                    "state": "approved",
                    "requested_at_us": now,
                    "decided_at_us": now,
                    "decided_by": "simulation",
                }
                for regie in regies
            ],
        )
    for regie in regies:
        key = PublicKeyInfo(regie.kid, b64url(raw_public(regie.key.public_key())), int(time.time()))
        await persistence.save_peer(
            engine, node_id=regie.node_id, name=regie.node_id, base_url=base_url, keys=[key], role="member", pull=False
        )


async def push_all(
    regies: list[SimulatedRegie], hub_urls: list[str], duplicate_every: int = 5, concurrency: int = 200
) -> PushReport:
    """Every régie pushes its batches at the same time, alternating hub processes; every `duplicate_every`-th
    batch is delivered a second time to another process (a lost acknowledgement)."""
    report = PushReport()
    limit = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:

        async def post(regie: SimulatedRegie, url: str, body: bytes) -> dict[str, Any]:
            target = f"{url}/federation/v1/inbox"
            headers = sign_request("POST", target, body, node_id=regie.node_id, kid=regie.kid, private_key=regie.key)
            headers["Content-Type"] = "application/json"
            for attempt in range(5):
                async with limit, session.post(target, data=body, headers=headers) as response:
                    answer = await response.text()
                    if response.status == 202:
                        result: dict[str, Any] = json.loads(answer)
                        return result
                    if response.status < 500 or attempt == 4:
                        raise RuntimeError(f"{regie.node_id} → {url}: {response.status} {answer[:200]}")
                await asyncio.sleep(0.2 * (attempt + 1))
                headers = sign_request(
                    "POST", target, body, node_id=regie.node_id, kid=regie.kid, private_key=regie.key
                )
                headers["Content-Type"] = "application/json"
            raise AssertionError("unreachable")

        async def run(regie: SimulatedRegie, offset: int) -> None:
            for number, batch in enumerate(regie.batches):
                url = hub_urls[(offset + number) % len(hub_urls)]
                try:
                    answer = await post(regie, url, batch)
                    report.sent += 1
                    report.applied += answer["applied"]
                    if number % duplicate_every == 0 and len(hub_urls) > 1:
                        again = await post(regie, hub_urls[(offset + number + 1) % len(hub_urls)], batch)
                        report.duplicates_sent += 1
                        report.answered_duplicate += again["status"] == "duplicate"
                except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                    report.errors.append(str(exc))

        await asyncio.gather(*(run(regie, n) for n, regie in enumerate(regies)))
    report.seconds = time.perf_counter() - started
    return report
