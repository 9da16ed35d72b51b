"""Tests for the six built-in plugins: their service types, details models and indicators."""

from __future__ import annotations

import importlib
import re
import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import federation
from federation.plugins import Plugins, build_plugins
from federation.registrations import ServiceType
from federation.schema.examples import EXAMPLES
from federation.schema.types import KEY_PATTERN, Category

PLUGIN_SERVICE_TYPES: dict[str, dict[str, Category]] = {
    "urban": {
        "common_area_cleaning": Category.URBAN_MANAGEMENT,
        "green_spaces": Category.URBAN_MANAGEMENT,
        "small_repairs": Category.URBAN_MANAGEMENT,
        "bulky_waste": Category.URBAN_MANAGEMENT,
        "caretaker_replacement": Category.URBAN_MANAGEMENT,
        "outdoor_cleaning": Category.URBAN_MANAGEMENT,
        "bin_handling": Category.URBAN_MANAGEMENT,
        "building_refurbishment": Category.URBAN_MANAGEMENT,
        "paths_natural_areas": Category.URBAN_MANAGEMENT,
    },
    "services": {
        "laundry_ironing": Category.NEW_SERVICES,
        "repair_workshop": Category.NEW_SERVICES,
        "neighbourhood_concierge": Category.NEW_SERVICES,
        "shared_gardens": Category.NEW_SERVICES,
        "digital_inclusion": Category.NEW_SERVICES,
    },
    "mediation": {
        "social_mediation": Category.MEDIATION,
        "night_correspondents": Category.MEDIATION,
        "neighbourhood_events": Category.MEDIATION,
        "access_to_rights": Category.MEDIATION,
        "waste_sorting_campaign": Category.AWARENESS,
        "energy_saving_campaign": Category.AWARENESS,
        "citizenship_awareness": Category.AWARENESS,
    },
    "insertion": {
        "insertion_contracts": Category.EMPLOYMENT_INTEGRATION,
        "training_sessions": Category.TRAINING,
    },
    "mobility": {
        "mobility_information_point": Category.TRANSPORT,
        "social_driving_school": Category.TRANSPORT,
        "community_garage": Category.TRANSPORT,
        "collective_transport": Category.TRANSPORT,
        "bike_school": Category.TRANSPORT,
        "solidarity_vehicle_rental": Category.TRANSPORT,
    },
    "democracy": {
        "neighbourhood_meetings": Category.LOCAL_DEMOCRACY,
        "consultations": Category.LOCAL_DEMOCRACY,
    },
}
EXPECTED: list[tuple[str, str, Category]] = [
    (plugin, key, category) for plugin, types in PLUGIN_SERVICE_TYPES.items() for key, category in types.items()
]
ALL_KEYS = [key for _, key, _ in EXPECTED]

# A realistic details object per service type, and one of its counts (to try a negative value on).
SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "common_area_cleaning": (
        {"buildings": 12, "stairwells": 48, "frequency_per_week": 2, "surface_m2": 5400},
        "buildings",
    ),
    "green_spaces": (
        {"surface_m2": 18_500, "tasks": ["mowing", "pruning", "weeding"], "zero_pesticide": True},
        "surface_m2",
    ),
    "small_repairs": ({"interventions": 310, "trades": ["plumbing", "painting", "locksmith"]}, "interventions"),
    "bulky_waste": ({"collections": 52, "tonnes_collected": 86.4, "reuse_share_percent": 22.5}, "collections"),
    "caretaker_replacement": ({"housing_units": 640, "social_landlord": "Paris Habitat"}, "housing_units"),
    "laundry_ironing": ({"kilos_processed": 12_800.5, "customers": 415}, "customers"),
    "repair_workshop": ({"items_received": 380, "items_repaired": 295, "kind": "bike"}, "items_repaired"),
    "neighbourhood_concierge": (
        {"requests_handled": 1_240, "services": ["dépôt de colis", "petits travaux", "aide administrative"]},
        "requests_handled",
    ),
    "shared_gardens": ({"plots": 34, "gardeners": 41, "surface_m2": 1_200}, "plots"),
    "social_mediation": ({"interventions": 920, "conflicts_resolved": 134, "people_met": 3_100}, "conflicts_resolved"),
    "night_correspondents": ({"team_size": 8, "evening_rounds": 230, "reports_to_landlords": 412}, "team_size"),
    "waste_sorting_campaign": ({"households_reached": 1_850, "events": 14}, "events"),
    "energy_saving_campaign": (
        {"households_reached": 600, "home_visits": 120, "estimated_kwh_saved": 96_000},
        "home_visits",
    ),
    "insertion_contracts": (
        {
            "structure": "ACI",
            "employees_cddi": 42,
            "hours_worked": 48_200,
            "exits_durable_employment": 6,
            "exits_transitional_employment": 5,
            "exits_positive": 7,
        },
        "employees_cddi",
    ),
    "training_sessions": (
        {
            "sessions": 9,
            "trainees": 27,
            "hours": 315,
            "certificates_obtained": 19,
            "certificate": "CQP agent de propreté et d'hygiène",
        },
        "trainees",
    ),
    "mobility_information_point": ({"people_advised": 260, "appointments": 410}, "appointments"),
    "social_driving_school": (
        {"learners": 24, "lesson_hours": 760, "code_passed": 18, "licences_obtained": 11},
        "licences_obtained",
    ),
    "community_garage": ({"repairs": 340, "vehicles_serviced": 290, "members": 520}, "repairs"),
    "collective_transport": ({"trips": 1_450, "passengers": 6_300, "vehicles": 3}, "passengers"),
    "neighbourhood_meetings": ({"meetings": 11, "inhabitants_attending": 380}, "meetings"),
    "consultations": (
        {"consultations": 3, "inhabitants_attending": 145, "topic": "Réaménagement du square des Lilas"},
        "consultations",
    ),
    "outdoor_cleaning": (
        {
            "surface_m2": 42_000,
            "frequency_per_week": 5,
            "illegal_dumps_removed": 118,
            "waste_tonnes": 37.5,
            "tasks": ["sweeping", "litter_picking", "illegal_dumps"],
        },
        "illegal_dumps_removed",
    ),
    "bin_handling": (
        {"bins": 640, "rounds_per_week": 3, "bin_washes": 2_560, "bin_rooms": 45, "housing_units": 1_900},
        "bins",
    ),
    "building_refurbishment": (
        {
            "housing_units": 36,
            "common_areas": 4,
            "surface_m2": 5_400,
            "work_hours": 9_800,
            "trades": ["painting", "flooring", "plastering"],
        },
        "housing_units",
    ),
    "paths_natural_areas": (
        {
            "paths_km": 124.5,
            "natural_areas_ha": 38,
            "riverbanks_km": 6.2,
            "communes": 14,
            "tasks": ["clearing", "mowing", "waymarking"],
        },
        "communes",
    ),
    "digital_inclusion": (
        {
            "people_helped": 430,
            "procedures_completed": 1_150,
            "workshops": 48,
            "workshop_participants": 390,
            "devices_provided": 25,
            "procedures": ["family_benefits", "employment", "taxes"],
        },
        "people_helped",
    ),
    "neighbourhood_events": (
        {
            "events": 18,
            "participants": 2_300,
            "volunteer_inhabitants": 35,
            "kinds": ["neighbourhood_party", "shared_meal", "outing"],
        },
        "events",
    ),
    "access_to_rights": (
        {
            "people_helped": 310,
            "appointments": 720,
            "letters_written": 540,
            "files_completed": 260,
            "referrals": 140,
            "topics": ["housing", "family_benefits", "debt"],
        },
        "letters_written",
    ),
    "citizenship_awareness": (
        {"actions": 26, "people_reached": 1_400, "school_sessions": 12, "themes": ["cleanliness", "neighbourliness"]},
        "actions",
    ),
    "bike_school": (
        {"learners": 32, "sessions": 160, "lesson_hours": 480, "learners_autonomous": 24, "bikes_lent_to_learners": 12},
        "learners",
    ),
    "solidarity_vehicle_rental": (
        {
            "fleet": 22,
            "vehicle_kinds": ["car", "scooter", "electric_bike"],
            "rentals": 310,
            "bikes_lent": 120,
            "rental_days": 6_400,
            "people_served": 190,
        },
        "rentals",
    ),
}
# Service types whose details need at least one field (every other one accepts `{}`).
REQUIRE_DETAILS = {"insertion_contracts"}


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return build_plugins()


def details_model(plugins: Plugins, key: str) -> type[BaseModel]:
    return plugins.registry.service_types[key].details_model


# --- loading ---------------------------------------------------------------------------------------------


def test_the_six_builtin_plugins_load(plugins: Plugins) -> None:
    assert set(PLUGIN_SERVICE_TYPES) <= set(plugins.infos)
    for name in PLUGIN_SERVICE_TYPES:
        assert plugins.infos[name].version == federation.__version__  # the distribution's version
        assert plugins.hooks_of(name) == ["register_indicators", "register_service_types", "service_type_for_label"]


@pytest.mark.parametrize("module", [f"regies_{name}" for name in PLUGIN_SERVICE_TYPES])
def test_plugin_module_has_version_and_docstring(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__version__ == "0.1.0"
    assert imported.__doc__ and imported.__doc__.strip()


def test_every_category_has_a_service_type(plugins: Plugins) -> None:
    covered = {service_type.category for service_type in plugins.registry.service_types.values()}
    assert covered >= set(Category)


@pytest.mark.parametrize(("plugin", "key", "category"), EXPECTED, ids=ALL_KEYS)
def test_expected_service_type_is_registered(plugins: Plugins, plugin: str, key: str, category: Category) -> None:
    service_type = plugins.registry.service_types[key]
    assert service_type.category == category
    assert plugins.registry.owner("service type", key) == plugin
    assert re.match(KEY_PATTERN, key)


def test_samples_cover_every_builtin_service_type() -> None:
    assert set(SAMPLES) == set(ALL_KEYS)


def test_disabling_mobility_removes_its_service_types_and_indicators() -> None:
    plugins = build_plugins(disabled=["mobility"])
    assert "mobility" not in plugins.infos
    assert "social_driving_school" not in plugins.registry.service_types
    assert "driving_licences_obtained" not in plugins.registry.indicators
    assert "insertion_contracts" in plugins.registry.service_types


# --- labels and indicators -------------------------------------------------------------------------------


def builtin_service_types(plugins: Plugins) -> list[ServiceType]:
    return [plugins.registry.service_types[key] for key in ALL_KEYS]


def test_every_service_type_has_french_and_english_labels(plugins: Plugins) -> None:
    for service_type in builtin_service_types(plugins):
        assert service_type.label_fr.strip() and service_type.label_en.strip(), service_type.key
        assert service_type.description.strip(), service_type.key


def test_every_indicator_has_labels_and_a_valid_key(plugins: Plugins) -> None:
    for key, indicator in plugins.registry.indicators.items():
        assert re.match(KEY_PATTERN, key)
        assert indicator.label_fr.strip() and indicator.label_en.strip(), key
        assert indicator.source in {"entered", "computed"}, key


def test_every_referenced_indicator_is_registered(plugins: Plugins) -> None:
    for service_type in builtin_service_types(plugins):
        assert service_type.indicators, service_type.key
        for key in service_type.indicators:
            assert key in plugins.registry.indicators, f"{service_type.key} references unknown indicator {key}"


def test_computed_indicators_are_listed_by_their_service_type(plugins: Plugins) -> None:
    for key, indicator in plugins.registry.indicators.items():
        # An indicator a plugin computes with its own function (`compute_many`, e.g. loans) has no service type.
        if indicator.source == "computed" and not indicator.computed_by_plugin:
            assert indicator.service_type is not None, key
            assert key in plugins.registry.service_types[indicator.service_type].indicators, key


def test_computed_indicator_fields_exist_and_are_numeric(plugins: Plugins) -> None:
    for key, indicator in plugins.registry.indicators.items():
        if indicator.source != "computed" or indicator.computed_by_plugin:
            continue
        assert indicator.service_type in plugins.registry.service_types, key
        model = details_model(plugins, indicator.service_type)
        assert indicator.details_field in model.model_fields, f"{key}: no field {indicator.details_field}"
        annotation = model.model_fields[indicator.details_field].annotation
        assert set(typing.get_args(annotation)) - {type(None)} <= {int, float}, key


def test_indicators_of_the_examples_are_registered(plugins: Plugins) -> None:
    assert set(EXAMPLES["period-report"]["indicators"]) <= set(plugins.registry.indicators)


def test_example_activity_details_are_valid(plugins: Plugins) -> None:
    activity = EXAMPLES["activity"]
    details_model(plugins, activity["service_type"]).model_validate(activity["details"])


# --- details models --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ALL_KEYS)
def test_details_accept_a_realistic_sample(plugins: Plugins, key: str) -> None:
    model = details_model(plugins, key)
    sample, _ = SAMPLES[key]
    details = model.model_validate(sample)
    dumped = details.model_dump(mode="json")
    assert model.model_validate(dumped).model_dump(mode="json") == dumped  # stored details validate again


@pytest.mark.parametrize("key", ALL_KEYS)
def test_details_accept_an_empty_object_unless_required(plugins: Plugins, key: str) -> None:
    model = details_model(plugins, key)
    if key in REQUIRE_DETAILS:
        with pytest.raises(ValidationError):
            model.model_validate({})
    else:
        model.model_validate({})


def test_green_spaces_accepts_empty_details(plugins: Plugins) -> None:
    assert details_model(plugins, "green_spaces").model_validate({}).model_dump(exclude_none=True) == {}


@pytest.mark.parametrize("key", ALL_KEYS)
def test_details_reject_an_unknown_field(plugins: Plugins, key: str) -> None:
    sample, _ = SAMPLES[key]
    with pytest.raises(ValidationError, match="extra"):
        details_model(plugins, key).model_validate({**sample, "colour": "bleu"})


@pytest.mark.parametrize("key", ALL_KEYS)
def test_details_reject_a_negative_count(plugins: Plugins, key: str) -> None:
    sample, count_field = SAMPLES[key]
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        details_model(plugins, key).model_validate({**sample, count_field: -1})


@pytest.mark.parametrize("key", ALL_KEYS)
def test_details_fields_are_described(plugins: Plugins, key: str) -> None:
    schema = details_model(plugins, key).model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description"), f"{key}.{name}"


@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        ("green_spaces", "tasks", ["mowing", "sweeping"]),
        ("small_repairs", "trades", ["roofing"]),
        ("repair_workshop", "kind", "car"),
        ("insertion_contracts", "structure", "SIAE"),
        ("bulky_waste", "reuse_share_percent", 120),
        ("green_spaces", "tasks", ["mowing", "mowing"]),
        ("outdoor_cleaning", "tasks", ["vacuuming"]),
        ("outdoor_cleaning", "frequency_per_week", 22),
        ("bin_handling", "rounds_per_week", 15),
        ("building_refurbishment", "trades", ["painting", "painting"]),
        ("building_refurbishment", "trades", ["roofing"]),
        ("paths_natural_areas", "tasks", ["logging"]),
        ("paths_natural_areas", "paths_km", 10_001),
        ("digital_inclusion", "procedures", ["gaming"]),
        ("digital_inclusion", "people_helped", 100_001),
        ("neighbourhood_events", "kinds", ["rave"]),
        ("neighbourhood_events", "participants", 1e308),
        ("access_to_rights", "topics", ["housing", "housing"]),
        ("citizenship_awareness", "themes", ["fashion"]),
        ("bike_school", "learners", 2.5),
        ("solidarity_vehicle_rental", "vehicle_kinds", ["tractor"]),
    ],
)
def test_details_reject_values_outside_their_choices(plugins: Plugins, key: str, field: str, value: Any) -> None:
    sample, _ = SAMPLES[key]
    with pytest.raises(ValidationError):
        details_model(plugins, key).model_validate({**sample, field: value})


# --- cross-field validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("structure", ["ACI", "EI"])
def test_insertion_exits_cannot_exceed_employees(plugins: Plugins, structure: str) -> None:
    model = details_model(plugins, "insertion_contracts")
    split = {"exits_durable_employment": 4, "exits_transitional_employment": 4, "exits_positive": 3}
    with pytest.raises(ValidationError, match="must not exceed employees_cddi"):
        model.model_validate({"structure": structure, "employees_cddi": 10, **split})
    with pytest.raises(ValidationError, match="must not exceed employees_cddi"):
        model.model_validate({"structure": structure, "employees_cddi": 10, "exits_to_employment": 11})
    details = model.model_validate({"structure": structure, "employees_cddi": 11, **split})
    assert details.model_dump()["exits_to_employment"] == 11


def test_insertion_exit_total_is_filled_from_the_split(plugins: Plugins) -> None:
    model = details_model(plugins, "insertion_contracts")
    details = model.model_validate({"structure": "EI", "exits_durable_employment": 2, "exits_positive": 1})
    assert details.model_dump()["exits_to_employment"] == 3


def test_insertion_exit_total_must_agree_with_the_split(plugins: Plugins) -> None:
    model = details_model(plugins, "insertion_contracts")
    full_split = {"exits_durable_employment": 2, "exits_transitional_employment": 1, "exits_positive": 1}
    with pytest.raises(ValidationError, match="must equal the sum"):
        model.model_validate({"structure": "ACI", "exits_to_employment": 5, **full_split})
    with pytest.raises(ValidationError, match="must not be less than"):
        model.model_validate({"structure": "ACI", "exits_to_employment": 1, "exits_durable_employment": 2})
    partial = model.model_validate({"structure": "ACI", "exits_to_employment": 5, "exits_durable_employment": 2})
    assert partial.model_dump()["exits_to_employment"] == 5


@pytest.mark.parametrize("field", ["licences_obtained", "code_passed"])
def test_driving_school_results_cannot_exceed_learners(plugins: Plugins, field: str) -> None:
    model = details_model(plugins, "social_driving_school")
    with pytest.raises(ValidationError, match=f"{field} .* must not exceed learners"):
        model.model_validate({"learners": 10, field: 11})
    model.model_validate({"learners": 10, field: 10})
    model.model_validate({field: 11})  # nothing to compare with


def test_bike_school_autonomous_learners_cannot_exceed_learners(plugins: Plugins) -> None:
    model = details_model(plugins, "bike_school")
    with pytest.raises(ValidationError, match=r"learners_autonomous \(13\) must not exceed learners \(12\)"):
        model.model_validate({"learners": 12, "learners_autonomous": 13})
    model.model_validate({"learners": 12, "learners_autonomous": 12})


@pytest.mark.parametrize("field", ["bikes_lent", "people_served"])
def test_rental_bikes_and_people_cannot_exceed_rentals(plugins: Plugins, field: str) -> None:
    model = details_model(plugins, "solidarity_vehicle_rental")
    with pytest.raises(ValidationError, match=f"{field} \\(41\\) must not exceed rentals \\(40\\)"):
        model.model_validate({"rentals": 40, field: 41})
    model.model_validate({"rentals": 40, field: 40})
    model.model_validate({field: 41})  # nothing to compare with


def test_certificates_cannot_exceed_trainees(plugins: Plugins) -> None:
    model = details_model(plugins, "training_sessions")
    with pytest.raises(ValidationError, match="must not exceed trainees"):
        model.model_validate({"trainees": 5, "certificates_obtained": 6})
    model.model_validate({"trainees": 5, "certificates_obtained": 5})
