"""Common schema v1 record models: what clients send (`*Data`) and the federated records nodes store and serve."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    HttpUrl,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from federation.schema.identifiers import normalize_siren
from federation.schema.kinds import HUB, HUB_ONLY, MEMBER, KindFilter, RecordKinds, addressed_to
from federation.schema.kinds import RecordKind as RecordKind
from federation.schema.types import (
    Category,
    Contact,
    DerivedCode,
    GeoPoint,
    InseeCommune,
    LongText,
    NodeId,
    Partner,
    Place,
    QpvCodes,
    Rna,
    SchemaEnum,
    ServiceTypeKey,
    ShortText,
    Siren,
    Siret,
    StrictModel,
    Text50,
    Text200,
    Text300,
    Text1000,
    derive_department_and_region,
)

# Versions are stored as 32-bit integers on PostgreSQL: a larger one from a peer overflowed it (a 500).
MAX_VERSION = 2**31 - 1


class Envelope(StrictModel):
    """Federation fields every record carries. Only the origin node assigns or changes them."""

    origin: NodeId = Field(description="Id of the node that owns the record; only it may change the record.")
    id: UUID = Field(description="Record id, assigned by the origin.")
    version: int = Field(ge=1, le=MAX_VERSION, description="Bumped by the origin on every change.")
    updated_at: AwareDatetime = Field(description="When the origin last changed the record (UTC).")
    deleted: bool = Field(False, description="True for a tombstone: the record was deleted at its origin.")


ENVELOPE_FIELDS = frozenset(Envelope.model_fields)


# --- Node profile -------------------------------------------------------------------------------------


class NodeKind(SchemaEnum):
    QUARTIER = "quartier"
    TERRITOIRE = "territoire"


class LabelStatus(SchemaEnum):
    EN_PROJET = "en_projet"
    LABELLISEE = "labellisee"


class PostalAddress(StrictModel):
    street: Text300 | None = None
    postal_code: str | None = Field(None, pattern=r"^[0-9]{5}$")
    city: Text200 | None = None


class NodeProfileData(StrictModel):
    """Who the régie is: what `PUT /api/v1/node` accepts."""

    name: ShortText = Field(examples=["Régie de quartier de Belleville"])
    kind: NodeKind = Field(description="quartier (urban) or territoire (rural).")
    label_status: LabelStatus = LabelStatus.EN_PROJET
    siren: Siren | None = Field(None, description="Derived from `siret` when omitted.")
    siret: Siret | None = None
    rna: Rna | None = None
    address: PostalAddress | None = None
    commune: InseeCommune | None = Field(None, description="INSEE code of the commune of the head office.")
    department: DerivedCode = Field(None, description="Derived from `commune`: leave out, or send the derived value.")
    region: DerivedCode = Field(
        None, description="INSEE region code, derived from `commune`: leave out, or send the derived value."
    )
    qpv: QpvCodes = Field(default_factory=list, description="QPV served.")
    contact: Contact | None = None
    website: HttpUrl | None = None
    location: GeoPoint | None = Field(None, description="Where the régie is, for maps (WGS 84).")
    description: LongText = ""

    @model_validator(mode="after")
    def _derive(self) -> NodeProfileData:
        return derive_department_and_region(self)

    @model_validator(mode="after")
    def _siren_matches_siret(self) -> NodeProfileData:
        if self.siret:
            if self.siren and self.siren != self.siret[:9]:
                raise ValueError(f"siren {self.siren} is not the first 9 digits of siret {self.siret}")
            # The derived SIREN must itself be valid, or the stored record would fail validation (a 500).
            self.siren = normalize_siren(self.siret[:9])
        return self


class NodeProfile(NodeProfileData, Envelope):
    """A régie's public profile as a federated record; `origin` is the node id."""


# --- Activities ---------------------------------------------------------------------------------------


class ActivityStatus(SchemaEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class ActivityData(StrictModel):
    """An activity of the régie in one field of action; `details` follow the service type's own model."""

    category: Category
    service_type: ServiceTypeKey
    title: ShortText = Field(examples=["Entretien des espaces verts de la cité des Lilas"])
    description: LongText = ""
    status: ActivityStatus = ActivityStatus.ACTIVE
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    place: Place = Field(default_factory=Place)
    partners: list[Partner] = Field(default_factory=list, max_length=100)
    inhabitants_involved: int | None = Field(None, ge=0, le=1_000_000)
    details: dict[str, Any] = Field(default_factory=dict, description="Validated by the service type's details model.")

    @field_validator("end_date")
    @classmethod
    def _dates_in_order(cls, end_date: dt.date | None, info: ValidationInfo) -> dt.date | None:
        # On the field, not the model: the error then points at /end_date, the field to correct.
        start_date = info.data.get("start_date")
        if start_date and end_date and end_date < start_date:
            raise ValueError("end_date must not be before start_date")
        return end_date


class Activity(ActivityData, Envelope):
    """An activity as a federated record."""


# --- Shared resources ---------------------------------------------------------------------------------


class ResourceKind(SchemaEnum):
    VEHICLE = "vehicle"
    ROOM = "room"
    TOOL = "tool"
    EQUIPMENT = "equipment"
    GARDEN = "garden"
    OTHER = "other"


class ResourceStatus(SchemaEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    RETIRED = "retired"


class Borrower(SchemaEnum):
    INHABITANTS = "inhabitants"
    ASSOCIATIONS = "associations"
    REGIES = "regies"
    LOCAL_AUTHORITIES = "local_authorities"
    SOCIAL_LANDLORDS = "social_landlords"
    BUSINESSES = "businesses"


# A weekly slot is in the régie's local time: an offset means nothing there, and mixing a naive and an aware
# time made the order check raise TypeError (a 500).
LocalTime = Annotated[
    dt.time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "description": "Local time, HH:MM[:SS[.ffffff]], without offset.",
        }
    ),
]


class AvailabilitySlot(StrictModel):
    weekday: int = Field(ge=1, le=7, description="1 = Monday … 7 = Sunday (ISO 8601).")
    start: LocalTime
    end: LocalTime

    @field_validator("start", "end")
    @classmethod
    def _local(cls, time: dt.time) -> dt.time:
        if time.tzinfo is not None:
            raise ValueError("slot times are local times, without offset")
        return time

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: dt.time, info: ValidationInfo) -> dt.time:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end


class Availability(StrictModel):
    slots: list[AvailabilitySlot] = Field(default_factory=list, max_length=100)
    note: Text1000 | None = Field(None, examples=["Sur réservation une semaine à l'avance"])


class SharedResourceData(StrictModel):
    """Something the régie lends or shares: a vehicle, a room, tools, a garden…"""

    kind: ResourceKind
    name: ShortText = Field(examples=["Minibus 9 places"])
    description: LongText = ""
    status: ResourceStatus = ResourceStatus.AVAILABLE
    capacity: int | None = Field(None, ge=0, le=1_000_000)
    capacity_unit: Text50 | None = Field(None, examples=["places", "m²"])
    availability: Availability = Field(default_factory=Availability)
    conditions: LongText = Field("", description="Terms of loan: price, deposit, insurance, licence…")
    place: Place = Field(default_factory=Place)
    borrowers: list[Borrower] = Field(
        default_factory=lambda: [Borrower.REGIES], min_length=1, description="Who may borrow it."
    )
    contact: Contact | None = None


class SharedResource(SharedResourceData, Envelope):
    """A shared resource as a federated record."""


# --- Period reports -----------------------------------------------------------------------------------


class PeriodType(SchemaEnum):
    YEAR = "year"
    SURVEY = "survey"
    QUARTER = "quarter"


class Period(StrictModel):
    """A reporting period: a calendar year, a multi-year survey period or a quarter."""

    type: PeriodType
    year: int = Field(ge=2000, le=2100, description="The (first) year.")
    end_year: int | None = Field(None, ge=2000, le=2100, description="Last year of a survey period.")
    quarter: int | None = Field(None, ge=1, le=4)
    key: DerivedCode = Field(
        None, description="Derived (2025, 2025-Q3 or 2023-2025): leave out, or send the derived value."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Period:
        if self.type == PeriodType.QUARTER:
            if self.quarter is None:
                raise ValueError("a quarter period needs `quarter` (1–4)")
            if self.end_year is not None:
                raise ValueError("a quarter period has no `end_year`")
            key = f"{self.year}-Q{self.quarter}"
        elif self.type == PeriodType.SURVEY:
            if self.end_year is None or self.end_year <= self.year:
                raise ValueError("a survey period needs `end_year` after `year`")
            if self.quarter is not None:
                raise ValueError("a survey period has no `quarter`")
            key = f"{self.year}-{self.end_year}"
        else:
            if self.quarter is not None or self.end_year is not None:
                raise ValueError("a year period has neither `quarter` nor `end_year`")
            key = str(self.year)
        if self.key not in (None, key):
            raise ValueError(f"key '{self.key}' does not match the period (expected {key})")
        self.key = key
        return self


class ReviewLevel(SchemaEnum):
    """Under two-level approval, who decided: a regional coordinator validates first, a national one accepts."""

    REGIONAL = "regional"
    NATIONAL = "national"


class ReportState(SchemaEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    RETURNED = "returned"


IndicatorKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
IndicatorValue = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class AuditEntry(BaseModel):
    """One state change or edit of a report: who, when, what."""

    at: AwareDatetime
    actor: str
    action: Literal["created", "updated", "submitted", "validated", "returned", "deleted"]
    from_state: ReportState | None = None
    to_state: ReportState
    changed: list[str] = Field(default_factory=list, description="Top-level fields that changed.")
    comment: str | None = None
    level: ReviewLevel | None = Field(
        None, description="For a hub decision under two-level approval: the level that decided (regional, national)."
    )


class PeriodReportData(StrictModel):
    """A régie's figures for one period. Nodes write drafts and submit; the hub validates or returns."""

    period: Period
    indicators: dict[IndicatorKey, IndicatorValue] = Field(
        default_factory=dict,
        max_length=500,
        json_schema_extra={"additionalProperties": False},  # every key matches the indicator key pattern
        description="Indicator key → value (core and plugin indicators); values are non-negative.",
    )
    comment: LongText = ""
    state: ReportState = ReportState.DRAFT


class PeriodReport(PeriodReportData, Envelope):
    """A period report as a federated record, with its audit trail."""

    audit: list[AuditEntry] = Field(default_factory=list, description="Read-only history of changes.")


# --- Report reviews (written by the hub) ----------------------------------------------------------------


class ReviewDecision(SchemaEnum):
    VALIDATED = "validated"
    RETURNED = "returned"


class ReportReviewData(StrictModel):
    """A coordinator's decision on one version of a node's period report, published by the hub to that node."""

    report_origin: NodeId = Field(description="The node whose report this is.")
    report_id: UUID
    report_version: int = Field(ge=1, le=MAX_VERSION, description="The version of the report that was reviewed.")
    decision: ReviewDecision
    comment: LongText = Field("", description="Why the report is returned, or a note on its validation.")
    reviewer: ShortText = Field(description="The coordinator who decided.")
    level: ReviewLevel | None = Field(
        None,
        description="Two-level approval: `regional` (a validation the national level must still accept, or a "
        "return) or `national`; absent where the hub approves in one level. A regional validation leaves the report "
        "submitted and locked.",
    )
    reviewer_role: ShortText | None = Field(
        None, description="The reviewer's role on the hub (regional, national, admin)."
    )


class ReportReview(ReportReviewData, Envelope):
    """A report review as a federated record; only the reviewed node receives it."""


# --- Feed envelope ------------------------------------------------------------------------------------

# The core's kinds, as the published envelope schema lists them (schemas/v1/record-envelope.schema.json). A node
# knows these and its plugins' kinds; a record of a kind it does not know is skipped on receipt (docs/protocol.md
# §6.4), so a receiver's envelope model takes any kind name (federation.protocol.apply).
RecordKindName = Literal["node", "activity", "resource", "report", "review"]


class RecordEnvelope(BaseModel):
    """A record as carried by the change feed: envelope plus payload (null for tombstones)."""

    origin: NodeId
    id: UUID
    kind: RecordKindName
    version: int = Field(ge=1, le=MAX_VERSION)
    updated_at: AwareDatetime
    deleted: bool = False
    payload: dict[str, Any] | None = Field(description="The record's data fields; null when deleted.")


# The core's kinds, declared as any plugin declares its own (federation.schema.kinds) and registered through the
# same hook by the core's internal plugin (federation.core_kinds). Their filter columns and indexes predate kinds
# as data: the indexes are the migrations' (storage.tables).
_STATUS = "status"
_COMMUNE = KindFilter("commune", "commune", "place.commune")
RECORD_KINDS: dict[str, RecordKind] = {
    kind.name: kind
    for kind in (
        RecordKind(
            "node",
            NodeProfileData,
            NodeProfile,
            "node",
            "node-profile",
            ENVELOPE_FIELDS,
            filters=(KindFilter(None, _STATUS, "label_status"), KindFilter(None, "commune", "commune")),
            unique_per_origin=(),
        ),
        RecordKind(
            "activity",
            ActivityData,
            Activity,
            "activities",
            "activity",
            ENVELOPE_FIELDS,
            filters=(
                KindFilter("category", "category", "category"),
                KindFilter("service_type", "service_type", "service_type"),
                KindFilter("status", _STATUS, "status", "Activity status."),
                _COMMUNE,
                KindFilter(None, "start_date", "start_date"),
                KindFilter(None, "end_date", "end_date"),
            ),
        ),
        RecordKind(
            "resource",
            SharedResourceData,
            SharedResource,
            "resources",
            "shared-resource",
            ENVELOPE_FIELDS,
            filters=(
                KindFilter("kind", "resource_kind", "kind", "Kind of resource."),
                KindFilter("status", _STATUS, "status", "Resource status."),
                _COMMUNE,
            ),
        ),
        RecordKind(
            "report",
            PeriodReportData,
            PeriodReport,
            "reports",
            "period-report",
            ENVELOPE_FIELDS | {"audit"},
            authors=frozenset({MEMBER}),
            audience=HUB_ONLY,
            filters=(
                KindFilter("period", "period", "period.key"),
                KindFilter("state", _STATUS, "state", "Report state."),
            ),
            unique_per_origin=("period",),
        ),
        RecordKind(
            "review",
            ReportReviewData,
            ReportReview,
            None,
            "report-review",
            ENVELOPE_FIELDS,
            authors=frozenset({HUB}),
            audience=addressed_to("report_origin"),
            filters=(KindFilter(None, _STATUS, "decision"),),
        ),
    )
}
# The core's kinds as a set (what a node without plugin kinds knows, and what helper processes parse).
CORE_KINDS = RecordKinds.of(RECORD_KINDS.values())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
