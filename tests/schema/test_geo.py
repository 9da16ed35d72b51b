"""Tests for the reference data of federation.schema.geo: regions, departments, communes, retired codes."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from federation.schema.geo import (
    DEPARTMENTS,
    REGIONS,
    Department,
    Region,
    arrondissements_of,
    commune,
    communes_with_postal_code,
    department_code_for_commune,
    department_for_commune,
    region_for_commune,
    replacement_of,
)
from federation.schema.identifiers import (
    log_retired_commune,
    normalize_insee_commune,
    qpv_department,
    qpv_errors,
    retired_commune_detail,
)
from federation.schema.types import Place

# Overseas collectivities: each its own department and "region", with the same code, as in the Etalab data.
OVERSEAS_COLLECTIVITIES = {"975", "977", "978", "984", "986", "987", "988", "989"}

# --- tables ----------------------------------------------------------------------------------------------


def test_there_are_101_departments_and_8_overseas_collectivities() -> None:
    assert len(DEPARTMENTS) == 101 + 8


def test_there_are_18_regions_and_8_overseas_collectivities() -> None:
    assert len(REGIONS) == 18 + 8


def test_department_codes() -> None:
    expected = (
        {f"{n:02d}" for n in range(1, 20)}
        | {"2A", "2B"}
        | {f"{n:02d}" for n in range(21, 96)}
        | {"971", "972", "973", "974", "976"}
        | OVERSEAS_COLLECTIVITIES
    )
    assert set(DEPARTMENTS) == expected


def test_region_codes() -> None:
    assert set(REGIONS) == {
        "01", "02", "03", "04", "06", "11", "24", "27", "28",
        "32", "44", "52", "53", "75", "76", "84", "93", "94",
    } | OVERSEAS_COLLECTIVITIES  # fmt: skip


def test_keys_match_codes() -> None:
    assert all(code == department.code for code, department in DEPARTMENTS.items())
    assert all(code == region.code for code, region in REGIONS.items())


def test_every_department_region_exists() -> None:
    for department in DEPARTMENTS.values():
        assert department.region_code in REGIONS, department


def test_every_region_has_a_department() -> None:
    used = {department.region_code for department in DEPARTMENTS.values()}
    assert used == set(REGIONS)


def test_department_count_per_region() -> None:
    counts = Counter(department.region_code for department in DEPARTMENTS.values())
    assert counts == {
        "01": 1, "02": 1, "03": 1, "04": 1, "06": 1,
        "11": 8, "24": 6, "27": 8, "28": 5, "32": 5, "44": 10, "52": 5,
        "53": 4, "75": 12, "76": 13, "84": 12, "93": 6, "94": 2,
        **{code: 1 for code in OVERSEAS_COLLECTIVITIES},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("region_code", "department_codes"),
    [
        ("11", {"75", "77", "78", "91", "92", "93", "94", "95"}),
        ("24", {"18", "28", "36", "37", "41", "45"}),
        ("27", {"21", "25", "39", "58", "70", "71", "89", "90"}),
        ("28", {"14", "27", "50", "61", "76"}),
        ("32", {"02", "59", "60", "62", "80"}),
        ("44", {"08", "10", "51", "52", "54", "55", "57", "67", "68", "88"}),
        ("52", {"44", "49", "53", "72", "85"}),
        ("53", {"22", "29", "35", "56"}),
        ("75", {"16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"}),
        ("76", {"09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"}),
        ("84", {"01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"}),
        ("93", {"04", "05", "06", "13", "83", "84"}),
        ("94", {"2A", "2B"}),
        ("01", {"971"}),
        ("02", {"972"}),
        ("03", {"973"}),
        ("04", {"974"}),
        ("06", {"976"}),
    ],
)
def test_region_membership(region_code: str, department_codes: set[str]) -> None:
    members = {code for code, department in DEPARTMENTS.items() if department.region_code == region_code}
    assert members == department_codes


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("01", "Guadeloupe"),
        ("04", "La Réunion"),
        ("06", "Mayotte"),
        ("11", "Île-de-France"),
        ("24", "Centre-Val de Loire"),
        ("27", "Bourgogne-Franche-Comté"),
        ("84", "Auvergne-Rhône-Alpes"),
        ("93", "Provence-Alpes-Côte d'Azur"),
        ("94", "Corse"),
    ],
)
def test_region_names(code: str, name: str) -> None:
    assert REGIONS[code].name == name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("01", "Ain"),
        ("2A", "Corse-du-Sud"),
        ("2B", "Haute-Corse"),
        ("21", "Côte-d'Or"),
        ("75", "Paris"),
        ("90", "Territoire de Belfort"),
        ("93", "Seine-Saint-Denis"),
        ("95", "Val-d'Oise"),
        ("974", "La Réunion"),
        ("976", "Mayotte"),
    ],
)
def test_department_names(code: str, name: str) -> None:
    assert DEPARTMENTS[code].name == name


def test_names_are_unique_and_nonempty() -> None:
    names = [department.name for department in DEPARTMENTS.values()]
    assert all(names)
    assert len(set(names)) == len(names)


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        DEPARTMENTS["99"] = Department("99", "Nowhere", "11")  # type: ignore[index]
    with pytest.raises(TypeError):
        REGIONS["99"] = Region("99", "Nowhere")  # type: ignore[index]


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        REGIONS["11"].name = "Paris region"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEPARTMENTS["75"].region_code = "94"  # type: ignore[misc]


# --- commune lookups -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insee_code", "department_code", "region_code", "region_name"),
    [
        ("2A004", "2A", "94", "Corse"),  # Ajaccio
        ("2a004", "2A", "94", "Corse"),
        ("2B033", "2B", "94", "Corse"),  # Bastia
        ("75056", "75", "11", "Île-de-France"),  # Paris
        ("93066", "93", "11", "Île-de-France"),  # Saint-Denis
        ("69123", "69", "84", "Auvergne-Rhône-Alpes"),  # Lyon
        ("13055", "13", "93", "Provence-Alpes-Côte d'Azur"),  # Marseille
        ("01053", "01", "84", "Auvergne-Rhône-Alpes"),  # Bourg-en-Bresse
        ("97105", "971", "01", "Guadeloupe"),  # Basse-Terre
        ("97209", "972", "02", "Martinique"),  # Fort-de-France
        ("97302", "973", "03", "Guyane"),  # Cayenne
        ("97411", "974", "04", "La Réunion"),  # Saint-Denis (Réunion)
        ("97611", "976", "06", "Mayotte"),  # Mamoudzou
    ],
)
def test_commune_lookups(insee_code: str, department_code: str, region_code: str, region_name: str) -> None:
    assert department_code_for_commune(insee_code) == department_code
    department = department_for_commune(insee_code)
    assert department.code == department_code
    assert department.region_code == region_code
    region = region_for_commune(insee_code)
    assert region.code == region_code
    assert region.name == region_name


@pytest.mark.parametrize(
    ("insee_code", "department_code", "region_name"),
    [
        ("97801", "978", "Saint-Martin"),
        ("97701", "977", "Saint-Barthélemy"),
        ("98735", "987", "Polynésie française"),  # Papeete
        ("98818", "988", "Nouvelle-Calédonie"),  # Nouméa
        ("97502", "975", "Saint-Pierre-et-Miquelon"),
    ],
)
def test_overseas_collectivities_are_their_own_region(insee_code: str, department_code: str, region_name: str) -> None:
    department = department_for_commune(insee_code)
    assert (department.code, department.region_code) == (department_code, department_code)
    assert region_for_commune(insee_code).name == region_name


def test_municipal_arrondissements_are_communes_of_their_city() -> None:
    eleventh = commune("75111")
    assert eleventh is not None
    assert (eleventh.name, eleventh.parent, eleventh.department_code) == ("Paris 11e Arrondissement", "75056", "75")
    assert len(arrondissements_of("75056")) == 20
    assert len(arrondissements_of("69123")) == 9
    assert len(arrondissements_of("13055")) == 16
    assert arrondissements_of("93048") == ()


def test_retired_codes_name_their_replacement() -> None:
    assert commune("01039") is None
    assert replacement_of("01039") == "01138"  # Béon merged into Culoz-Béon on 1 January 2025
    assert department_for_commune("01039").code == "01"
    assert replacement_of("01138") is None


@pytest.mark.parametrize(
    ("postal_code", "labels"),
    [
        ("93100", ["Montreuil (93048)"]),
        ("75011", ["Paris 11e Arrondissement (75111)"]),  # the arrondissement, not Paris as a whole
        ("97150", ["Saint-Martin (97801)"]),
        ("99999", []),
    ],
)
def test_communes_with_postal_code(postal_code: str, labels: list[str]) -> None:
    assert [item.label() for item in communes_with_postal_code(postal_code)] == labels


def test_reference_data_is_read_once_per_process() -> None:
    assert commune("93048") is commune("93048")
    assert DEPARTMENTS["93"] is DEPARTMENTS["93"]


@pytest.mark.parametrize(
    ("insee_code", "message"),
    [
        ("20004", "does not exist"),  # Corsica has used 2A/2B since 1976
        ("96001", "does not exist"),
        ("93999", "does not exist"),
        ("2A999", "does not exist"),
        ("97699", "does not exist"),
        ("00001", "does not exist"),
        ("7505", "does not exist"),
        ("", "does not exist"),
    ],
)
def test_invalid_commune_codes(insee_code: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        department_code_for_commune(insee_code)
    with pytest.raises(ValueError, match=message):
        department_for_commune(insee_code)
    with pytest.raises(ValueError, match=message):
        region_for_commune(insee_code)


# --- the models ------------------------------------------------------------------------------------------


def test_a_replica_with_a_retired_commune_is_accepted_with_the_replacements_department() -> None:
    place = Place.model_validate({"commune": "01039", "qpv": []})
    assert (place.commune, place.department, place.region) == ("01039", "01", "84")


@pytest.mark.parametrize("code", ["93999", "2A999", "97699", "93100"])
def test_the_models_refuse_unknown_communes(code: str) -> None:
    with pytest.raises(ValidationError, match=f"INSEE commune code {code} does not exist"):
        Place.model_validate({"commune": code})


@pytest.mark.parametrize(
    ("place", "locations"),
    [
        ({"commune": "93048", "qpv": ["QP093001", "QN09311M"]}, []),
        ({"commune": "97411", "qpv": ["QP974001", "QN97401Z"]}, []),
        ({"commune": "2A004", "qpv": ["QN02A01M"]}, []),
        ({"commune": "93048", "qpv": ["QP075001", "QP093001", "QP093001", "QP000000"]}, [0, 2, 3]),
        ({"qpv": ["QP000000", "QP075001"]}, [0]),  # no commune: only the department must exist
    ],
)
def test_qpv_codes_belong_to_the_communes_department_once(place: dict[str, Any], locations: list[int]) -> None:
    if not locations:
        Place.model_validate(place)
        return
    with pytest.raises(ValidationError) as caught:
        Place.model_validate(place)
    assert [error["loc"] for error in caught.value.errors()] == [("qpv", position) for position in locations]


def test_qpv_department_reads_characters_3_to_5() -> None:
    assert [qpv_department(code) for code in ["QP075001", "QP971002", "QN02A01M", "QP000000", "QP020001"]] == [
        "75",
        "971",
        "2A",
        None,
        None,  # "20" is no department since 1976
    ]


def test_a_retired_code_is_explained_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """What the operator reads in the log for a replica with a retired code: the code and its replacement, once per
    code and process however many records name it; a current code has nothing to explain."""
    assert retired_commune_detail("01039") == (
        "INSEE commune code 01039 was retired (merged communes); it is now Culoz-Béon (01138)"
    )
    assert retired_commune_detail("01138") is None
    assert retired_commune_detail("93999") is None  # unknown: neither current nor retired
    log_retired_commune.cache_clear()
    with caplog.at_level("WARNING", logger="federation.schema.identifiers"):
        for _ in range(3):
            assert normalize_insee_commune("01039") == "01039"
    assert [record.getMessage() for record in caplog.records] == [retired_commune_detail("01039")]


def test_a_postal_code_typed_as_a_commune_names_three_communes_at_most() -> None:
    with pytest.raises(ValueError) as refused:
        normalize_insee_commune("01300")  # the postal code of 22 communes around Belley
    named = str(refused.value).split("is the postal code of ", 1)[1]
    assert named == "Ambléon (01006) or Andert-et-Condon (01009) or Arboys en Bugey (01015)"


def test_a_qpv_code_naming_no_department_quotes_the_digits_read() -> None:
    assert qpv_errors(["QP999001", "QN00001M"], None) == [
        (0, "QPV code QP999001 names no department (999)"),
        (1, "QPV code QN00001M names no department (000)"),
    ]
