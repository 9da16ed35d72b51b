"""The complete profile of a régie that the open-data publications' tests (HSDS, data·inclusion, feeds) send: every
field those publications map, with a phone number in international form (a cell CSV exports neutralise)."""

from __future__ import annotations

from typing import Any

PROFILE: dict[str, Any] = {
    "name": "Régie de quartier de Saint-Denis",
    "kind": "quartier",
    "siret": "73282932000074",
    "rna": "W931234567",
    "commune": "93066",
    "address": {"street": "12 rue de la République", "postal_code": "93200", "city": "Saint-Denis"},
    "contact": {"person": "Accueil", "email": "accueil@regie.example", "phone": "+33148000000"},
    "website": "https://regie.example/",
    "location": {"lat": 48.936, "lon": 2.357},
    "description": "Entretien, médiation et réunions d'habitants à Saint-Denis.",
}
