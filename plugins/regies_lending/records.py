"""The two record kinds of lending between régies: a loan request (the borrower's) and a loan decision (the
lender's), their models and their declarations; each is addressed to the other party alone."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from federation.plugin_api import (
    ENVELOPE_FIELDS,
    MAX_VERSION,
    MEMBER,
    Contact,
    Envelope,
    KindFilter,
    LongText,
    NodeId,
    RecordKind,
    SchemaEnum,
    ShortText,
    StrictModel,
    addressed_to,
)

# Times without an offset are read in the régies' own time zone (metropolitan France); every stored time has one.
DEFAULT_ZONE = ZoneInfo("Europe/Paris")
# A loan lasts at most this long: a longer one is a transfer, not a loan (and a typing mistake more often).
MAX_LOAN_DAYS = 366


def _with_offset(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=DEFAULT_ZONE)
    # Stored with its numeric offset (RFC 3339), never a zone name the other node would have to know.
    offset = moment.utcoffset()
    return moment.replace(tzinfo=dt.timezone(offset if offset is not None else dt.timedelta(0)))


LoanTime = Annotated[
    dt.datetime,
    AfterValidator(_with_offset),
    Field(
        description="RFC 3339 date-time; without an offset it is read in Europe/Paris time. Stored with its offset.",
        examples=["2026-06-12T09:00:00+02:00"],
    ),
]


class LoanState(SchemaEnum):
    """A request's own state, the borrower's to change: requested → cancelled, or requested → picked up →
    returned (picked up only once the lender accepted)."""

    REQUESTED = "requested"
    CANCELLED = "cancelled"
    PICKED_UP = "picked_up"
    RETURNED = "returned"


class Decision(SchemaEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class ResourceRef(StrictModel):
    """A shared resource as the borrower read it: `(origin, id)` and the version whose conditions it accepted."""

    origin: NodeId = Field(description="The lending régie: the resource's origin node.")
    id: UUID
    version: int = Field(ge=1, le=MAX_VERSION, description="The resource's version the borrower read.")


class RequestRef(StrictModel):
    """A loan request: `(origin, id)` and the version the lender decided on."""

    origin: NodeId = Field(description="The borrowing régie: the request's origin node.")
    id: UUID
    version: int = Field(ge=1, le=MAX_VERSION)


class StateChange(StrictModel):
    """One step of a request's life: its new state, who changed it and when."""

    state: LoanState
    by: ShortText = Field(description="Who changed it: the staff member's name or the token's.")
    at: dt.datetime = Field(description="When (RFC 3339, with offset).")


class Insurance(StrictModel):
    """The borrower's insurance attestation for the loan."""

    insurer: ShortText = Field(examples=["MAIF"])
    policy_number: Annotated[str, Field(min_length=1, max_length=60), AfterValidator(str.strip)] = Field(
        examples=["RC-2026-004512"]
    )
    valid_until: dt.date = Field(description="Last day the attestation covers.")


class LoanRequestData(StrictModel):
    """What a borrowing régie asks: a resource of another régie, for a time, under its conditions."""

    resource: ResourceRef
    lender: NodeId = Field(
        None,  # type: ignore[assignment]  # derived below, never left None
        description="Derived from resource.origin: leave out, or send the same value. The request is addressed to it.",
    )
    start: LoanTime
    end: LoanTime = Field(
        description=f"After start, at most {MAX_LOAN_DAYS} days later (RFC 3339; Europe/Paris without offset)."
    )
    quantity: int = Field(1, ge=1, le=1_000_000, description="Units of the resource's capacity (1 for a whole van).")
    purpose: ShortText = Field(examples=["Sortie au jardin partagé avec les habitants"])
    contact: Contact = Field(description="Whom the lender calls: an email or a phone number at least.")
    conditions_accepted: Literal[True] = Field(description="The borrower accepts the resource's conditions.")
    insurance: Insurance
    state: LoanState = Field(LoanState.REQUESTED, description="Set by the node: requested when created.")
    history: list[StateChange] = Field(default_factory=list, max_length=10, description="Set by the node.")

    @model_validator(mode="after")
    def _derived_and_ordered(self) -> LoanRequestData:
        if self.lender is None:
            self.lender = self.resource.origin
        elif self.lender != self.resource.origin:
            raise ValueError(f"lender must be the resource's origin ({self.resource.origin})")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > dt.timedelta(days=MAX_LOAN_DAYS):
            raise ValueError(f"a loan lasts at most {MAX_LOAN_DAYS} days")
        if self.contact.email is None and self.contact.phone is None:
            raise ValueError("contact needs an email or a phone number")
        return self


class LoanRequest(LoanRequestData, Envelope):
    """A loan request as a federated record: the borrower's, addressed to the lender."""

    lender: NodeId = Field(description="The lending régie (resource.origin): the record is addressed to it alone.")


class LoanDecisionData(StrictModel):
    """What the lending régie decides on a request: accepted or declined; a counter-proposal is a decline with
    proposed dates."""

    request: RequestRef
    borrower: NodeId = Field(
        None,  # type: ignore[assignment]  # derived below
        description="Derived from request.origin: the decision is addressed to it.",
    )
    resource: ResourceRef
    decision: Decision
    deposit_eur: float | None = Field(None, ge=0, le=100_000, description="Deposit asked, in euros.")
    pickup_instructions: LongText = ""
    comment: LongText = ""
    proposed_start: LoanTime | None = Field(None, description="A decline's counter-proposal: both dates or neither.")
    proposed_end: LoanTime | None = Field(None, description="After proposed_start; only a decline proposes dates.")
    overlap_accepted: bool = Field(
        False, description="Accepted although it overlaps accepted loans beyond the resource's capacity."
    )
    decided_by: ShortText
    decided_at: dt.datetime

    @field_validator("proposed_end")
    @classmethod
    def _proposal_ordered(cls, end: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        start = info.data.get("proposed_start")
        if (start is None) != (end is None):
            raise ValueError("a counter-proposal gives both proposed_start and proposed_end")
        if start is not None and end is not None and end <= start:
            raise ValueError("proposed_end must be after proposed_start")
        return end

    @model_validator(mode="after")
    def _derived(self) -> LoanDecisionData:
        if self.borrower is None:
            self.borrower = self.request.origin
        elif self.borrower != self.request.origin:
            raise ValueError(f"borrower must be the request's origin ({self.request.origin})")
        if self.decision == Decision.ACCEPTED and self.proposed_start is not None:
            raise ValueError("only a decline proposes other dates")
        return self


class LoanDecision(LoanDecisionData, Envelope):
    """A loan decision as a federated record: the lender's, addressed to the borrower."""

    borrower: NodeId = Field(description="The borrowing régie (request.origin): the record is addressed to it alone.")


REQUEST_KIND = RecordKind(
    "loan_request",
    LoanRequestData,
    LoanRequest,
    None,  # no generic collection: the plugin's API applies the lending rules (/plugins/lending/)
    "loan-request",
    ENVELOPE_FIELDS | {"state", "history"},
    authors=frozenset({MEMBER}),
    audience=addressed_to("lender"),
    filters=(KindFilter(None, "status", "state"),),
)
DECISION_KIND = RecordKind(
    "loan_decision",
    LoanDecisionData,
    LoanDecision,
    None,
    "loan-decision",
    ENVELOPE_FIELDS,
    authors=frozenset({MEMBER}),
    audience=addressed_to("borrower"),
    filters=(KindFilter(None, "status", "decision"),),
)
KINDS = (REQUEST_KIND, DECISION_KIND)

_DECISION_NAMESPACE = UUID("6c1f8f8e-0b7e-4d3e-9a55-6f2d1c0e7a41")


def decision_id(request_origin: str, request_id: str) -> UUID:
    """The one decision a lender makes on a request has an id derived from the request's identity: deciding twice
    (a double click, a retried call) finds it instead of writing a second decision."""
    return uuid.uuid5(_DECISION_NAMESPACE, f"{request_origin}/{request_id}")
