"""Enrolment of régies on the hub: signed join requests, coordinators' decisions, and the signed directory."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.protocol import persistence
from federation.protocol.directory import directory_statement
from federation.protocol.discovery import RemoteNode, parse_discovery
from federation.protocol.keys import KeyStore, b64url
from federation.schema.records import NodeProfile, utcnow
from federation.storage.mapping import from_micros, to_micros
from federation.storage.tables import enrolments, peers


class EnrolmentError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Enrolment:
    id: int
    node_id: str
    name: str
    base_url: str
    keys: list[dict[str, Any]]
    commune: str | None
    department: str | None
    region: str | None
    label_status: str | None
    kind: str | None
    state: str
    requested_at: str
    decided_at: str | None
    decided_by: str | None
    comment: str | None

    def describe(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "keys"}


def _iso(micros: int | None) -> str | None:
    return None if micros is None else from_micros(micros).isoformat().replace("+00:00", "Z")


def _enrolment(row: Any) -> Enrolment:
    return Enrolment(
        row["id"],
        row["node_id"],
        row["name"],
        row["base_url"],
        json.loads(row["keys"]),
        row["commune"],
        row["department"],
        row["region"],
        row["label_status"],
        row["kind"],
        row["state"],
        _iso(row["requested_at_us"]) or "",
        _iso(row["decided_at_us"]),
        row["decided_by"],
        row["comment"],
    )


def parse_request(body: Any) -> tuple[RemoteNode, NodeProfile]:
    """The discovery document and profile a join request carries; EnrolmentError (422) if malformed."""
    if not isinstance(body, dict):
        raise EnrolmentError(422, "a join request is a JSON object with 'discovery' and 'profile'")
    try:
        remote = parse_discovery(body.get("discovery"))
    except (ValueError, KeyError) as exc:
        raise EnrolmentError(422, f"invalid discovery document: {exc}") from exc
    try:
        profile = NodeProfile.model_validate(body.get("profile"))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise EnrolmentError(422, f"invalid profile at {first['loc']}: {first['msg']}") from exc
    if profile.origin != remote.node_id:
        raise EnrolmentError(422, f"the profile belongs to '{profile.origin}', not '{remote.node_id}'")
    return remote, profile


async def record_request(engine: AsyncEngine, remote: RemoteNode, profile: NodeProfile) -> Enrolment:
    """Store a join request as pending (replacing an earlier undecided one); approved nodes cannot re-apply."""
    now = to_micros(utcnow())
    values = {
        "name": profile.name,
        "base_url": remote.base_url,
        "keys": json.dumps([key.jwk() for key in remote.keys]),
        "commune": profile.commune,
        "department": profile.department,
        "region": profile.region,
        "label_status": str(profile.label_status),
        "kind": str(profile.kind),
        "state": "pending",
        "requested_at_us": now,
        "decided_at_us": None,
        "decided_by": None,
        "comment": None,
    }
    async with engine.begin() as connection:
        latest = (
            (
                await connection.execute(
                    select(enrolments)
                    .where(enrolments.c.node_id == remote.node_id)
                    .order_by(enrolments.c.id.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        if latest is not None and latest["state"] == "approved":
            raise EnrolmentError(409, f"node '{remote.node_id}' is already a member of the network")
        if latest is not None and latest["state"] == "pending":
            await connection.execute(update(enrolments).where(enrolments.c.id == latest["id"]).values(**values))
            enrolment_id = latest["id"]
        else:
            result = await connection.execute(insert(enrolments).values(node_id=remote.node_id, **values))
            assert result.inserted_primary_key is not None
            enrolment_id = result.inserted_primary_key[0]
        row = (await connection.execute(select(enrolments).where(enrolments.c.id == enrolment_id))).mappings().one()
    return _enrolment(row)


async def list_enrolments(
    engine: AsyncEngine, state: str | None = None, region: str | None = None, node_id: str | None = None
) -> list[Enrolment]:
    query = select(enrolments).order_by(enrolments.c.id)
    if node_id:
        query = query.where(enrolments.c.node_id == node_id)
    if state:
        query = query.where(enrolments.c.state == state)
    if region:
        query = query.where(enrolments.c.region == region)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [_enrolment(row) for row in rows]


async def get_enrolment(engine: AsyncEngine, enrolment_id: int) -> Enrolment | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(enrolments).where(enrolments.c.id == enrolment_id))).mappings().first()
    return None if row is None else _enrolment(row)


async def decide(
    engine: AsyncEngine, enrolment_id: int, approve: bool, actor: str, comment: str | None = None, pull: bool = False
) -> Enrolment:
    """Approve (the node becomes a peer whose pushes are accepted) or reject a pending request."""
    current = await get_enrolment(engine, enrolment_id)
    if current is None:
        raise EnrolmentError(404, f"no enrolment {enrolment_id}")
    if current.state != "pending":
        raise EnrolmentError(409, f"enrolment {enrolment_id} is already {current.state}")
    async with engine.begin() as connection:
        await connection.execute(
            update(enrolments)
            .where(enrolments.c.id == enrolment_id)
            .values(
                state="approved" if approve else "rejected",
                decided_at_us=to_micros(utcnow()),
                decided_by=actor,
                comment=comment,
            )
        )
    if approve:
        from federation.protocol.keys import PublicKeyInfo

        await persistence.save_peer(
            engine,
            node_id=current.node_id,
            name=current.name,
            base_url=current.base_url,
            keys=[PublicKeyInfo.from_jwk(jwk) for jwk in current.keys],
            role="member",
            pull=pull,
            push=False,
        )
    decided = await get_enrolment(engine, enrolment_id)
    assert decided is not None
    return decided


# --- The signed directory ------------------------------------------------------------------------------


async def directory(engine: AsyncEngine, hub_id: str, keys: KeyStore) -> dict[str, Any]:
    """Approved members with their keys and place, signed by the hub's current key."""
    members = await list_enrolments(engine, state="approved")
    async with engine.connect() as connection:
        pinned = {
            row[0]: json.loads(row[1])
            for row in await connection.execute(
                select(peers.c.node_id, peers.c["keys"]).where(peers.c.role == "member")
            )
        }
    document: dict[str, Any] = {
        "hub": hub_id,
        "issued_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "nodes": [
            {
                "node_id": member.node_id,
                "name": member.name,
                "base_url": member.base_url,
                "keys": pinned.get(member.node_id, member.keys),
                "commune": member.commune,
                "department": member.department,
                "region": member.region,
                "label_status": member.label_status,
                "kind": member.kind,
            }
            for member in members
        ],
    }
    kid, private_key = keys.signing
    document["signature"] = {
        "kid": kid,
        "alg": "ed25519",
        "value": b64url(private_key.sign(directory_statement(document))),
    }
    return document
