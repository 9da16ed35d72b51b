"""The lending back-office pages under /lending, in the staff's language: a partner's resource and its "request a
loan" form, the lender's inbox (accept or decline, conflicts shown), the borrower's requests and a month calendar
of each of the node's own resources. They call the same service as the API (plugins/regies_lending/service.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from babel.dates import format_date, get_day_names
from multidict import MultiMapping

from federation.plugin_api import Problem
from federation.plugin_api.web import N_, NODE_ROLES, WebUser, explain, language, render, require_user, translate

from . import month, rules, service
from .records import DEFAULT_ZONE, Decision, LoanState

routes = web.RouteTableDef()

# What staff read for each state of a loan (both régies see the same one).
STATE_LABELS = {
    rules.REQUESTED: N_("awaiting the lender's answer"),
    rules.ACCEPTED: N_("loan accepted"),
    rules.DECLINED: N_("loan declined"),
    rules.CANCELLED: N_("request cancelled"),
    rules.PICKED_UP: N_("resource picked up"),
    rules.RETURNED: N_("resource returned"),
}
# The lender's refusals (rules.REFUSALS), worded for the borrower's staff.
REFUSAL_SENTENCES = {
    "unknown_resource": N_("The lending régie no longer has this resource."),
    "resource_changed": N_("The resource's conditions changed since this page was loaded: read them again."),
    "not_lendable": N_("This resource is not lent to régies at the moment."),
    "outside_availability": N_("Outside the resource's availability slots."),
    "over_capacity": N_("More than the resource lends at once."),
    "overlap": N_("The resource is already lent at that time (accepted loans)."),
    "not_a_peer": N_("The lending régie does not accept requests from this régie (it is not a partner)."),
}
PROBLEM_SENTENCES = {
    "lender-unreachable": N_("The lending régie's node cannot be reached: nothing was sent, try again later."),
    "loan-conflict": N_(
        "This request overlaps accepted loans beyond the resource's capacity: tick the box to accept it anyway."
    ),
    "already-decided": N_("This request was already decided otherwise."),
    "loan-state": N_("This loan can no longer change that way."),
    "not-found": N_("No such loan request on this node."),
    "conflict": N_("Someone changed this loan meanwhile: reload the page."),
}
# Which form field a pointer of the request's body belongs to.
REQUEST_FIELDS = {
    "/start": "start_date",
    "/end": "end_date",
    "/quantity": "quantity",
    "/purpose": "purpose",
    "/contact": "contact_email",
    "/contact/person": "contact_person",
    "/contact/email": "contact_email",
    "/contact/phone": "contact_phone",
    "/insurance/insurer": "insurer",
    "/insurance/policy_number": "policy_number",
    "/insurance/valid_until": "valid_until",
    "/conditions_accepted": "conditions_accepted",
}
TEXT_FIELDS = (
    *("start_date", "start_time", "end_date", "end_time", "quantity", "purpose"),
    *("contact_person", "contact_email", "contact_phone", "insurer", "policy_number", "valid_until"),
)
DONE_NOTICES = {
    "requested": N_("Request sent to the lending régie."),
    "accepted": N_("Loan accepted: the borrowing régie is told."),
    "declined": N_("Request declined: the borrowing régie is told."),
    "cancelled": N_("Request cancelled."),
    "picked_up": N_("Marked as picked up."),
    "returned": N_("Marked as returned."),
}


async def _staff(request: web.Request) -> WebUser:
    return await require_user(request, roles=NODE_ROLES)


def weekday_names(request: web.Request) -> list[str]:
    """Monday to Sunday in the page's language."""
    names = get_day_names("wide", locale=language(request))
    return [str(names[n]).capitalize() for n in range(7)]


def _local(value: str) -> dt.datetime:
    return rules.parse_time(value).astimezone(DEFAULT_ZONE)


def _shown_loan(request: web.Request, loan: service.Loan) -> dict[str, Any]:
    """A loan as the pages show it: its documents plus local times and the state in words."""
    return {
        "key": f"{loan.request['origin']}/{loan.request['id']}",
        "state": loan.state,
        "state_label": translate(request, STATE_LABELS[loan.state]),
        "request": loan.request,
        "decision": loan.decision,
        "start": _local(loan.request["start"]),
        "end": _local(loan.request["end"]),
        "conflicts": [
            {"start": c.start.astimezone(DEFAULT_ZONE), "end": c.end.astimezone(DEFAULT_ZONE), "quantity": c.quantity}
            for c in loan.conflicts
        ],
    }


def _done(request: web.Request) -> str | None:
    key = request.query.get("done", "")
    return translate(request, DONE_NOTICES[key]) if key in DONE_NOTICES else None


def _problem_sentence(request: web.Request, problem: Problem) -> str:
    if problem.slug in PROBLEM_SENTENCES:
        return translate(request, PROBLEM_SENTENCES[problem.slug])
    return translate(request, "The operation was refused.") + f" ({problem.status})"


# --- Partners' resources and the request form ------------------------------------------------------------------


def lendable(resource: dict[str, Any]) -> bool:
    return resource.get("status") == "available" and "regies" in resource.get("borrowers", ())


@routes.get("/partners")
async def partners(request: web.Request) -> web.StreamResponse:
    await _staff(request)
    found = await service.LendingReader(request.config_dict).resources(others=True)
    return await render(request, "lending/partners.html", {"resources": [r for r in found if lendable(r)]})


async def _partner_resource(request: web.Request) -> dict[str, Any]:
    reader = service.LendingReader(request.config_dict)
    origin, resource_id = request.match_info["origin"], request.match_info["id"]
    resource = None
    if origin != reader.node_id and service.is_uuid(resource_id):
        resource = await reader.resource(origin, resource_id)
    if resource is None:
        raise web.HTTPNotFound(text=translate(request, "No such resource of a partner régie on this node."))
    return resource


def _form_defaults(resource: dict[str, Any]) -> dict[str, str]:
    day = dt.date.today() + dt.timedelta(days=7)
    return {"start_date": day.isoformat(), "start_time": "09:00", "end_date": day.isoformat(), "end_time": "17:00"}


async def _request_page(
    request: web.Request,
    resource: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    form_errors: list[str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    context = {
        "resource": resource,
        "values": values,
        "errors": errors or {},
        "form_errors": form_errors or [],
        "weekday_names": weekday_names(request),
        "slots": sorted(
            resource.get("availability", {}).get("slots", []), key=lambda s: (int(s["weekday"]), s["start"])
        ),
    }
    return await render(request, "lending/request_form.html", context, status=status)


@routes.get("/partners/{origin}/{id}")
async def request_form(request: web.Request) -> web.StreamResponse:
    await _staff(request)
    resource = await _partner_resource(request)
    return await _request_page(request, resource, _form_defaults(resource))


def request_payload(resource: dict[str, Any], form: MultiMapping[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body a filled form makes, and the form's own errors (blank dates, end before start)."""
    values = {name: str(form.get(name, "")).strip() for name in TEXT_FIELDS}
    errors: dict[str, str] = {}
    moments = {}
    for side in ("start", "end"):
        day, clock = values[f"{side}_date"], values[f"{side}_time"] or "00:00"
        try:
            moments[side] = dt.datetime.fromisoformat(f"{day}T{clock}")
        except ValueError:
            errors[f"{side}_date"] = N_("Enter a date and a time.")
    if not errors and moments["end"] <= moments["start"]:
        errors["end_date"] = N_("The end must be after the start.")
    contact = {key: values[f"contact_{key}"] for key in ("person", "email", "phone") if values[f"contact_{key}"]}
    payload: dict[str, Any] = {
        "resource": {"origin": resource["origin"], "id": resource["id"], "version": resource["version"]},
        "start": f"{values['start_date']}T{values['start_time']}",
        "end": f"{values['end_date']}T{values['end_time']}",
        "quantity": int(values["quantity"]) if values["quantity"].isdigit() else 1,
        "purpose": values["purpose"],
        "contact": contact,
        "conditions_accepted": form.get("conditions_accepted") == "yes",
        "insurance": {
            "insurer": values["insurer"],
            "policy_number": values["policy_number"],
            "valid_until": values["valid_until"],
        },
    }
    if values["quantity"] and not values["quantity"].isdigit():
        errors["quantity"] = N_("Enter a whole number, such as 12.")
    if not payload["conditions_accepted"]:
        errors["conditions_accepted"] = N_("The resource's conditions must be accepted.")
    return payload, errors


@routes.post("/partners/{origin}/{id}")
async def make_request(request: web.Request) -> web.StreamResponse:
    user = await _staff(request)
    resource = await _partner_resource(request)
    form = await request.post()
    payload, own_errors = request_payload(resource, form)
    values = {name: str(form.get(name, "")).strip() for name in TEXT_FIELDS}
    values["conditions_accepted"] = "yes" if payload["conditions_accepted"] else ""
    if own_errors:
        errors = {name: translate(request, message) for name, message in own_errors.items()}
        return await _request_page(request, resource, values, errors, status=422)
    try:
        await service.request_loan(request.config_dict, payload, user.username)
    except Problem as problem:
        errors, form_errors = {}, []
        for error in problem.errors or []:
            code, pointer = error.get("code", ""), error.get("pointer", "")
            sentence = (
                translate(request, REFUSAL_SENTENCES[code]) if code in REFUSAL_SENTENCES else explain(request, error)
            )
            name = REQUEST_FIELDS.get(pointer)
            if name is None and pointer.startswith("/insurance"):
                name = "insurer"
            if name is not None:
                errors.setdefault(name, sentence)
            else:
                form_errors.append(sentence)
        if not problem.errors:
            form_errors.append(_problem_sentence(request, problem))
        return await _request_page(request, resource, values, errors, form_errors, status=problem.status)
    raise web.HTTPSeeOther("/lending/requests?done=requested")


# --- The lender's inbox and the borrower's list -----------------------------------------------------------------


async def _inbox_page(
    request: web.Request, error: tuple[str, str] | None = None, status: int = 200
) -> web.StreamResponse:
    reader = service.LendingReader(request.config_dict)
    loans = [loan for loan in await reader.loans_with_conflicts() if loan.role == "lender"]
    resources = {resource["id"]: resource for resource in await reader.resources()}
    pending = [_shown_loan(request, loan) for loan in loans if loan.state == rules.REQUESTED]
    others = [_shown_loan(request, loan) for loan in loans if loan.state != rules.REQUESTED]
    context = {
        "pending": pending,
        "others": others,
        "resources": resources,
        "own_resources": list(resources.values()),
        "done": _done(request),
        "error_key": error[0] if error else None,
        "error": error[1] if error else None,
    }
    return await render(request, "lending/inbox.html", context, status=status)


@routes.get("")
async def inbox(request: web.Request) -> web.StreamResponse:
    await _staff(request)
    return await _inbox_page(request)


async def _decide(request: web.Request, decision: Decision) -> web.StreamResponse:
    user = await _staff(request)
    origin, request_id = service.loan_path_ids(request)
    form = await request.post()
    details: dict[str, Any] = {"comment": str(form.get("comment", "")).strip()[:2000]}
    if decision == Decision.ACCEPTED:
        details["pickup_instructions"] = str(form.get("pickup_instructions", "")).strip()[:2000]
        deposit = str(form.get("deposit_eur", "")).strip().replace(",", ".")
        try:
            if deposit:
                details["deposit_eur"] = max(0.0, min(100_000.0, float(deposit)))
        except ValueError:
            message = translate(request, "The deposit is a number of euros, such as 500.")
            return await _inbox_page(request, (f"{origin}/{request_id}", message), status=422)
        details["allow_overlap"] = form.get("allow_overlap") == "yes"
    try:
        await service.decide(request.config_dict, origin, request_id, decision, details, user.username)
    except Problem as problem:
        return await _inbox_page(
            request, (f"{origin}/{request_id}", _problem_sentence(request, problem)), problem.status
        )
    raise web.HTTPSeeOther(f"/lending?done={decision.value}")


@routes.post("/loans/{origin}/{id}/accept")
async def accept(request: web.Request) -> web.StreamResponse:
    return await _decide(request, Decision.ACCEPTED)


@routes.post("/loans/{origin}/{id}/decline")
async def decline(request: web.Request) -> web.StreamResponse:
    return await _decide(request, Decision.DECLINED)


async def _requests_page(request: web.Request, error: str | None = None, status: int = 200) -> web.StreamResponse:
    reader = service.LendingReader(request.config_dict)
    loans = [_shown_loan(request, loan) for loan in await reader.loans() if loan.role == "borrower"]
    loans.sort(key=lambda loan: loan["start"], reverse=True)
    context = {"loans": loans, "done": _done(request), "error": error, "moves": rules.BORROWER_MOVES}
    return await render(request, "lending/requests.html", context, status=status)


@routes.get("/requests")
async def my_requests(request: web.Request) -> web.StreamResponse:
    await _staff(request)
    return await _requests_page(request)


MOVES = {"cancel": LoanState.CANCELLED, "picked-up": LoanState.PICKED_UP, "returned": LoanState.RETURNED}


@routes.post("/loans/{origin}/{id}/{move:cancel|picked-up|returned}")
async def move(request: web.Request) -> web.StreamResponse:
    user = await _staff(request)
    origin, request_id = service.loan_path_ids(request)
    target = MOVES[request.match_info["move"]]
    if origin != service.LendingReader(request.config_dict).node_id:
        raise web.HTTPNotFound()
    try:
        await service.move_request(request.config_dict, request_id, target.value, user.username)
    except Problem as problem:
        return await _requests_page(request, _problem_sentence(request, problem), problem.status)
    raise web.HTTPSeeOther(f"/lending/requests?done={target.value}")


# --- A resource's month calendar --------------------------------------------------------------------------------


@routes.get("/calendar/{id}")
async def calendar_page(request: web.Request) -> web.StreamResponse:
    await _staff(request)
    reader = service.LendingReader(request.config_dict)
    resource_id = request.match_info["id"]
    resource = await reader.resource(reader.node_id, resource_id) if service.is_uuid(resource_id) else None
    if resource is None:
        raise web.HTTPNotFound(text=translate(request, "No such resource of this régie."))
    first = month.parse_month(request.query.get("month"), dt.date.today())
    held = [
        (loan.start, loan.end, _shown_loan(request, loan))
        for loan in await reader.loans()
        if loan.role == "lender" and loan.request["resource"]["id"] == resource["id"] and loan.state in rules.HOLDING
    ]
    context = {
        "resource": resource,
        "first": first,
        "weeks": month.month_weeks(first, held, resource.get("availability", {}).get("slots", [])),
        "weekday_names": weekday_names(request),
        "month_title": format_date(first, "MMMM y", locale=language(request)).capitalize(),
        "previous": month.shifted(first, -1).strftime("%Y-%m"),
        "next": month.shifted(first, 1).strftime("%Y-%m"),
    }
    return await render(request, "lending/calendar.html", context)
