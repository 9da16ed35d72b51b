"""The lending API under /plugins/lending/: request a loan of a partner's resource, list loans, accept, decline,
mark picked up or returned, cancel; and the signed check a borrower's node asks the lender's node for."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError

from federation.plugin_api import (
    LongText,
    Problem,
    StrictModel,
    field_errors,
    invalid_query,
    json_response,
    read_json_object,
    require_token,
    validation_problem,
)
from federation.plugin_api.network import authenticate, signed_response

from . import rules, service
from .records import DEFAULT_ZONE, Decision, LoanState, LoanTime

routes = web.RouteTableDef()
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LIST_PARAMETERS = ("role", "state", "resource", "from", "to")


class AcceptBody(StrictModel):
    """What the lender adds when it accepts."""

    deposit_eur: float | None = Field(None, ge=0, le=100_000, description="Deposit asked, in euros.")
    pickup_instructions: LongText = ""
    comment: LongText = ""
    allow_overlap: bool = Field(
        False, description="Accept although the loan overlaps accepted loans beyond the resource's capacity."
    )


class DeclineBody(StrictModel):
    """Why the lender declines; other dates make it a counter-proposal."""

    comment: LongText = ""
    proposed_start: LoanTime | None = Field(None, description="Other dates proposed: both or neither.")
    proposed_end: LoanTime | None = Field(None, description="After proposed_start.")


def _body_model(model: type[StrictModel], payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return model.model_validate(payload).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from exc


def _day(name: str, value: str) -> dt.date:
    if not _DATE.match(value):
        raise invalid_query(name, "must be a date such as 2026-06-12")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise invalid_query(name, f"is not a valid date: {exc}") from exc


def _loan_answer(loan: service.Loan, status: int = 200, warnings: list[str] | None = None) -> web.StreamResponse:
    body = loan.as_json()
    if warnings is not None:
        body["warnings"] = warnings
    return json_response(json.dumps(body, ensure_ascii=False), status=status)


@routes.post("/requests")
async def create_request(request: web.Request) -> web.StreamResponse:
    actor = await require_token(request)
    payload = await read_json_object(request)
    document = await service.request_loan(request.config_dict, payload, actor.name)
    loan = await service.LendingReader(request.config_dict).loan(document["origin"], document["id"])
    return _loan_answer(loan, status=201)


@routes.get("/loans")
async def list_loans(request: web.Request) -> web.StreamResponse:
    await require_token(request)
    query = request.query
    unknown = sorted(set(query) - set(LIST_PARAMETERS))
    if unknown:
        raise invalid_query(unknown[0], f"is not supported here (allowed: {', '.join(LIST_PARAMETERS)})")
    role, state, resource = query.get("role"), query.get("state"), query.get("resource")
    if role is not None and role not in ("lender", "borrower"):
        raise invalid_query("role", "must be lender or borrower")
    if state is not None and state not in rules.LOAN_STATES:
        raise invalid_query("state", f"must be one of {', '.join(rules.LOAN_STATES)}")
    if resource is not None and not _UUID.match(resource):
        raise invalid_query("resource", "must be a resource id (a UUID)")
    since = _day("from", query["from"]) if "from" in query else None
    until = _day("to", query["to"]) if "to" in query else None
    loans = await service.LendingReader(request.config_dict).loans_with_conflicts()
    items = [
        loan.as_json()
        for loan in loans
        if (role is None or loan.role == role)
        and (state is None or loan.state == state)
        and (resource is None or loan.request["resource"]["id"] == resource.lower())
        # Loans overlapping [from, to] (whole days, in the régies' time zone).
        and (since is None or loan.end.astimezone(DEFAULT_ZONE).date() >= since)
        and (until is None or loan.start.astimezone(DEFAULT_ZONE).date() <= until)
    ]
    return json_response(json.dumps({"items": items}, ensure_ascii=False))


@routes.get("/loans/{origin}/{id}")
async def get_loan(request: web.Request) -> web.StreamResponse:
    await require_token(request)
    origin, request_id = service.loan_path_ids(request)
    loans = await service.LendingReader(request.config_dict).loans_with_conflicts()
    for loan in loans:
        if loan.key == (origin, request_id):
            return _loan_answer(loan)
    raise Problem(404, f"no loan request {request_id} of {origin} on this node", slug="not-found")


async def _decide(request: web.Request, decision: Decision) -> web.StreamResponse:
    actor = await require_token(request)
    origin, request_id = service.loan_path_ids(request)
    payload = await read_json_object(request) if request.can_read_body else {}
    details = _body_model(AcceptBody if decision == Decision.ACCEPTED else DeclineBody, payload)
    loan, warnings = await service.decide(request.config_dict, origin, request_id, decision, details, actor.name)
    return _loan_answer(loan, warnings=warnings)


@routes.post("/loans/{origin}/{id}/accept")
async def accept(request: web.Request) -> web.StreamResponse:
    return await _decide(request, Decision.ACCEPTED)


@routes.post("/loans/{origin}/{id}/decline")
async def decline(request: web.Request) -> web.StreamResponse:
    return await _decide(request, Decision.DECLINED)


async def _move(request: web.Request, target: LoanState) -> web.StreamResponse:
    actor = await require_token(request)
    origin, request_id = service.loan_path_ids(request)
    reader = service.LendingReader(request.config_dict)
    if origin != reader.node_id:
        await reader.loan(origin, request_id)  # 404 if unknown here
        raise Problem(403, "only the borrowing régie changes its request's state", slug="not-the-borrower")
    loan = await service.move_request(request.config_dict, request_id, target.value, actor.name)
    return _loan_answer(loan)


@routes.post("/loans/{origin}/{id}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    return await _move(request, LoanState.CANCELLED)


@routes.post("/loans/{origin}/{id}/picked-up")
async def picked_up(request: web.Request) -> web.StreamResponse:
    return await _move(request, LoanState.PICKED_UP)


@routes.post("/loans/{origin}/{id}/returned")
async def returned(request: web.Request) -> web.StreamResponse:
    return await _move(request, LoanState.RETURNED)


@routes.post("/federation/check")
async def check(request: web.Request) -> web.StreamResponse:
    """A borrower's node asks, signed, whether this node (the lender) accepts to receive a request."""
    signed = await authenticate(request)
    try:
        payload = json.loads(signed.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}", slug="malformed-json") from exc
    if not isinstance(payload, dict):
        raise validation_problem([{"pointer": "", "detail": "the body must be a JSON object", "code": "type"}])
    refusals = await service.check_incoming(request.config_dict, signed.peer.node_id, payload)
    answer = {"refusals": [{"code": refusal.code, "pointer": refusal.pointer} for refusal in refusals]}
    return signed_response(request, signed, json.dumps(answer).encode())
