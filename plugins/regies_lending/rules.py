"""The lending rules: a loan's state as both nodes derive it from the two records, and the lender's checks of a
request against its resource (availability slots, capacity, who may borrow it).

Pure functions over record documents (dicts, as stored): the API, the pages and the signed check share them.

Convergence. Each record has one author, who alone bumps its version: the request is the borrower's, the decision
the lender's. A node applies a record only if its version is newer (the core's replication), so duplicated and
reordered deliveries leave both nodes with the same latest version of each record; the state shown is a
function of those two versions only (`loan_state`), hence the same on both nodes. A request cancelled while the
lender's decision is on its way ends **cancelled** on both sides, whatever the decision says: cancellation wins
over any decision, and the borrower's node refuses to cancel once the resource is picked up (picking up needs an
accepted decision), so the two never contradict each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .records import DEFAULT_ZONE

# What a loan is, as both nodes show it (the request's own state, refined by the lender's decision).
REQUESTED = "requested"
ACCEPTED = "accepted"
DECLINED = "declined"
CANCELLED = "cancelled"
PICKED_UP = "picked_up"
RETURNED = "returned"
LOAN_STATES = (REQUESTED, ACCEPTED, DECLINED, CANCELLED, PICKED_UP, RETURNED)
# The states in which a loan holds its resource (counted against the capacity).
HOLDING = frozenset({ACCEPTED, PICKED_UP})

# The borrower's transitions of its request: from a state to the states it may move to.
BORROWER_MOVES: Mapping[str, frozenset[str]] = {
    "requested": frozenset({"cancelled", "picked_up"}),
    "picked_up": frozenset({"returned"}),
    "cancelled": frozenset(),
    "returned": frozenset(),
}


def loan_state(request: Mapping[str, Any], decision: Mapping[str, Any] | None) -> str:
    """The loan's state from the latest request and decision (module docstring: cancellation wins)."""
    own = str(request["state"])
    if own != "requested":
        return own
    if decision is None:
        return REQUESTED
    return ACCEPTED if decision["decision"] == "accepted" else DECLINED


def parse_time(value: str | dt.datetime) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=DEFAULT_ZONE)


@dataclass(frozen=True)
class Refusal:
    """Why the lender refuses a request: HTTP status, problem type, the field it names and a sentence."""

    status: int
    slug: str
    pointer: str
    code: str
    detail: str


# The refusals the lender may answer, by code: the borrower's node words the problem from this table, never from
# the lender's text (a peer's text is not relayed, docs/design.md).
REFUSALS: Mapping[str, tuple[int, str, str]] = {
    "unknown_resource": (422, "not-lendable", "the lender has no such resource (deleted or never published)"),
    "resource_changed": (
        409,
        "resource-changed",
        "the resource changed since the version read: read its conditions again and request anew",
    ),
    "not_lendable": (422, "not-lendable", "the resource is not lendable to régies (status or borrowers)"),
    "outside_availability": (422, "outside-availability", "outside the resource's availability slots"),
    "over_capacity": (422, "over-capacity", "more than the resource's capacity"),
    "overlap": (409, "loan-conflict", "overlaps accepted loans beyond the resource's capacity"),
    "not_a_peer": (403, "not-a-peer", "the lender does not know this node as a peer"),
}


def refusal(code: str, pointer: str, detail: str | None = None) -> Refusal:
    status, slug, sentence = REFUSALS[code]
    return Refusal(status, slug, pointer, code, detail or sentence)


def capacity_of(resource: Mapping[str, Any]) -> int:
    """How many units a resource lends at once: its capacity, or 1 when it has none (lent as a whole)."""
    capacity = resource.get("capacity")
    return int(capacity) if capacity else 1


def _within_slot(moment: dt.datetime, slots: Iterable[Mapping[str, Any]]) -> bool:
    local = moment.astimezone(DEFAULT_ZONE)
    clock = local.time().replace(tzinfo=None)
    for slot in slots:
        if int(slot["weekday"]) == local.isoweekday():
            start, end = dt.time.fromisoformat(slot["start"]), dt.time.fromisoformat(slot["end"])
            if start <= clock <= end:
                return True
    return False


def overlaps(start: dt.datetime, end: dt.datetime, other_start: dt.datetime, other_end: dt.datetime) -> bool:
    """Half-open intervals: a loan returned at 12:00 does not overlap one picked up at 12:00."""
    return start < other_end and other_start < end


@dataclass(frozen=True)
class Held:
    """A loan holding a resource: its request's identity, its dates and how many units."""

    origin: str
    id: str
    start: dt.datetime
    end: dt.datetime
    quantity: int


def conflicts(
    start: dt.datetime, end: dt.datetime, quantity: int, capacity: int, held: Iterable[Held], exclude: str = ""
) -> list[Held]:
    """The loans that, with this one, would hold more units than the capacity at some moment; empty if it fits.

    The peak of units held over the loan's span is checked at every start of an overlapping loan (where the count
    can only rise)."""
    overlapping = [loan for loan in held if loan.id != exclude and overlaps(start, end, loan.start, loan.end)]
    if not overlapping:
        return [] if quantity <= capacity else overlapping
    for moment in {start, *(loan.start for loan in overlapping if loan.start > start)}:
        present = [loan for loan in overlapping if loan.start <= moment < loan.end]
        if quantity + sum(loan.quantity for loan in present) > capacity:
            return overlapping
    return []


def check_request(
    resource: Mapping[str, Any] | None,
    request: Mapping[str, Any],
    held: Iterable[Held],
) -> list[Refusal]:
    """The lender's checks of a request (a LoanRequestData document) against its resource and its accepted
    loans; empty when the request may be made."""
    if resource is None or resource.get("deleted"):
        return [refusal("unknown_resource", "/resource/id")]
    if resource["version"] != request["resource"]["version"]:
        return [
            refusal("resource_changed", "/resource/version", f"the resource is now at version {resource['version']}")
        ]
    if resource.get("status") != "available" or "regies" not in resource.get("borrowers", ()):
        return [refusal("not_lendable", "/resource")]
    refusals = []
    start, end = parse_time(request["start"]), parse_time(request["end"])
    slots = resource.get("availability", {}).get("slots", [])
    if slots:
        for pointer, moment in (("/start", start), ("/end", end)):
            if not _within_slot(moment, slots):
                refusals.append(refusal("outside_availability", pointer))
    capacity, quantity = capacity_of(resource), int(request.get("quantity", 1))
    if quantity > capacity:
        refusals.append(refusal("over_capacity", "/quantity", f"the resource lends at most {capacity} at once"))
    elif conflicts(start, end, quantity, capacity, held):
        refusals.append(refusal("overlap", "/start"))
    return refusals
