"""The service types added for the national survey (lien social, inclusion numérique, écrivain public, propreté
extérieure, bacs, second œuvre, citoyenneté, vélo-école, location solidaire, chemins): listed, written and refused
through the real API and the back-office forms, picked from spreadsheet wording by the import, summed into the
report form and filed under their field of action in the hub's national tables."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web

from devtools.demo_data import REGIES
from federation.plugins import build_plugins
from federation.protocol import sender
from federation.registrations import fold_text
from tests.plugins.test_builtin_service_types import SAMPLES
from tests.plugins.test_hub import Network, _approve_all
from tests.plugins.test_hub import network as network
from tests.protocol.conftest import Node
from tests.web.conftest import add_account, csrf_of, log_in

# Each new service type, the plugin that owns it and its field of action.
NEW_TYPES: dict[str, tuple[str, str]] = {
    "outdoor_cleaning": ("urban", "urban_management"),
    "bin_handling": ("urban", "urban_management"),
    "building_refurbishment": ("urban", "urban_management"),
    "paths_natural_areas": ("urban", "urban_management"),
    "digital_inclusion": ("services", "new_services"),
    "neighbourhood_events": ("mediation", "mediation"),
    "access_to_rights": ("mediation", "mediation"),
    "citizenship_awareness": ("mediation", "awareness"),
    "bike_school": ("mobility", "transport"),
    "solidarity_vehicle_rental": ("mobility", "transport"),
}

PLUGINS = {"urban", "services", "mediation", "insertion", "mobility", "democracy"}

# What a régie's spreadsheet says in its "type de service" column, and the service type it means.
SPREADSHEET_LABELS: list[tuple[str, str]] = [
    ("Écrivain public", "access_to_rights"),
    ("ECRIVAIN PUBLIC", "access_to_rights"),
    ("Accès aux droits", "access_to_rights"),
    ("Fête de quartier", "neighbourhood_events"),
    ("Lien social", "neighbourhood_events"),
    ("Ramassage des encombrants", "bulky_waste"),
    ("Gestion des bacs", "bin_handling"),
    ("Sortie des bacs", "bin_handling"),
    ("Second œuvre", "building_refurbishment"),
    ("Second oeuvre", "building_refurbishment"),
    ("Remise en état de logements", "building_refurbishment"),
    ("Auto-école vélo", "bike_school"),
    ("Vélo-école", "bike_school"),
    ("velo ecole", "bike_school"),
    ("Location solidaire", "solidarity_vehicle_rental"),
    ("Prêt de vélos", "solidarity_vehicle_rental"),
    ("Inclusion numérique", "digital_inclusion"),
    ("Aide aux démarches en ligne", "digital_inclusion"),
    ("Nettoyage des espaces extérieurs", "outdoor_cleaning"),
    ("Propreté urbaine", "outdoor_cleaning"),
    ("Sensibilisation à la citoyenneté", "citizenship_awareness"),
    ("Cadre de vie", "citizenship_awareness"),
    ("Entretien des chemins", "paths_natural_areas"),
    ("Chemins de randonnée", "paths_natural_areas"),
]

# Per type, details breaking two rules, and the JSON Pointers the refusal must name.
INVALID_DETAILS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "outdoor_cleaning": ({"surface_m2": -1, "tasks": ["vacuuming"]}, {"/details/surface_m2", "/details/tasks/0"}),
    "bin_handling": ({"bins": 100_001, "rounds_per_week": 15}, {"/details/bins", "/details/rounds_per_week"}),
    "building_refurbishment": (
        {"housing_units": "beaucoup", "trades": ["roofing"]},
        {"/details/housing_units", "/details/trades/0"},
    ),
    "paths_natural_areas": ({"paths_km": 10_001, "colour": "vert"}, {"/details/paths_km", "/details/colour"}),
    "digital_inclusion": (
        {"people_helped": -3, "procedures": ["gaming"]},
        {"/details/people_helped", "/details/procedures/0"},
    ),
    "neighbourhood_events": ({"events": 10_001, "participants": 1e308}, {"/details/events", "/details/participants"}),
    "access_to_rights": (
        {"letters_written": 2.5, "topics": "housing"},
        {"/details/letters_written", "/details/topics"},
    ),
    "citizenship_awareness": ({"actions": -1, "themes": ["fashion"]}, {"/details/actions", "/details/themes/0"}),
    "bike_school": ({"learners": -1, "sessions": 10_001}, {"/details/learners", "/details/sessions"}),
    "solidarity_vehicle_rental": (
        {"fleet": 10_001, "vehicle_kinds": ["tractor"]},
        {"/details/fleet", "/details/vehicle_kinds/0"},
    ),
}


def _activity(key: str, details: dict[str, Any], start: str = "2025-01-05", end: str | None = None) -> dict[str, Any]:
    return {
        "category": NEW_TYPES[key][1],
        "service_type": key,
        "title": f"Activité {key} du {start}",
        "start_date": start,
        "end_date": end,
        "place": {"commune": "76276"},
        "details": details,
    }


@pytest.fixture
async def client(regies_client: Callable[..., Awaitable[Any]]) -> Any:
    """A node with every installed plugin, the built-in ones included."""
    return await regies_client(entry_points=True)


async def _activities(client: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/activities?limit=100", headers=client.regies_auth)
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


# --- listed with their schemas -----------------------------------------------------------------------------


async def test_each_new_type_is_listed_with_its_details_schema(client: Any) -> None:
    listed = {item["key"]: item for item in (await (await client.get("/api/v1/service-types")).json())["items"]}
    indicators = {item["key"]: item for item in (await (await client.get("/api/v1/indicators")).json())["items"]}
    for key, (plugin, category) in NEW_TYPES.items():
        item = listed[key]
        assert (item["plugin"], item["category"]) == (plugin, category), key
        assert item["labels"]["fr"] and item["labels"]["en"] and item["description"], key
        assert {label for label, means in SPREADSHEET_LABELS if means == key} & set(item["import_labels"]), key
        schema = item["details_schema"]
        assert schema["additionalProperties"] is False, key
        assert set(schema["properties"]) >= set(SAMPLES[key][0]), key
        for name, prop in schema["properties"].items():
            assert prop["title"] and prop["description"], f"{key}.{name}"
            numeric = [part for part in prop["anyOf"] if part.get("type") in ("integer", "number")]
            for part in numeric:  # every count, surface and duration is bounded on both sides
                assert part["minimum"] == 0 and part["maximum"] > 0, f"{key}.{name}"
            choices = [part for part in prop["anyOf"] if part.get("type") == "array"]
            for part in choices:  # lists of choices are closed enums, each choice at most once
                assert part["items"]["enum"] and part["uniqueItems"] is True, f"{key}.{name}"
        assert item["indicators"], key
        for indicator in item["indicators"]:
            described = indicators[indicator]
            assert (described["source"], described["service_type"], described["plugin"]) == ("computed", key, plugin)
            assert described["details_field"] in schema["properties"], indicator
            assert described["labels"]["fr"] and described["labels"]["en"], indicator


# --- written through the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(NEW_TYPES))
async def test_an_activity_of_each_new_type_is_stored_as_sent(client: Any, key: str) -> None:
    details = SAMPLES[key][0]
    response = await client.post("/api/v1/activities", json=_activity(key, details), headers=client.regies_auth)
    assert response.status == 201, await response.text()
    stored = await (await client.get(response.headers["Location"], headers=client.regies_auth)).json()
    assert stored["service_type"] == key
    assert {name: value for name, value in stored["details"].items() if value is not None} == details


@pytest.mark.parametrize("key", list(NEW_TYPES))
async def test_invalid_details_are_refused_with_field_pointers(client: Any, key: str) -> None:
    details, pointers = INVALID_DETAILS[key]
    response = await client.post("/api/v1/activities", json=_activity(key, details), headers=client.regies_auth)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert {error["pointer"] for error in (await response.json())["errors"]} == pointers
    assert await _activities(client) == []


@pytest.mark.parametrize(
    ("key", "details", "pointer"),
    [
        ("bike_school", {"learners": 12, "learners_autonomous": 13}, "/details/learners_autonomous"),
        ("solidarity_vehicle_rental", {"rentals": 40, "bikes_lent": 41}, "/details/bikes_lent"),
        ("solidarity_vehicle_rental", {"rentals": 40, "people_served": 41}, "/details/people_served"),
    ],
)
async def test_a_part_larger_than_its_whole_is_refused(
    client: Any, key: str, details: dict[str, Any], pointer: str
) -> None:
    response = await client.post("/api/v1/activities", json=_activity(key, details), headers=client.regies_auth)
    assert response.status == 422
    errors = (await response.json())["errors"]
    assert [error["pointer"] for error in errors] == [pointer]
    assert "must not exceed" in errors[0]["detail"]
    assert await _activities(client) == []


# --- back-office forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(NEW_TYPES))
async def test_the_back_office_form_asks_for_each_detail_in_french(staff: Any, key: str) -> None:
    response = await staff.get(f"/admin/activities/new?service_type={key}")
    page = html.unescape(await response.text())
    assert response.status == 200, page
    schema = build_plugins().registry.service_types[key].details_model.model_json_schema()
    for name, prop in schema["properties"].items():
        lists = [part for part in prop["anyOf"] if part.get("type") == "array"]
        if lists:  # a list of choices: one checkbox per choice, under the field's French title
            assert f'<fieldset class="field choices" id="f-details-{name}">\n  <legend>{prop["title"]}</legend>' in page
            for choice in lists[0]["items"]["enum"]:
                assert f'name="details.{name}" value="{choice}"' in page, choice
        else:
            assert f'<label for="f-details-{name}">{prop["title"]}</label>' in page, name


async def test_a_bike_school_is_recorded_from_the_form_and_a_wrong_total_is_shown_next_to_its_field(
    staff: Any,
) -> None:
    page = await (await staff.get("/admin/activities/new?service_type=bike_school")).text()
    form = {
        "_csrf": csrf_of(page),
        "service_type": "bike_school",
        "title": "Vélo-école du plateau",
        "status": "active",
        "start_date": "2025-04-01",
        "place.commune": "69123",
        "details.learners": "12",
        "details.lesson_hours": "1 250,5",
        "details.learners_autonomous": "13",
    }
    refused = await staff.post("/admin/activities/new", data=form)
    assert refused.status == 422
    error = re.search(r'<p class="field-error" id="f-details-learners_autonomous-error">([^<]+)', await refused.text())
    assert error is not None and "learners (12)" in html.unescape(error[1])
    assert await _activities(staff) == []

    form["details.learners_autonomous"] = "9"
    assert (await staff.post("/admin/activities/new", data=form, allow_redirects=False)).status == 303
    [activity] = await _activities(staff)
    assert activity["details"] == {
        "learners": 12,
        "sessions": None,
        "lesson_hours": 1250.5,
        "learners_autonomous": 9,
        "bikes_lent_to_learners": None,
    }


# --- spreadsheet wording -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "key"), SPREADSHEET_LABELS)
def test_spreadsheet_wording_names_the_service_type(label: str, key: str) -> None:
    plugins = build_plugins()
    category = str(plugins.registry.service_types[key].category)
    assert plugins.service_type_for_label(label) == key
    assert plugins.service_type_for_label(f"  {label.upper()} ", category) == key
    other = "training" if category != "training" else "transport"
    assert plugins.service_type_for_label(label, other) is None  # a contradicting field of action matches nothing


def test_no_wording_names_two_service_types() -> None:
    owners: dict[str, str] = {}
    for service_type in build_plugins().registry.service_types.values():
        names = (service_type.key, service_type.label_fr, service_type.label_en, *service_type.import_labels)
        for name in names:
            folded = fold_text(name)
            assert owners.setdefault(folded, service_type.key) == service_type.key, name


@pytest.fixture
async def staff(
    aiohttp_client: Any,
    regies_app_factory: Callable[..., Awaitable[tuple[web.Application, str]]],
    regies_web_password_hash: str,
) -> Any:
    """A node with every installed plugin and a staff member logged in to its back-office."""
    app, token = await regies_app_factory(entry_points=True)
    client = await aiohttp_client(app)
    client.regies_auth = {"Authorization": f"Bearer {token}"}
    await add_account(app, regies_web_password_hash, "marie", "staff")
    assert (await log_in(client)).status == 303
    return client


async def test_import_files_rows_by_their_french_wording(staff: Any) -> None:
    rows = [f"{label} n°{n};{label};01/02/2025;76276" for n, (label, _key) in enumerate(SPREADSHEET_LABELS)]
    content = "\n".join(["Titre;Type service;Date début;Commune", *rows]).encode("utf-8")

    form = FormData()
    form.add_field("_csrf", csrf_of(await (await staff.get("/admin/import")).text()))
    form.add_field("file", content, filename="activites-2025.csv")
    response = await staff.post("/admin/import", data=form)
    preview = html.unescape(await response.text())
    assert response.status == 200, preview
    assert f"{len(SPREADSHEET_LABELS)} lignes peuvent être importées" in preview
    documents = re.search(r'name="documents" value="([^"]*)"', await response.text())
    assert documents is not None
    confirmed = await staff.post(
        "/admin/import/confirm",
        data={"_csrf": csrf_of(preview), "documents": html.unescape(documents[1])},
        allow_redirects=False,
    )
    assert confirmed.status == 303

    imported = {activity["title"]: activity for activity in await _activities(staff)}
    for n, (label, key) in enumerate(SPREADSHEET_LABELS):
        assert imported[f"{label} n°{n}"]["service_type"] == key, label


def test_the_plugins_guide_lists_every_builtin_service_type_as_registered() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = guide.split("## Built-in service types", 1)[1]
    row = re.compile(r"^\| `(\w+)` \| [^|]+ \| `(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]*) \|$", re.MULTILINE)
    documented = {
        key: (
            plugin,
            label.strip(),
            re.findall(r"`(\w+)`", indicators),
            [n.strip() for n in others.split(",") if n.strip()],
        )
        for plugin, key, label, indicators, others in row.findall(section)
    }
    registry = build_plugins().registry
    builtin = {key for key in registry.service_types if registry.owner("service type", key) in PLUGINS}
    assert set(documented) == builtin
    for key, (plugin, label, indicators, others) in documented.items():
        service_type = registry.service_types[key]
        assert (plugin, label) == (registry.owner("service type", key), service_type.label_fr), key
        assert (indicators, others) == (list(service_type.indicators), list(service_type.import_labels)), key


# --- indicators ----------------------------------------------------------------------------------------------

# A second, smaller activity of each type in 2025, next to SAMPLES' one (some fields left out on purpose).
SECOND_DETAILS: dict[str, dict[str, Any]] = {
    "outdoor_cleaning": {"surface_m2": 3_500.5, "illegal_dumps_removed": 7},
    "bin_handling": {"bins": 60, "bin_washes": 240},
    "building_refurbishment": {"housing_units": 4, "work_hours": 350.5},
    "paths_natural_areas": {"paths_km": 15.5, "natural_areas_ha": 2.25},
    "digital_inclusion": {"people_helped": 70, "procedures_completed": 50},
    "neighbourhood_events": {"events": 2, "participants": 200},
    "access_to_rights": {"people_helped": 40, "letters_written": 60, "files_completed": 15},
    "citizenship_awareness": {"actions": 4, "people_reached": 100},
    "bike_school": {"learners": 8, "learners_autonomous": 8},
    "solidarity_vehicle_rental": {"rentals": 90, "bikes_lent": 80, "people_served": 10},
}
# SAMPLES' figure + SECOND_DETAILS' figure, worked out by hand; the 2023 activities do not count.
EXPECTED_2026: dict[str, float] = {
    "outdoor_surface_cleaned_m2": 42_000 + 3_500.5,
    "illegal_dumps_removed": 118 + 7,
    "bins_handled": 640 + 60,
    "bin_washes": 2_560 + 240,
    "housing_units_refurbished": 36 + 4,
    "refurbishment_hours": 9_800 + 350.5,
    "paths_km_maintained": 124.5 + 15.5,
    "natural_areas_ha_maintained": 38 + 2.25,
    "digital_people_helped": 430 + 70,
    "online_procedures_completed": 1_150 + 50,
    "digital_workshop_participants": 390,
    "neighbourhood_events_held": 18 + 2,
    "neighbourhood_event_participants": 2_300 + 200,
    "rights_people_helped": 310 + 40,
    "rights_letters_written": 540 + 60,
    "rights_files_completed": 260 + 15,
    "citizenship_actions": 26 + 4,
    "citizenship_people_reached": 1_400 + 100,
    "bike_school_learners": 32 + 8,
    "bike_school_autonomous": 24 + 8,
    "vehicle_rentals": 310 + 90,
    "bikes_lent": 120 + 80,
    "vehicle_rental_people": 190 + 10,
}


async def test_report_form_sums_the_new_indicators_over_the_period(client: Any) -> None:
    for key in NEW_TYPES:
        for body in (
            _activity(key, SAMPLES[key][0], "2025-01-05"),
            _activity(key, SECOND_DETAILS[key], "2024-09-01", "2025-06-30"),  # overlaps 2025: counted
            _activity(key, SAMPLES[key][0], "2023-01-01", "2023-12-31"),  # before 2025: not counted
        ):
            response = await client.post("/api/v1/activities", json=body, headers=client.regies_auth)
            assert response.status == 201, await response.text()
    form = await (await client.get("/api/v1/report-form?period=2025", headers=client.regies_auth)).json()
    values = {item["key"]: item["value"] for item in form["indicators"]}
    new_indicators = {item["key"] for item in form["indicators"] if item["service_type"] in NEW_TYPES}
    assert new_indicators == set(EXPECTED_2026)
    assert {key: values[key] for key in EXPECTED_2026} == pytest.approx(EXPECTED_2026)


# What each régie of the hub test runs in 2025: Paris (region 11) and Lyon (region 84).
HUB_ACTIVITIES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "rq-paris": [
        ("access_to_rights", {"people_helped": 310, "letters_written": 540}),
        ("neighbourhood_events", {"events": 18, "participants": 2_300}),
        ("bin_handling", {"bins": 640}),
    ],
    "rq-lyon": [
        ("access_to_rights", {"people_helped": 40, "letters_written": 60}),
        ("digital_inclusion", {"people_helped": 520, "procedures_completed": 1_340}),
        ("bike_school", {"learners": 28, "learners_autonomous": 21}),
    ],
}


async def _report_from_form(node: Node) -> None:
    """The régie files its 2025 report with the values its report form computed from its activities."""
    status, form = await node.get("/api/v1/report-form?period=2025", headers=node.auth)
    assert status == 200
    computed = {item["key"]: item["value"] for item in form["indicators"] if item["value"] is not None}
    await node.create(
        "reports", {"period": {"type": "year", "year": 2025}, "indicators": computed, "state": "submitted"}
    )
    assert await sender.push_all(node.context) == {"target:hub": 1}


async def test_national_tables_file_the_new_types_under_their_field_of_action(network: Network) -> None:
    await _approve_all(network)
    for node_id, activities in HUB_ACTIVITIES.items():
        node = network.nodes[node_id]
        for key, details in activities:
            await node.create("activities", _activity(key, details, "2025-02-01"))
        await _report_from_form(node)

    status, table = await network.hub_get("/tables/activities?period=2025")
    assert status == 200
    by_type = {
        (row["area"], row["category"], row["service_type"]): row["activities"]
        for row in table["rows"]
        if row["area"] and row["category"]
    }
    assert by_type == {
        ("11", "mediation", "access_to_rights"): 1,
        ("11", "mediation", "neighbourhood_events"): 1,
        ("11", "mediation", None): 2,
        ("11", "urban_management", "bin_handling"): 1,
        ("11", "urban_management", None): 1,
        ("84", "mediation", "access_to_rights"): 1,
        ("84", "mediation", None): 1,
        ("84", "new_services", "digital_inclusion"): 1,
        ("84", "new_services", None): 1,
        ("84", "transport", "bike_school"): 1,
        ("84", "transport", None): 1,
    }

    status, indicators = await network.hub_get("/tables/indicators?period=2025")
    national = {
        row["indicator"]: (row["category"], row["service_type"], row["total"], row["reports"])
        for row in indicators["rows"]
        if row["indicator"] and row["area"] is None
    }
    assert national["rights_people_helped"] == ("mediation", "access_to_rights", 310 + 40, 2)
    assert national["rights_letters_written"] == ("mediation", "access_to_rights", 540 + 60, 2)
    assert national["neighbourhood_event_participants"] == ("mediation", "neighbourhood_events", 2_300, 1)
    assert national["bins_handled"] == ("urban_management", "bin_handling", 640, 1)
    assert national["online_procedures_completed"] == ("new_services", "digital_inclusion", 1_340, 1)
    assert national["bike_school_autonomous"] == ("transport", "bike_school", 21, 1)


# --- demo data ---------------------------------------------------------------------------------------------


async def test_every_demo_activity_is_accepted_by_the_api(client: Any) -> None:
    posted = 0
    for sample in REGIES:
        for activity in sample.activities:
            response = await client.post("/api/v1/activities", json=activity, headers=client.regies_auth)
            assert response.status == 201, (sample.node_id, activity["title"], await response.text())
            posted += 1
    demo_types = {activity["service_type"] for sample in REGIES for activity in sample.activities}
    assert demo_types >= set(NEW_TYPES)
    assert len(await _activities(client)) == posted
