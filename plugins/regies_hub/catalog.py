"""The hub's open-data catalogue at /catalog.jsonld: DCAT-AP in JSON-LD, listing the datasets a coordinator opened
(`[plugins.hub.open_data]`) with their licence, temporal coverage, update frequency and CSV, XLSX and JSON
distributions, so that open-data portals' DCAT harvesters can read it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from federation.plugin_api import appkeys, parse_period_key, period_bounds
from federation.plugin_api.storage import records

from .settings import HubSettings, OpenDataSettings

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
MEDIA_TYPE = "application/ld+json"
_EU = "http://publications.europa.eu/resource/authority/"
# Distribution formats: the hub's table format, its EU file type and its IANA media type.
DISTRIBUTIONS = (
    ("csv", "CSV", "text/csv"),
    ("xlsx", "XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("json", "JSON", "application/json"),
)
# How often a dataset changes: the directory whenever a member joins or leaves; a period's table as its reports
# are accepted, a new dataset each period.
FREQUENCY = {"year": "ANNUAL", "quarter": "QUARTERLY", "survey": "IRREG"}
DATASETS = {
    "activities": (
        "Activités des régies par champ d'action et type de service",
        "Nombre d'activités menées pendant la période et nombre de régies qui les mènent, pour la France entière et "
        "par région, par champ d'action et type de service.",
        ["activités", "quartiers prioritaires", "économie sociale et solidaire"],
    ),
    "indicators": (
        "Indicateurs des régies",
        "Indicateurs des rapports de période acceptés par le réseau au niveau national (emploi en insertion, "
        "démocratie locale, activités…), agrégés selon la règle de chaque indicateur, pour la France entière et "
        "par région.",
        ["indicateurs", "insertion par l'activité économique", "quartiers prioritaires"],
    ),
}
_SMALL_CELLS = (
    " Secret statistique : une case à laquelle moins de {n} régies contribuent est laissée vide, ainsi qu'une case "
    "voisine lorsque le total permettrait de la retrouver."
)


def _text(value: str) -> dict[str, str]:
    return {"@value": value, "@language": "fr"}


def _date(value: str) -> dict[str, str]:
    return {"@value": value, "@type": "xsd:date"}


def _distributions(base: str, address: str, query: dict[str, str], licence: str) -> list[dict[str, Any]]:
    found = []
    for table_format, file_type, media_type in DISTRIBUTIONS:
        url = f"{base}{address}?{urlencode({**query, 'format': table_format})}"
        found.append(
            {
                "@id": url,
                "@type": "dcat:Distribution",
                "dct:title": _text(f"Fichier {file_type}"),
                "dcat:accessURL": {"@id": url},
                "dcat:downloadURL": {"@id": url},
                "dcat:mediaType": {"@id": f"http://www.iana.org/assignments/media-types/{media_type}"},
                "dct:format": {"@id": f"{_EU}file-type/{file_type}"},
                "dct:license": {"@id": licence},
            }
        )
    return found


def _dataset(
    base: str,
    key: str,
    title: str,
    description: str,
    keywords: list[str],
    publisher: dict[str, Any],
    open_data: OpenDataSettings,
    period_key: str | None,
) -> dict[str, Any]:
    address = f"/plugins/hub/opendata/{key}"
    query = {"period": period_key} if period_key else {}
    identifier = f"{base}{address}" + (f"?{urlencode(query)}" if query else "")
    dataset: dict[str, Any] = {
        "@id": identifier,
        "@type": "dcat:Dataset",
        "dct:identifier": identifier,
        "dct:title": _text(title),
        "dct:description": _text(description),
        "dcat:keyword": [_text(word) for word in keywords],
        "dct:publisher": publisher,
        "dct:license": {"@id": open_data.licence},
        "dct:language": {"@id": f"{_EU}language/FRA"},
        "dct:spatial": {"@id": f"{_EU}country/FRA"},
        "dcat:distribution": _distributions(base, address, query, open_data.licence),
    }
    if period_key is None:
        dataset["dct:accrualPeriodicity"] = {"@id": f"{_EU}frequency/CONT"}
    else:
        period = parse_period_key(period_key)
        start, end = period_bounds(period)
        dataset["dct:temporal"] = {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": _date(start.isoformat()),
            "dcat:endDate": _date(end.isoformat()),
        }
        dataset["dct:accrualPeriodicity"] = {"@id": f"{_EU}frequency/{FREQUENCY[str(period.type)]}"}
    return dataset


async def _profile(request: web.Request) -> dict[str, Any]:
    app = request.config_dict
    async with app[appkeys.ENGINE].connect() as connection:
        body = await connection.scalar(
            select(records.c.body).where(
                records.c.kind == "node", records.c.origin == app[appkeys.STORE].node_id, records.c.deleted.is_(False)
            )
        )
    profile: dict[str, Any] = json.loads(body) if body else {}
    return profile


def catalogue(base: str, profile: dict[str, Any], open_data: OpenDataSettings) -> dict[str, Any]:
    """The DCAT-AP catalogue of what `open_data` opens, published by the hub `profile` describes."""
    name = profile.get("name") or "Réseau des Régies de Quartier et de Territoire"
    publisher: dict[str, Any] = {"@id": f"{base}/#publisher", "@type": "foaf:Organization", "foaf:name": name}
    contact = (profile.get("contact") or {}).get("email")
    datasets = []
    if "directory" in open_data.datasets:
        datasets.append(
            _dataset(
                base,
                "directory",
                "Annuaire des régies du réseau",
                "Les régies membres du réseau : nom, type, label accordé par le réseau, département, région et "
                "adresse de leur nœud.",
                ["régies de quartier", "régies de territoire", "annuaire"],
                publisher,
                open_data,
                None,
            )
        )
    for key in ("activities", "indicators"):
        if key in open_data.datasets:
            title, description, keywords = DATASETS[key]
            for period_key in open_data.periods:
                datasets.append(
                    _dataset(
                        base,
                        key,
                        f"{title} – {period_key}",
                        description + _SMALL_CELLS.format(n=open_data.min_regies),
                        keywords,
                        publisher,
                        open_data,
                        period_key,
                    )
                )
    for dataset in datasets:
        if contact:
            dataset["dcat:contactPoint"] = {
                "@type": "vcard:Organization",
                "vcard:fn": name,
                "vcard:hasEmail": {"@id": f"mailto:{contact}"},
            }
    return {
        "@context": CONTEXT,
        "@id": f"{base}/catalog.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": _text(f"Données ouvertes – {name}"),
        "dct:description": _text(
            "Les jeux de données que le réseau des Régies de Quartier et de Territoire ouvre à tous : l'annuaire des "
            "régies et les tableaux nationaux par période." + _SMALL_CELLS.format(n=open_data.min_regies)
        ),
        "dct:publisher": publisher,
        "dct:language": {"@id": f"{_EU}language/FRA"},
        "dct:license": {"@id": open_data.licence},
        "foaf:homepage": {"@id": f"{base}/"},
        "dcat:dataset": datasets,
    }


def build_routes(settings: HubSettings) -> list[web.RouteDef]:
    async def serve(request: web.Request) -> web.StreamResponse:
        base = request.config_dict[appkeys.SETTINGS].public_base_url
        document = catalogue(base, await _profile(request), settings.open_data)
        return web.Response(
            body=json.dumps(document, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": f"{MEDIA_TYPE}; charset=utf-8"},
        )

    return [web.get("", serve, allow_head=False)]


def catalog_paths() -> dict[str, Any]:
    return {
        "/catalog.jsonld": {
            "get": {
                "operationId": "openDataCatalogue",
                "summary": "The DCAT-AP catalogue of the datasets the hub opens (JSON-LD)",
                "tags": ["hub"],
                "responses": {
                    "200": {
                        "description": "A dcat:Catalog; empty until `[plugins.hub.open_data]` opens datasets.",
                        "content": {MEDIA_TYPE: {"schema": {"type": "object", "required": ["@context", "@type"]}}},
                    }
                },
            }
        }
    }
