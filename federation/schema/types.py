"""Reusable field types of common schema v1: identifiers, places, contacts and the fields of action."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum, nonmember
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from federation.schema.geo import department_for_commune
from federation.schema.identifiers import (
    INSEE_COMMUNE_FORMAT,
    INSEE_COMMUNE_PATTERN,
    QPV_FORMAT,
    QPV_PATTERN,
    RNA_PATTERN,
    normalize_insee_commune,
    normalize_qpv_code,
    normalize_rna,
    normalize_siren,
    normalize_siret,
    qpv_errors,
)


class StrictModel(BaseModel):
    """Base of every wire model: unknown fields are errors. Free text is stripped by its type (`ShortText`…)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)


def _memoized(normalize: Callable[[str], str]) -> Callable[[str], str]:
    # Replication validates hundreds of thousands of records whose communes and QPV codes repeat: remember
    # the answers (failures are not cached, so they are recomputed and raised each time).
    return lru_cache(maxsize=16384)(normalize)


# Public: the fast path for feed pages (federation.protocol.fastpage) checks with the same functions.
insee_commune = _memoized(normalize_insee_commune)
qpv_code = _memoized(normalize_qpv_code)


Siren = Annotated[
    str,
    AfterValidator(normalize_siren),
    Field(
        description="SIREN: 9 digits with a valid Luhn key.",
        examples=["732829320"],
        json_schema_extra={"pattern": "^[0-9]{9}$", "format": "siren"},
    ),
]
Siret = Annotated[
    str,
    AfterValidator(normalize_siret),
    Field(
        description="SIRET: 14 digits with a valid Luhn key (La Poste establishments: digit sum multiple of 5).",
        examples=["73282932000074"],
        json_schema_extra={"pattern": "^[0-9]{14}$", "format": "siret"},
    ),
]
Rna = Annotated[
    str,
    AfterValidator(normalize_rna),
    Field(
        description="RNA association number: W followed by 9 characters.",
        examples=["W751234567"],
        json_schema_extra={"pattern": RNA_PATTERN},
    ),
]
InseeCommune = Annotated[
    str,
    AfterValidator(insee_commune),
    Field(
        description="INSEE commune code (5 characters, 2A/2B for Corsica). Format insee-commune: the code must "
        "exist in the shipped official list (current communes and municipal arrondissements); a code retired since "
        "2019 is refused on local writes.",
        examples=["75056", "2A004"],
        json_schema_extra={"pattern": INSEE_COMMUNE_PATTERN, "format": INSEE_COMMUNE_FORMAT},
    ),
]
QpvCode = Annotated[
    str,
    AfterValidator(qpv_code),
    Field(
        description="Priority neighbourhood (QPV) code: QP + 6 digits (2015 list) or QN + 5 alphanumerics "
        "+ 1 letter (2024 list). Format regies-qpv: characters 3 to 5 must name a department (075 for 75, 02A, "
        "971), and when a commune is given, the commune's department.",
        examples=["QP075001", "QN07501M"],
        json_schema_extra={"pattern": QPV_PATTERN, "format": QPV_FORMAT},
    ),
]
# A list of QPV codes, each at most once (`derive_department_and_region` refuses repeats, with their pointer).
QpvCodes = Annotated[list[QpvCode], Field(max_length=50, json_schema_extra={"uniqueItems": True})]

NODE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$"
NodeId = Annotated[
    str,
    Field(
        pattern=NODE_ID_PATTERN,
        description="Node identifier: 3–64 lowercase letters, digits and hyphens.",
        examples=["rq-belleville"],
    ),
]
KEY_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
ServiceTypeKey = Annotated[
    str,
    Field(
        pattern=KEY_PATTERN,
        description="Key of a service type registered by a plugin (see /api/v1/service-types).",
        examples=["green_spaces"],
    ),
]
# Free text is stripped once it is valid: its length and pattern are checked on the string as sent, as the
# published contract says (`maxLength` counts the raw string). A short text must not be blank: it needs a
# character that survives Python's strip(), which also removes \x1c-\x1f and \x85 (not in ECMAScript's \s).
NOT_BLANK_PATTERN = r"[^\s\x1c-\x1f\x85]"
STRIPPED = AfterValidator(str.strip)  # public: plugins' details models strip their text the same way
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK_PATTERN), STRIPPED]
LongText = Annotated[str, Field(max_length=20_000), STRIPPED]
# Optional free text of at most so many characters (names, addresses, units, notes).
Text50 = Annotated[str, Field(max_length=50), STRIPPED]
Text200 = Annotated[str, Field(max_length=200), STRIPPED]
Text300 = Annotated[str, Field(max_length=300), STRIPPED]
Text1000 = Annotated[str, Field(max_length=1000), STRIPPED]


class SchemaEnum(StrEnum):
    """Base of the schema's enumerations: a StrEnum whose `value` is read without running Python code.

    Wire models store enum fields as their plain values (`use_enum_values`), which makes pydantic read
    `member.value` for every enum field it validates; Enum's own `value` is a Python-level descriptor, this one is
    built from C-level parts (measured: about 1 µs per replicated activity, which has three such fields).
    """

    value = nonmember(property(attrgetter("_value_")))


class Category(SchemaEnum):
    """The fields of action of a régie."""

    URBAN_MANAGEMENT = "urban_management"
    NEW_SERVICES = "new_services"
    MEDIATION = "mediation"
    AWARENESS = "awareness"
    EMPLOYMENT_INTEGRATION = "employment_integration"
    TRAINING = "training"
    TRANSPORT = "transport"
    LOCAL_DEMOCRACY = "local_democracy"


CATEGORY_LABELS: dict[Category, dict[str, str]] = {
    Category.URBAN_MANAGEMENT: {"fr": "Gestion urbaine de proximité", "en": "Urban management"},
    Category.NEW_SERVICES: {"fr": "Nouveaux services", "en": "New services"},
    Category.MEDIATION: {"fr": "Médiation sociale", "en": "Mediation"},
    Category.AWARENESS: {"fr": "Sensibilisation", "en": "Awareness"},
    Category.EMPLOYMENT_INTEGRATION: {"fr": "Insertion par l'activité économique", "en": "Employment integration"},
    Category.TRAINING: {"fr": "Formation", "en": "Training"},
    Category.TRANSPORT: {"fr": "Transport et mobilité", "en": "Transport and mobility"},
    Category.LOCAL_DEMOCRACY: {"fr": "Démocratie locale", "en": "Local democracy"},
}


class GeoPoint(StrictModel):
    """A WGS 84 position."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class HasCommune(Protocol):
    __dict__: dict[str, Any]
    commune: str | None
    department: str | None
    region: str | None
    qpv: list[str]


GeoModel = TypeVar("GeoModel", bound=HasCommune)


def derive_department_and_region(model: GeoModel) -> GeoModel:
    """Set `department` and `region` from the (already validated) commune; refuse values that contradict it.

    An after-validator on purpose: a before-validator would make pydantic turn JSON input into Python dicts
    first, which costs more than the whole rest of the validation when replicating many records.
    """
    commune, department, region = model.commune, model.department, model.region
    if commune is None:
        if department is not None or region is not None:
            raise ValueError("department and region are derived from `commune`: set the commune instead")
        _check_qpv(model, None)
        return model
    derived = department_and_region(commune)
    if derived is None:  # cannot happen for a validated commune, kept for safety
        raise ValueError(f"unknown commune {commune}")
    expected_department, expected_region = derived
    # Only absent or the derived value: an empty string is a value too, and not the right one.
    if department is not None and department != expected_department and department.upper() != expected_department:
        raise ValueError(f"department '{department}' does not match commune {commune} (expected {expected_department})")
    if region is not None and region != expected_region and region.upper() != expected_region:
        raise ValueError(f"region '{region}' does not match commune {commune} (expected {expected_region})")
    # Straight into the instance's fields: the derived values need no validation, and pydantic's __setattr__
    # costs more than the rest of this check (it runs for every record a node replicates).
    fields = model.__dict__
    fields["department"], fields["region"] = expected_department, expected_region
    _check_qpv(model, expected_department)
    return model


def _check_qpv(model: GeoModel, department: str | None) -> None:
    """Refuse QPV codes of no department or of another department than the commune's, and repeated ones."""
    if not model.qpv:
        return
    errors = qpv_errors(model.qpv, department)
    if errors:
        # Raised as a ValidationError so that each error points at its code (/qpv/1), not at the whole place.
        details = [
            InitErrorDetails(
                type=PydanticCustomError("value_error", reason), loc=("qpv", position), input=model.qpv[position]
            )
            for position, reason in errors
        ]
        raise ValidationError.from_exception_data(type(model).__name__, details)


@lru_cache(maxsize=16384)
def department_and_region(commune: str) -> tuple[str, str] | None:
    """The department and region codes of an INSEE commune code, or None if it is not one."""
    try:
        department = department_for_commune(normalize_insee_commune(commune))
    except ValueError:
        return None
    return department.code, department.region_code


# A derived field: a client may leave it out, send null or send the derived value itself (so that a record read
# from the API can be sent back unchanged); any other value is refused.
DerivedCode = str | None


class Place(StrictModel):
    """Where something happens. Department and region are derived from the INSEE commune code."""

    commune: InseeCommune | None = None
    department: DerivedCode = Field(None, description="Derived from `commune`: leave out, or send the derived value.")
    region: DerivedCode = Field(
        None, description="INSEE region code, derived from `commune`: leave out, or send the derived value."
    )
    qpv: QpvCodes = Field(default_factory=list, description="QPV codes concerned.")
    address: Text300 | None = None
    point: GeoPoint | None = None

    @model_validator(mode="after")
    def _derive(self) -> Place:
        return derive_department_and_region(self)


class PartnerKind(SchemaEnum):
    LOCAL_AUTHORITY = "local_authority"
    SOCIAL_LANDLORD = "social_landlord"
    STATE = "state"
    ASSOCIATION = "association"
    BUSINESS = "business"
    REGIE = "regie"
    OTHER = "other"


class Partner(StrictModel):
    name: ShortText
    kind: PartnerKind = PartnerKind.OTHER
    siret: Siret | None = None


# 6 to 20 characters once stripped: no space at either end, so that the published pattern means the same thing.
_PHONE_RE = re.compile(r"^\+?[0-9.()-][0-9 .()-]{4,18}[0-9.()-]$")


def _phone(value: str) -> str:
    if not _PHONE_RE.match(value):
        raise ValueError("phone number must contain 6 to 20 digits, spaces, dots, dashes or a leading +")
    return value


MAX_EMAIL_LENGTH = 254  # RFC 5321: a forward path holds at most 256 characters, its angle brackets included


def _ascii_email(value: str) -> str:
    # The contract's `format: email` is RFC 5321 ASCII: an internationalised domain is kept in its ASCII
    # (punycode) form rather than normalised to Unicode, and a non-ASCII local part is refused.
    # Imported here: email_validator compiles its patterns on import (about 20 ms of every command's start),
    # and most commands (a pull of activities) never validate an address.
    from email_validator import EmailNotValidError, validate_email

    if len(value) > MAX_EMAIL_LENGTH:  # checked first: the validator's time grows with the length (0.6 s for 1 MB)
        raise ValueError(f"value is not a valid email address: it has more than {MAX_EMAIL_LENGTH} characters")
    try:
        return validate_email(value, check_deliverability=False, allow_smtputf8=False).ascii_email or value
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from exc


Email = Annotated[
    str,
    AfterValidator(_ascii_email),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": MAX_EMAIL_LENGTH,
            "description": "An e-mail address (ASCII).",
        }
    ),
]


class Contact(StrictModel):
    person: Text200 | None = None
    email: Email | None = None
    phone: Annotated[str, AfterValidator(_phone), Field(json_schema_extra={"pattern": _PHONE_RE.pattern})] | None = None
