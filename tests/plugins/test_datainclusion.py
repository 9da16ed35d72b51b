"""The data·inclusion v1 endpoints: what a node and the hub publish passes the official models, and what they
leave out is listed with the reason."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
from pathlib import Path
from typing import Any

import pytest
import regies_datainclusion
from data_inclusion.schema import v1
from pydantic import TypeAdapter
from regies_datainclusion.mapping import opening_hours

from federation import hookimpl
from federation.csv_safety import restore
from federation.plugins import build_plugins, node_plugins
from federation.registrations import ServiceType
from federation.registry import PluginError, Registry
from federation.schema.types import Category
from tests.plugins.regie_profile import PROFILE
from tests.plugins.test_hub import _approve_all, make_network
from tests.protocol.conftest import Node, NodeFactory

STRUCTURES = TypeAdapter(list[v1.Structure])
SERVICES = TypeAdapter(list[v1.Service])
LONG = "Préparation au code et à la conduite, en petits groupes, avec un moniteur diplômé et une conseillère."
DRIVING = {
    "category": "transport",
    "service_type": "social_driving_school",
    "title": "Auto-école sociale de Belleville",
    "description": LONG,
    "place": {"commune": "75120", "address": "3 rue Ramponeau", "point": {"lat": 48.871, "lon": 2.381}},
    "details": {},
}
INSERTION = {
    "category": "employment_integration",
    "service_type": "insertion_contracts",
    "title": "Chantier d'insertion espaces verts",
    "description": "Des contrats à durée déterminée d'insertion (CDDI) avec un accompagnement socio-professionnel.",
    "details": {"structure": "ACI"},
}
# Left out, each for its reason.
GREEN_SPACES = {"category": "urban_management", "service_type": "green_spaces", "title": "Espaces verts", "details": {}}
NO_DESCRIPTION = {"category": "new_services", "service_type": "digital_inclusion", "title": "Aide numérique"}
ENDED = {**DRIVING, "title": "Ancienne auto-école", "status": "ended"}


async def _get(node: Node, path: str, **headers: str) -> tuple[int, str, str]:
    async with node.session.get(f"{node.url}{path}", headers=headers) as response:
        return response.status, response.content_type, await response.text()


async def _regie(make_node: NodeFactory) -> tuple[Node, dict[str, str]]:
    node = await make_node("rq-saint-denis")
    async with node.session.put(f"{node.url}/api/v1/node", json=PROFILE, headers=node.auth) as response:
        assert response.status == 200, await response.text()
    ids = {}
    for name, body in (
        ("driving", DRIVING),
        ("insertion", INSERTION),
        ("green", GREEN_SPACES),
        ("empty", NO_DESCRIPTION),
        ("ended", ENDED),
    ):
        ids[name] = (await node.create("activities", body))["id"]
    return node, ids


def _csv_rows(text: str) -> list[dict[str, Any]]:
    """CSV rows as data·inclusion documents: empty cells left out, list fields split on commas, text cells that
    the export neutralised (a phone number starting with "+") restored as every export of the node documents."""
    lists = {"thematiques", "publics", "modes_accueil", "zone_eligibilite", "reseaux_porteurs"}
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        cells = {key: restore(value) for key, value in row.items() if value != ""}
        rows.append({key: value.split(",") if key in lists else value for key, value in cells.items()})
    return rows


def test_the_shipped_vocabulary_is_the_official_packages() -> None:
    shipped = json.loads((Path(regies_datainclusion.__file__).parent / "vocabulary.json").read_text("utf-8"))
    assert importlib.metadata.version("data-inclusion-schema") in shipped["source"]
    assert shipped["structure_fields"] == list(v1.Structure.model_fields)
    assert shipped["service_fields"] == list(v1.Service.model_fields)
    for name, enum in (
        ("thematiques", v1.Thematique),
        ("type", v1.TypeService),
        ("publics", v1.Public),
        ("frais", v1.Frais),
        ("modes_accueil", v1.ModeAccueil),
        ("reseaux_porteurs", v1.ReseauPorteur),
    ):
        assert shipped[name] == sorted(member.value for member in enum), name


def test_built_in_service_types_declare_their_own_terms(regies_settings: Any) -> None:
    registry = node_plugins(regies_settings).registry
    mapped = {key for key, service_type in registry.service_types.items() if service_type.terms("datainclusion")}
    # Declared by the plugins that own the service types, not by the data·inclusion plugin.
    assert registry.owner("service type", "social_driving_school") == "mobility"
    assert registry.service_types["social_driving_school"].terms("datainclusion")["thematiques"] == (
        "mobilite--preparer-un-permis",
    )
    assert {"digital_inclusion", "access_to_rights", "insertion_contracts", "laundry_ironing"} <= mapped
    assert "green_spaces" not in mapped  # upkeep for landlords: not a service people are directed to


def test_a_term_data_inclusion_does_not_know_stops_start_up() -> None:
    class Plugin:
        @hookimpl
        def register_service_types(self, registry: Registry) -> None:
            registry.add_service_type(
                ServiceType(
                    "bus_tours",
                    Category.TRANSPORT,
                    "Sorties en bus",
                    "Bus tours",
                    open_data_terms={"datainclusion.thematiques": ("mobilite--voyager-loin",)},
                )
            )

    with pytest.raises(PluginError, match=r"plugin 'tours': service type 'bus_tours'.*mobilite--voyager-loin"):
        build_plugins(extra=[("tours", Plugin()), ("datainclusion", regies_datainclusion)], load_entry_points=False)


def test_weekly_slots_read_in_the_opening_hours_syntax() -> None:
    slots = [
        {"weekday": day, "start": start, "end": end}
        for day in (1, 2, 3, 4, 5)
        for start, end in (("14:00:00", "17:30:00"), ("09:00", "12:00"))
    ] + [{"weekday": 6, "start": "09:00", "end": "12:00"}, {"weekday": 7, "start": "10:00", "end": "12:00"}]
    assert opening_hours(slots) == "Mo-Fr 09:00-12:00,14:00-17:30; Sa 09:00-12:00; Su 10:00-12:00"
    assert opening_hours([{"weekday": 3, "start": "09:00", "end": "12:00"}]) == "We 09:00-12:00"
    assert opening_hours([]) is None


async def test_a_node_publishes_its_structure_and_services_as_data_inclusion_reads_them(
    make_node: NodeFactory,
) -> None:
    node, ids = await _regie(make_node)

    status, media_type, body = await _get(node, "/api/v1/datainclusion/structures")
    assert (status, media_type) == (200, "application/json")
    (structure,) = STRUCTURES.validate_json(body, context={"ignore_warnings": False})
    document = json.loads(body)[0]
    assert set(document) <= set(v1.Structure.model_fields)  # nothing outside the schema (no `rna`, no `typologie`)
    assert structure.id == "regies--rq-saint-denis" and structure.nom == PROFILE["name"]
    assert (structure.siret, structure.code_insee, structure.code_postal) == ("73282932000074", "93066", "93200")
    assert structure.commune == "Saint-Denis" and structure.adresse == "12 rue de la République"
    assert (structure.courriel, structure.telephone) == ("accueil@regie.example", "+33148000000")
    assert (structure.longitude, structure.latitude) == (2.357, 48.936)
    assert structure.reseaux_porteurs == {v1.ReseauPorteur.ACI}  # from the insertion contracts' ACI convention
    assert str(structure.lien_source) == f"{node.url}/"

    status, _, body = await _get(node, "/api/v1/datainclusion/services")
    services = {service.nom: service for service in SERVICES.validate_json(body, context={"ignore_warnings": False})}
    assert set(services) == {DRIVING["title"], INSERTION["title"]}
    for document in json.loads(body):
        assert set(document) <= set(v1.Service.model_fields)
    driving = services[DRIVING["title"]]
    assert driving.id == f"regies--rq-saint-denis--{ids['driving']}" and driving.structure_id == structure.id
    assert driving.thematiques == {v1.Thematique.MOBILITE__PREPARER_UN_PERMIS}
    assert (driving.type, driving.frais) == (v1.TypeService.FORMATION, v1.Frais.PAYANT)
    assert v1.Public.DEMANDEURS_EMPLOI in (driving.publics or set())
    assert driving.modes_accueil == {v1.ModeAccueil.EN_PRESENTIEL}
    assert driving.zone_eligibilite == ["75120"]
    assert (driving.adresse, driving.code_postal, driving.latitude) == ("3 rue Ramponeau", "75020", 48.871)
    insertion = services[INSERTION["title"]]
    assert insertion.adresse == "12 rue de la République"  # no place of its own: the régie's address

    status, _, body = await _get(node, "/api/v1/datainclusion/excluded")
    left_out = {item["id"].rsplit("--", 1)[1]: item["reasons"] for item in json.loads(body)}
    assert set(left_out) == {ids["green"], ids["empty"], ids["ended"]}
    assert "declares no data·inclusion thematiques" in left_out[ids["green"]][0]
    assert any("has 0 characters; data·inclusion needs at least 5" in reason for reason in left_out[ids["empty"]])
    assert left_out[ids["ended"]] == ["status is 'ended': the service is not offered now"]


async def test_csv_carries_the_same_valid_documents(make_node: NodeFactory) -> None:
    node, _ids = await _regie(make_node)
    for path, model, fields in (
        ("structures", STRUCTURES, v1.Structure.model_fields),
        ("services", SERVICES, v1.Service.model_fields),
    ):
        status, media_type, as_json = await _get(node, f"/api/v1/datainclusion/{path}")
        status, media_type, text = await _get(node, f"/api/v1/datainclusion/{path}?format=csv")
        assert (status, media_type) == (200, "text/csv")
        assert next(csv.reader(io.StringIO(text))) == list(fields)
        assert model.validate_python(_csv_rows(text)) == model.validate_json(as_json)
        negotiated = await _get(node, f"/api/v1/datainclusion/{path}", Accept="text/csv")
        assert negotiated == (200, "text/csv", text)
    status, media_type, text = await _get(node, "/api/v1/datainclusion/excluded?format=csv")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 3


async def test_a_bad_query_is_a_problem(make_node: NodeFactory) -> None:
    node = await make_node("rq-a")
    status, media_type, body = await _get(node, "/api/v1/datainclusion/services?format=xml")
    assert (status, media_type) == (400, "application/problem+json")
    assert json.loads(body)["errors"][0]["pointer"] == "/format"
    assert (await _get(node, "/api/v1/datainclusion/services?page=2"))[0] == 400
    assert (await _get(node, "/api/v1/datainclusion/services"))[:2] == (200, "application/json")


async def test_the_routes_are_in_the_openapi_document(make_node: NodeFactory) -> None:
    node = await make_node("rq-a")
    status, document = await node.get("/openapi.json")
    assert status == 200
    for path in ("structures", "services", "excluded"):
        operation = document["paths"][f"/api/v1/datainclusion/{path}"]["get"]
        assert operation["parameters"][0]["schema"]["enum"] == ["json", "csv"]


async def test_the_hub_publishes_every_members_structure_and_services(
    make_node: NodeFactory, database_url: str
) -> None:
    from federation.protocol import sender

    network = await make_network(make_node, database_url, {"enabled": True})
    await _approve_all(network)
    paris, lyon = network.nodes["rq-paris"], network.nodes["rq-lyon"]
    await paris.create("activities", DRIVING)
    await lyon.create("activities", {**INSERTION, "place": {"commune": "69389"}})
    await lyon.create("activities", GREEN_SPACES)
    for node in (paris, lyon):
        assert await sender.push_all(node.context) == {"target:hub": 1}
    hub = network.hub

    status, _, body = await _get(hub, "/api/v1/datainclusion/structures")
    assert status == 200
    structures = STRUCTURES.validate_json(body)
    assert sorted(structure.id for structure in structures) == ["regies--rq-lyon", "regies--rq-paris"]
    assert {str(structure.lien_source) for structure in structures} == {f"{paris.url}/", f"{lyon.url}/"}
    status, _, body = await _get(hub, "/api/v1/datainclusion/services")
    assert status == 200
    services = SERVICES.validate_json(body)
    assert sorted((service.structure_id, service.nom) for service in services) == [
        ("regies--rq-lyon", INSERTION["title"]),
        ("regies--rq-paris", DRIVING["title"]),
    ]
    status, _, body = await _get(hub, "/api/v1/datainclusion/excluded")
    assert status == 200
    assert [(item["origin"], item["name"]) for item in json.loads(body)] == [("rq-lyon", GREEN_SPACES["title"])]
