"""Example documents of common schema v1, validated by the models when built and exported under schemas/."""

from __future__ import annotations

from typing import Any

EXAMPLE_ORIGIN = "rq-belleville"
_ENVELOPE = {"origin": EXAMPLE_ORIGIN, "version": 3, "updated_at": "2026-03-14T09:30:00Z", "deleted": False}

EXAMPLES: dict[str, dict[str, Any]] = {
    "node-profile": {
        **_ENVELOPE,
        "id": "0b9e4a6e-2f4e-4c1a-9a51-3f1f0d6c2a10",
        "name": "Régie de quartier de Belleville",
        "kind": "quartier",
        "label_status": "labellisee",
        "siret": "73282932000074",
        "rna": "W751234567",
        "address": {"street": "12 rue des Envierges", "postal_code": "75020", "city": "Paris"},
        "commune": "75056",
        "qpv": ["QP075020", "QN07520M"],
        "contact": {"person": "Accueil", "email": "contact@regie-belleville.example", "phone": "01 43 58 00 00"},
        "website": "https://regie-belleville.example/",
        "location": {"lat": 48.8722, "lon": 2.3889},
        "description": "Gestion urbaine, services aux habitants et insertion depuis 1992.",
    },
    "activity": {
        **_ENVELOPE,
        "id": "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
        "category": "urban_management",
        "service_type": "green_spaces",
        "title": "Entretien des espaces verts de la cité des Lilas",
        "description": "Tonte, taille et désherbage manuel avec une équipe de six salariés en insertion.",
        "status": "active",
        "start_date": "2025-01-06",
        "place": {"commune": "75056", "qpv": ["QN07520M"], "point": {"lat": 48.8722, "lon": 2.3889}},
        "partners": [{"name": "Paris Habitat", "kind": "social_landlord"}],
        "inhabitants_involved": 6,
        "details": {},
    },
    "shared-resource": {
        **_ENVELOPE,
        "id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        "kind": "vehicle",
        "name": "Minibus 9 places",
        "description": "Minibus pour sorties collectives et déménagements solidaires.",
        "status": "available",
        "capacity": 9,
        "capacity_unit": "places",
        "availability": {
            "slots": [{"weekday": 6, "start": "09:00:00", "end": "18:00:00"}],
            "note": "Sur réservation une semaine à l'avance",
        },
        "conditions": "Permis B depuis 3 ans, caution de 300 €.",
        "place": {"commune": "2A004"},
        "borrowers": ["regies", "associations"],
    },
    "period-report": {
        **_ENVELOPE,
        "id": "c0ffee00-1234-4abc-8def-0123456789ab",
        "period": {"type": "year", "year": 2025},
        "indicators": {"employees_cddi": 42, "fte_total": 31.5, "insertion_hours": 48_200},
        "comment": "",
        "state": "submitted",
        "audit": [
            {
                "at": "2026-03-14T09:30:00Z",
                "actor": "admin",
                "action": "submitted",
                "from_state": "draft",
                "to_state": "submitted",
                "changed": ["state"],
            }
        ],
    },
    "report-review": {
        **_ENVELOPE,
        "origin": "hub-national",
        "id": "7d4c1a2b-9e8f-4a6b-8c5d-3e2f1a0b9c8d",
        "version": 1,
        "report_origin": EXAMPLE_ORIGIN,
        "report_id": "c0ffee00-1234-4abc-8def-0123456789ab",
        "report_version": 3,
        "decision": "returned",
        "comment": "Les heures d'insertion semblent doublées : merci de vérifier.",
        "reviewer": "Coordination Île-de-France",
    },
}
