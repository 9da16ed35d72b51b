"""Lending operations on one node: reading its loans (the requests and decisions it holds), requesting a loan of a
partner's resource (checked by the lender's node first), deciding as the lender, moving a request as the borrower.

Every write goes through the node's record service (version bump, change log and `record_committed` in one path), so
the records federate like any other: pushed to their one addressee, served in its feed only (docs/lending.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import Problem, RecordError, StoredRecord, appkeys, utcnow
from federation.plugin_api.network import FEDERATION, PeerKeys, TransportError, get_peer
from federation.plugin_api.storage import records

from . import rules
from .records import DECISION_KIND, REQUEST_KIND, Decision, LoanState, decision_id

REQUEST = REQUEST_KIND.name
DECISION = DECISION_KIND.name
CHECK_PATH = "/plugins/lending/federation/check"


@dataclass
class Loan:
    """A loan as this node sees it: the request, the lender's decision if any, the state both derive."""

    request: dict[str, Any]
    decision: dict[str, Any] | None
    node_id: str
    conflicts: list[rules.Held] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.request["origin"], self.request["id"]

    @property
    def role(self) -> str:
        return "lender" if self.request["lender"] == self.node_id else "borrower"

    @property
    def state(self) -> str:
        return rules.loan_state(self.request, self.decision)

    @property
    def start(self) -> dt.datetime:
        return rules.parse_time(self.request["start"])

    @property
    def end(self) -> dt.datetime:
        return rules.parse_time(self.request["end"])

    def held(self) -> rules.Held:
        return rules.Held(self.request["origin"], self.request["id"], self.start, self.end, self.request["quantity"])

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "role": self.role,
            "request": self.request,
            "decision": self.decision,
            "conflicts": [
                {
                    "origin": loan.origin,
                    "id": loan.id,
                    "start": loan.start.isoformat(),
                    "end": loan.end.isoformat(),
                    "quantity": loan.quantity,
                }
                for loan in self.conflicts
            ],
        }


class LendingReader:
    """The loan records and resources a node holds, read from its `records` table (a node has few loans: they are
    read whole and joined here)."""

    def __init__(self, app: Mapping[Any, Any]) -> None:
        self.engine = app[appkeys.ENGINE]
        self.node_id: str = app[appkeys.STORE].node_id

    async def resource(self, origin: str, resource_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(records.c.body, records.c.deleted).where(
                        records.c.kind == "resource", records.c.origin == origin, records.c.id == resource_id
                    )
                )
            ).first()
        if row is None or row.deleted:
            return None
        document: dict[str, Any] = json.loads(row.body)
        return document

    async def resources(self, origin: str | None = None, others: bool = False) -> list[dict[str, Any]]:
        """Live resources: this node's own, or (`others`) its partners' replicas."""
        condition = records.c.origin != self.node_id if others else records.c.origin == (origin or self.node_id)
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(records.c.body)
                .where(records.c.kind == "resource", records.c.deleted.is_(False), condition)
                .order_by(records.c.rid)
            )
            return [json.loads(row.body) for row in rows]

    async def loans(self) -> list[Loan]:
        """Every loan this node takes part in: requests it made, requests addressed to it."""
        return await read_loans(self.engine, self.node_id)

    async def loans_with_conflicts(self) -> list[Loan]:
        """`loans`, each request still to be decided here with the accepted loans it would exceed its resource's
        capacity with (the lender's view: its own resources' capacities)."""
        loans = await self.loans()
        capacities = {resource["id"]: rules.capacity_of(resource) for resource in await self.resources()}
        for loan in loans:
            if loan.role == "lender" and loan.state == rules.REQUESTED:
                resource = loan.request["resource"]
                held = held_loans(loans, resource, exclude=loan.request["id"])
                capacity = capacities.get(resource["id"], 1)
                loan.conflicts = rules.conflicts(loan.start, loan.end, loan.request["quantity"], capacity, held)
        return loans

    async def loan(self, origin: str, request_id: str) -> Loan:
        for loan in await self.loans():
            if loan.key == (origin, request_id):
                return loan
        raise Problem(404, f"no loan request {request_id} of {origin} on this node", slug="not-found")


async def read_loans(engine: AsyncEngine, mine: str) -> list[Loan]:
    """Every loan node `mine` takes part in, read from its database, by start time."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.kind, records.c.body).where(
                records.c.kind.in_((REQUEST, DECISION)),
                records.c.deleted.is_(False),
                # Only records of which this node is a party: its own, or addressed to it.
                or_(records.c.origin == mine, records.c.audience == mine),
            )
        )
        documents = [(row.kind, json.loads(row.body)) for row in rows]
    decisions = {
        (doc["request"]["origin"], doc["request"]["id"]): doc
        for kind, doc in documents
        if kind == DECISION and mine in (doc["origin"], doc["borrower"])
    }
    loans = [
        Loan(doc, _decision_for(decisions.get((doc["origin"], doc["id"])), doc), mine)
        for kind, doc in documents
        if kind == REQUEST
    ]
    loans.sort(key=lambda loan: (loan.start, loan.request["id"]))
    return loans


def _decision_for(decision: dict[str, Any] | None, request: dict[str, Any]) -> dict[str, Any] | None:
    """A decision counts only if its author is the request's lender (anyone else's is ignored)."""
    return decision if decision is not None and decision["origin"] == request["lender"] else None


def held_loans(loans: Iterable[Loan], resource: Mapping[str, Any], exclude: str = "") -> list[rules.Held]:
    """The loans holding `resource` (accepted or picked up), but `exclude` (a request id)."""
    return [
        loan.held()
        for loan in loans
        if loan.state in rules.HOLDING
        and loan.request["resource"]["origin"] == resource["origin"]
        and loan.request["resource"]["id"] == resource["id"]
        and loan.request["id"] != exclude
    ]


def refusal_problem(refusals: list[rules.Refusal]) -> Problem:
    """The problem answering a refused request: the first refusal's status and type, every field named."""
    first = refusals[0]
    return Problem(
        first.status,
        "; ".join(f"{refusal.pointer}: {refusal.detail}" for refusal in refusals),
        slug=first.slug,
        errors=[{"pointer": r.pointer, "detail": r.detail, "code": r.code} for r in refusals],
    )


async def _written(operation: Any) -> StoredRecord:
    try:
        result: StoredRecord = await operation
    except RecordError as exc:
        raise Problem(409, str(exc), slug="conflict") from exc
    return result


# --- The borrower ---------------------------------------------------------------------------------------------


async def ask_lender(app: Mapping[Any, Any], lender: str, data: BaseModel) -> list[rules.Refusal]:
    """Have the lender's node check the request (a signed POST to its lending plugin, signed answer); its refusals
    as this node words them (rules.REFUSALS), never in the lender's own words."""
    context = app[FEDERATION]
    peer = await get_peer(context.engine, lender)
    if peer is None or peer.status != "active":
        return [rules.refusal("not_a_peer", "/resource/origin", f"this node has no active peer '{lender}'")]
    body = json.dumps(data.model_dump(mode="json")).encode()
    try:
        answer = await context.client.request(
            "POST", peer.base_url + CHECK_PATH, body, signed_by=PeerKeys(context.engine, context.client, peer)
        )
    except TransportError as exc:
        if exc.status == 401:
            return [rules.refusal("not_a_peer", "/resource/origin")]
        if exc.status == 404:
            return [rules.refusal("not_lendable", "/resource/origin", "the lender's node does not lend resources")]
        raise Problem(
            503, f"the lender's node '{lender}' could not check the request: {exc}", slug="lender-unreachable"
        ) from exc
    try:
        found = answer.json()["refusals"]
        return [
            rules.refusal(item["code"], item["pointer"])
            for item in found
            if item.get("code") in rules.REFUSALS and item.get("pointer") in CHECKED_POINTERS
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise Problem(502, f"the lender's node '{lender}' answered the check in a form not understood") from exc


CHECKED_POINTERS = frozenset({"/resource", "/resource/id", "/resource/version", "/resource/origin", "/start", "/end"})
CHECKED_POINTERS |= {"/quantity"}


async def request_loan(app: Mapping[Any, Any], payload: dict[str, Any], actor: str) -> dict[str, Any]:
    """Create a loan request of a partner's resource, once the lender's node accepted to receive it."""
    data = app[appkeys.STORE].validate(REQUEST, payload)
    document = data.model_dump(mode="json")
    reader = LendingReader(app)
    lender = document["resource"]["origin"]
    if lender == reader.node_id:
        raise Problem(
            422,
            "a régie does not borrow its own resource",
            slug="validation",
            errors=[{"pointer": "/resource/origin", "detail": "this node's own resource", "code": "own_resource"}],
        )
    refusals = await ask_lender(app, lender, data)
    if refusals:
        raise refusal_problem(refusals)
    now = utcnow()
    history = [{"state": LoanState.REQUESTED.value, "by": actor, "at": now.isoformat()}]
    model = REQUEST_KIND.record_model
    stored = await _written(
        app[appkeys.STORE].create_built(
            REQUEST,
            lambda _previous, envelope: model.model_validate(
                {**document, "state": "requested", "history": history, **envelope}
            ),
        )
    )
    loaded: dict[str, Any] = json.loads(stored.body)
    return loaded


async def move_request(app: Mapping[Any, Any], request_id: str, target: str, actor: str) -> Loan:
    """The borrower moves its request: cancel, picked up, returned. Moving to the state it is in changes
    nothing (idempotent); any other move out of BORROWER_MOVES is a 409."""
    reader = LendingReader(app)
    loan = await reader.loan(reader.node_id, request_id)
    if loan.role != "borrower":
        raise Problem(403, "only the borrowing régie changes its request's state", slug="not-the-borrower")
    current = loan.request["state"]
    if current == target:
        return loan
    if target not in rules.BORROWER_MOVES[current]:
        raise Problem(409, f"a {current} request cannot become {target}", slug="loan-state")
    if target == LoanState.PICKED_UP and loan.state != rules.ACCEPTED:
        raise Problem(409, "the resource is picked up only once the lender accepted the loan", slug="loan-state")
    model = REQUEST_KIND.record_model
    step = {"state": target, "by": actor, "at": utcnow().isoformat()}
    await _written(
        app[appkeys.STORE].replace_built(
            REQUEST,
            request_id,
            lambda previous, envelope: model.model_validate(
                {**(previous or {}), "state": target, "history": [*(previous or {})["history"], step][-10:], **envelope}
            ),
            if_match=loan.request["version"],
        )
    )
    return await reader.loan(reader.node_id, request_id)


# --- The lender -----------------------------------------------------------------------------------------------


async def check_incoming(app: Mapping[Any, Any], borrower: str, payload: dict[str, Any]) -> list[rules.Refusal]:
    """The lender's checks of a request a peer is about to make (the signed check)."""
    data = app[appkeys.STORE].validate(REQUEST, payload)
    document = data.model_dump(mode="json")
    reader = LendingReader(app)
    if document["lender"] != reader.node_id or borrower == reader.node_id:
        return [rules.refusal("unknown_resource", "/resource/origin", "this node is not the resource's lender")]
    resource = await reader.resource(reader.node_id, document["resource"]["id"])
    loans = await reader.loans()
    held = held_loans(loans, resource) if resource is not None else []
    return rules.check_request(resource, document, held)


async def decide(
    app: Mapping[Any, Any], origin: str, request_id: str, decision: Decision, details: dict[str, Any], actor: str
) -> tuple[Loan, list[str]]:
    """The lender accepts or declines a request; (the loan, warnings). Deciding again as decided already changes
    nothing (idempotent); changing a decision is a 409."""
    reader = LendingReader(app)
    loan = await reader.loan(origin, request_id)
    if loan.role != "lender":
        raise Problem(403, "only the lending régie decides on a request", slug="not-the-lender")
    if loan.decision is not None:
        if loan.decision["decision"] == decision:
            return loan, []
        raise Problem(409, f"this request was already {loan.decision['decision']}", slug="already-decided")
    if loan.request["state"] != LoanState.REQUESTED:
        raise Problem(409, f"the borrower's request is {loan.request['state']}", slug="loan-state")
    warnings: list[str] = []
    allow_overlap = bool(details.pop("allow_overlap", False))
    resource_ref = loan.request["resource"]
    if decision == Decision.ACCEPTED:
        resource = await reader.resource(reader.node_id, resource_ref["id"])
        capacity = rules.capacity_of(resource) if resource else 1
        held = held_loans(await reader.loans(), resource_ref, exclude=request_id)
        clashes = rules.conflicts(loan.start, loan.end, loan.request["quantity"], capacity, held)
        if clashes and not allow_overlap:
            raise Problem(
                409,
                f"overlaps {len(clashes)} accepted loan(s) beyond the resource's capacity: send allow_overlap to "
                "accept it anyway",
                slug="loan-conflict",
                errors=[{"pointer": "/start", "detail": "overlaps accepted loans", "code": "overlap"}],
                extra={"conflicts": [{"origin": c.origin, "id": c.id} for c in clashes]},
            )
        if clashes:
            warnings.append(f"accepted although it overlaps {len(clashes)} accepted loan(s) beyond the capacity")
            details["overlap_accepted"] = True
    document = {
        **details,
        "request": {"origin": origin, "id": request_id, "version": loan.request["version"]},
        "resource": resource_ref,
        "decision": decision.value,
        "decided_by": actor,
        "decided_at": utcnow().isoformat(),
    }
    data = app[appkeys.STORE].validate(DECISION, document)
    fields = data.model_dump(mode="json")
    model = DECISION_KIND.record_model
    await _written(
        app[appkeys.STORE].create_built(
            DECISION,
            lambda _previous, envelope: model.model_validate({**fields, **envelope}),
            record_id=decision_id(origin, request_id),
        )
    )
    return await reader.loan(origin, request_id), warnings


def request_app(request: web.Request) -> Mapping[Any, Any]:
    """The node's shared objects, from a handler of a plugin's sub-application."""
    return request.config_dict


def loan_path_ids(request: web.Request) -> tuple[str, str]:
    raw = request.match_info["id"]
    try:
        return request.match_info["origin"], str(UUID(raw))
    except ValueError as exc:
        raise Problem(404, f"'{raw}' is not a loan request id (a UUID)", slug="not-found") from exc


def is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
