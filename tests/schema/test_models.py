"""Record models: enumerations stored as plain values, department and region derived from the commune."""

from __future__ import annotations

import pickle
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from federation.schema.records import Activity, ActivityStatus
from federation.schema.types import Category, PartnerKind, Place


def _activity(**overrides: Any) -> dict[str, Any]:
    return {
        "origin": "rq-a",
        "id": str(uuid.uuid4()),
        "version": 1,
        "updated_at": "2026-01-01T00:00:00Z",
        "category": "urban_management",
        "service_type": "green_spaces",
        "title": "Entretien des espaces verts",
        "status": "planned",
        "partners": [{"name": "Ville", "kind": "local_authority"}],
        **overrides,
    }


def test_enumerations_are_stored_as_their_plain_values() -> None:
    activity = Activity.model_validate_json(Activity.model_validate(_activity()).model_dump_json())
    assert type(activity.category) is str and activity.category == "urban_management"
    assert type(activity.status) is str and activity.status == "planned"
    assert type(activity.partners[0].kind) is str and activity.partners[0].kind == "local_authority"


def test_enumeration_members_keep_the_enum_behaviour() -> None:
    assert ActivityStatus.ACTIVE.value == "active" and type(ActivityStatus.ACTIVE.value) is str
    assert ActivityStatus("ended") is ActivityStatus.ENDED
    assert [member.value for member in Category][:2] == ["urban_management", "new_services"]
    assert "value" not in PartnerKind.__members__
    assert pickle.loads(pickle.dumps(PartnerKind.STATE)) is PartnerKind.STATE
    with pytest.raises(ValidationError, match="status"):
        Activity.model_validate(_activity(status="paused"))


@pytest.mark.parametrize(
    ("given", "department", "region"),
    [
        ({"commune": "75056"}, "75", "11"),
        ({"commune": "2A004", "department": "2a"}, "2A", "94"),  # the derived value in any case is accepted
        ({"commune": "97411", "department": "974", "region": "04"}, "974", "04"),
        ({}, None, None),
    ],
)
def test_department_and_region_are_derived(given: dict[str, Any], department: str, region: str) -> None:
    place = Place.model_validate(given)
    assert (place.department, place.region) == (department, region)
    assert place.model_dump()["department"] == department


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"commune": "75056", "department": "92"}, "department '92' does not match commune 75056"),
        ({"commune": "75056", "region": ""}, "region '' does not match commune 75056"),
        ({"department": "75"}, "set the commune instead"),
    ],
)
def test_contradicting_derived_fields_are_refused(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Place.model_validate(given)
