"""Enrolment of régies on the hub: signed join requests, coordinators' decisions, revocation, the signed directory."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.plugin_api import NodeProfile, utcnow
from federation.plugin_api.network import (
    KeyStore,
    PublicKeyInfo,
    RemoteNode,
    b64url,
    directory_statement,
    fingerprint,
    parse_discovery,
    save_peer,
)
from federation.plugin_api.storage import enrolments, from_micros, get_meta, peers, to_micros

from . import labels

STATES = ("pending", "approved", "rejected", "revoked")
# A node publishes its current key and, while it rotates, the previous ones: a handful, never dozens.
MAX_KEYS = 4
MAX_BASE_URL = 500  # the column's width
MAX_KID = 100
MAX_SOURCE = 64


class EnrolmentError(Exception):
    """A join request or decision refused: the HTTP status, what is wrong, and the field it is about."""

    def __init__(
        self, status: int, message: str, *, slug: str = "conflict", pointer: str | None = None, retry_after: int = 0
    ) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.pointer = pointer
        self.retry_after = retry_after


@dataclass(frozen=True)
class EnrolmentLimits:
    """How many join requests may wait for a decision, in all and from one address."""

    max_pending: int = 500
    max_pending_per_source: int = 3


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
    source: str | None
    revoked_at: str | None
    revoked_by: str | None
    revoke_reason: str | None

    @property
    def fingerprints(self) -> list[dict[str, str]]:
        """Each key's id and fingerprint, for coordinators to compare with the régie's operator."""
        return [{"kid": str(jwk.get("kid")), "fingerprint": fingerprint(str(jwk.get("x")))} for jwk in self.keys]

    def describe(self) -> dict[str, Any]:
        described = {key: value for key, value in self.__dict__.items() if key != "keys"}
        return {**described, "keys": self.fingerprints}


def normalise_fingerprint(value: str) -> str:
    """A fingerprint as typed or pasted (any case, with or without colons and spaces), reduced to its hex digits."""
    return "".join(value.split()).replace(":", "").upper()


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
        row["source"],
        _iso(row["revoked_at_us"]),
        row["revoked_by"],
        row["revoke_reason"],
    )


def parse_request(body: Any) -> tuple[RemoteNode, NodeProfile]:
    """The discovery document and profile a join request carries; EnrolmentError (422) if malformed."""
    if not isinstance(body, dict):
        raise EnrolmentError(422, "a join request is a JSON object with 'discovery' and 'profile'", slug="validation")
    discovery = body.get("discovery")
    if isinstance(discovery, dict) and isinstance(discovery.get("keys"), list) and len(discovery["keys"]) > MAX_KEYS:
        raise EnrolmentError(
            422, f"a join request carries at most {MAX_KEYS} keys", slug="validation", pointer="/discovery/keys"
        )
    try:
        remote = parse_discovery(discovery)
    except (ValueError, KeyError) as exc:
        raise EnrolmentError(
            422, f"invalid discovery document: {exc}", slug="validation", pointer="/discovery"
        ) from exc
    if any(len(key.kid) > MAX_KID for key in remote.keys):
        raise EnrolmentError(
            422, f"a key id is at most {MAX_KID} characters", slug="validation", pointer="/discovery/keys"
        )
    if len(remote.base_url) > MAX_BASE_URL:
        raise EnrolmentError(
            422, f"base_url is longer than {MAX_BASE_URL} characters", slug="validation", pointer="/discovery/base_url"
        )
    try:
        profile = NodeProfile.model_validate(body.get("profile"))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        pointer = "/profile" + "".join(f"/{part}" for part in first["loc"])
        raise EnrolmentError(
            422, f"invalid profile at {first['loc']}: {first['msg']}", slug="validation", pointer=pointer
        ) from exc
    if profile.origin != remote.node_id:
        raise EnrolmentError(
            422,
            f"the profile belongs to '{profile.origin}', not '{remote.node_id}'",
            slug="validation",
            pointer="/profile/origin",
        )
    return remote, profile


def _key_set(keys: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(jwk.get("kid")), str(jwk.get("x"))) for jwk in keys}


async def _latest(connection: AsyncConnection, node_id: str) -> Any:
    query = select(enrolments).where(enrolments.c.node_id == node_id).order_by(enrolments.c.id.desc()).limit(1)
    return (await connection.execute(query)).mappings().first()


async def _refuse_taken_ids_and_revoked_keys(connection: AsyncConnection, remote: RemoteNode, hub_id: str) -> None:
    """The hub's own id and its peers' are not for enrolment; a key revoked on this hub never comes back."""
    if remote.node_id == hub_id:
        raise EnrolmentError(409, f"'{remote.node_id}' is this hub's own node id", pointer="/discovery/node_id")
    role = await connection.scalar(select(peers.c.role).where(peers.c.node_id == remote.node_id))
    if role is not None and role != "member":
        raise EnrolmentError(
            409, f"'{remote.node_id}' is the node id of a peer of this hub", pointer="/discovery/node_id"
        )
    offered = {key.x for key in remote.keys}
    for (revoked_keys,) in await connection.execute(
        select(enrolments.c["keys"]).where(enrolments.c.state == "revoked")
    ):
        if offered & {str(jwk.get("x")) for jwk in json.loads(revoked_keys)}:
            raise EnrolmentError(
                403,
                "this request carries a key revoked on this hub: enrol with a new key",
                slug="revoked-key",
                pointer="/discovery/keys",
            )


async def _check_room(connection: AsyncConnection, source: str, limits: EnrolmentLimits) -> None:
    pending = enrolments.c.state == "pending"
    total = await connection.scalar(select(func.count()).select_from(enrolments).where(pending))
    if (total or 0) >= limits.max_pending:
        raise EnrolmentError(
            429,
            "the hub holds too many join requests awaiting a decision; try again later",
            slug="too-many-requests",
            retry_after=3600,
        )
    from_source = await connection.scalar(
        select(func.count()).select_from(enrolments).where(pending, enrolments.c.source == source)
    )
    if (from_source or 0) >= limits.max_pending_per_source:
        raise EnrolmentError(
            429,
            f"{limits.max_pending_per_source} join requests from this address already await a decision",
            slug="too-many-requests",
            retry_after=3600,
        )


async def record_request(
    engine: AsyncEngine,
    remote: RemoteNode,
    profile: NodeProfile,
    *,
    hub_id: str,
    signed_with: PublicKeyInfo,
    source: str,
    limits: EnrolmentLimits,
) -> tuple[Enrolment, bool]:
    """Store a join request as pending; (the enrolment, whether it is new or changed).

    A request is bound to the keys it arrived with: a later one for the same node id with other keys is refused,
    never merged. A member asking again with one of its own keys gets its membership back, unchanged; with other
    keys it is refused (a coordinator revokes it first, and its next request is decided again)."""
    source = source[:MAX_SOURCE]
    keys_json = json.dumps([key.jwk() for key in remote.keys])
    details = {
        "name": profile.name,
        "base_url": remote.base_url,
        "commune": profile.commune,
        "department": profile.department,
        "region": profile.region,
        "label_status": str(profile.label_status),
        "kind": str(profile.kind),
    }
    async with engine.begin() as connection:
        await _refuse_taken_ids_and_revoked_keys(connection, remote, hub_id)
        latest = await _latest(connection, remote.node_id)
        state = latest["state"] if latest is not None else None
        if state == "approved":
            pinned = await connection.scalar(select(peers.c["keys"]).where(peers.c.node_id == remote.node_id))
            if (signed_with.kid, signed_with.x) not in _key_set(json.loads(pinned or latest["keys"])):
                raise EnrolmentError(
                    409,
                    f"node '{remote.node_id}' is already a member of the network with other keys: a request in its "
                    "name must be signed with one of them (a coordinator revokes a member that lost its keys)",
                    pointer="/discovery/node_id",
                )
            return _enrolment(latest), False
        if state == "pending":
            if _key_set(json.loads(latest["keys"])) != _key_set(json.loads(keys_json)):
                raise EnrolmentError(
                    409,
                    f"a join request for node '{remote.node_id}' already awaits a decision with other keys; "
                    "a coordinator must reject it before another can be made",
                    pointer="/discovery/keys",
                )
            # The same keys asking again (a retry, a new address): the details follow, the keys cannot change.
            await connection.execute(update(enrolments).where(enrolments.c.id == latest["id"]).values(**details))
            enrolment_id = latest["id"]
        else:
            await _check_room(connection, source, limits)
            try:
                result = await connection.execute(
                    insert(enrolments).values(
                        node_id=remote.node_id,
                        keys=keys_json,
                        state="pending",
                        requested_at_us=to_micros(utcnow()),
                        source=source,
                        **details,
                    )
                )
            except IntegrityError as exc:  # ux_enrolments_one_pending: another request was stored meanwhile
                raise EnrolmentError(
                    409,
                    f"another join request for node '{remote.node_id}' arrived at the same moment",
                    pointer="/discovery/node_id",
                ) from exc
            assert result.inserted_primary_key is not None
            enrolment_id = result.inserted_primary_key[0]
        row = (await connection.execute(select(enrolments).where(enrolments.c.id == enrolment_id))).mappings().one()
    return _enrolment(row), True


async def list_enrolments(
    engine: AsyncEngine,
    state: str | None = None,
    region: str | None = None,
    node_id: str | None = None,
    *,
    after: int = 0,
    limit: int | None = None,
) -> list[Enrolment]:
    """Enrolments in id order, filtered; `after` and `limit` page through them."""
    query = select(enrolments).where(enrolments.c.id > after).order_by(enrolments.c.id)
    if node_id:
        query = query.where(enrolments.c.node_id == node_id)
    if state:
        query = query.where(enrolments.c.state == state)
    if region:
        query = query.where(enrolments.c.region == region)
    if limit is not None:
        query = query.limit(limit)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [_enrolment(row) for row in rows]


async def get_enrolment(engine: AsyncEngine, enrolment_id: int) -> Enrolment | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(enrolments).where(enrolments.c.id == enrolment_id))).mappings().first()
    return None if row is None else _enrolment(row)


def unconfirmed_keys(current: Enrolment, confirmed: Sequence[str]) -> list[dict[str, str]]:
    """The request's keys whose fingerprint the coordinator did not confirm."""
    given = {normalise_fingerprint(value) for value in confirmed}
    return [key for key in current.fingerprints if normalise_fingerprint(key["fingerprint"]) not in given]


async def decide(
    engine: AsyncEngine,
    enrolment_id: int,
    approve: bool,
    actor: str,
    comment: str | None = None,
    pull: bool = False,
    fingerprints: Sequence[str] = (),
) -> Enrolment:
    """Approve (the node becomes a peer whose pushes are accepted) or reject a pending request.

    An approval names the fingerprint of every key of the request, as the régie's operator read it out: the
    keys a coordinator approves are the ones a human compared, not the ones whoever asked first sent."""
    current = await get_enrolment(engine, enrolment_id)
    if current is None:
        raise EnrolmentError(404, f"no enrolment {enrolment_id}", slug="not-found")
    if current.state != "pending":
        raise EnrolmentError(409, f"enrolment {enrolment_id} is already {current.state}")
    if approve:
        missing = unconfirmed_keys(current, fingerprints)
        if missing:
            listed = ", ".join(key["kid"] for key in missing)
            raise EnrolmentError(
                422,
                f"confirm the fingerprint of every key of the request, compared with the régie's operator "
                f"(not confirmed: {listed})",
                slug="validation",
                pointer="/fingerprints",
            )
    now = to_micros(utcnow())
    hub_id = await get_meta(engine, "node_id")
    async with engine.begin() as connection:
        if approve and current.node_id == hub_id:
            raise EnrolmentError(409, f"'{current.node_id}' is this hub's own node id")
        role = await connection.scalar(select(peers.c.role).where(peers.c.node_id == current.node_id))
        if approve and role is not None and role != "member":
            raise EnrolmentError(409, f"'{current.node_id}' is the node id of a peer of this hub")
        changed = await connection.execute(
            update(enrolments)
            .where(enrolments.c.id == enrolment_id, enrolments.c.state == "pending")
            .values(state="approved" if approve else "rejected", decided_at_us=now, decided_by=actor, comment=comment)
        )
        if not changed.rowcount:  # another coordinator decided in between
            raise EnrolmentError(409, f"enrolment {enrolment_id} was decided meanwhile")
    if approve:
        await save_peer(
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


async def revoke(engine: AsyncEngine, node_id: str, actor: str, reason: str) -> Enrolment:
    """A member leaves the network by a coordinator's decision: out of the signed directory, its keys refused on
    every signed endpoint (its peer entry is marked revoked, not deleted), its records kept."""
    now = to_micros(utcnow())
    async with engine.begin() as connection:
        latest = await _latest(connection, node_id)
        if latest is None or latest["state"] != "approved":
            raise EnrolmentError(404, f"'{node_id}' is not a member of the network", slug="not-found")
        # The keys revoked are those approved and any the member rotated to since (pinned on its peer entry).
        pinned = await connection.scalar(select(peers.c["keys"]).where(peers.c.node_id == node_id))
        approved = json.loads(latest["keys"])
        known = {jwk.get("x") for jwk in approved}
        rotated = [jwk for jwk in json.loads(pinned or "[]") if jwk.get("x") not in known]
        changed = await connection.execute(
            update(enrolments)
            # Still approved: on PostgreSQL a revocation made meanwhile (read before it committed) is seen here, and
            # this one then changes nothing, as it would have found no member on SQLite.
            .where(enrolments.c.id == latest["id"], enrolments.c.state == "approved")
            .values(
                state="revoked",
                revoked_at_us=now,
                revoked_by=actor,
                revoke_reason=reason,
                keys=json.dumps([*approved, *rotated]),
            )
        )
        if changed.rowcount != 1:
            raise EnrolmentError(404, f"'{node_id}' is not a member of the network", slug="not-found")
        await connection.execute(
            update(peers).where(peers.c.node_id == node_id).values(status="revoked", pull=False, push=False)
        )
        row = (await connection.execute(select(enrolments).where(enrolments.c.id == latest["id"]))).mappings().one()
    return _enrolment(row)


# --- The signed directory ------------------------------------------------------------------------------


async def directory(engine: AsyncEngine, hub_id: str, keys: KeyStore) -> dict[str, Any]:
    """Approved members with their pinned keys and place, signed by the hub's current key. A member whose peer
    entry is gone or not active is left out: the directory never republishes keys the hub itself refuses."""
    members = await list_enrolments(engine, state="approved")
    granted = await labels.grants(engine)
    async with engine.connect() as connection:
        pinned = {
            row[0]: json.loads(row[1])
            for row in await connection.execute(
                select(peers.c.node_id, peers.c["keys"]).where(peers.c.role == "member", peers.c.status == "active")
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
                "keys": pinned[member.node_id],
                "commune": member.commune,
                "department": member.department,
                "region": member.region,
                # The label as the network grants it; the régie's own word only as `label_claimed`.
                **labels.member_label(granted.get(member.node_id), member.label_status),
                "kind": member.kind,
            }
            for member in members
            if member.node_id in pinned
        ],
    }
    kid, private_key = keys.signing
    document["signature"] = {
        "kid": kid,
        "alg": "ed25519",
        "value": b64url(private_key.sign(directory_statement(document))),
    }
    return document
