"""Sample régies for `make demo`: profiles, activities, shared resources and a period report for each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RegieSample:
    """One régie of the demo: its profile, what it does and shares, and its 2025 report."""

    node_id: str
    profile: dict[str, Any]
    activities: tuple[dict[str, Any], ...]
    resources: tuple[dict[str, Any], ...]
    indicators: dict[str, float]
    report_comment: str
    submit: bool  # False: the report stays a draft, so the hub's completeness table shows it missing
    validate: bool = False  # the national coordination validates this régie's report on the hub

    @property
    def name(self) -> str:
        return str(self.profile["name"])

    @property
    def kind(self) -> str:
        return str(self.profile["kind"])


def _slots(days: Sequence[int], start: str, end: str) -> list[dict[str, Any]]:
    return [{"weekday": day, "start": start, "end": end} for day in days]


BELLEVILLE = RegieSample(
    node_id="rq-belleville",
    profile={
        "name": "Régie de quartier de Belleville",
        "kind": "quartier",
        "label_status": "labellisee",
        "siret": "73282932000074",
        "rna": "W751234567",
        "address": {"street": "12 rue des Envierges", "postal_code": "75020", "city": "Paris"},
        "commune": "75056",
        "qpv": ["QP075020"],
        "contact": {
            "person": "Accueil de la régie",
            "email": "contact@regie-belleville.example",
            "phone": "01 43 58 00 00",
        },
        "website": "https://regie-belleville.example/",
        "description": "Association d'habitants, d'élus et de bailleurs sociaux du quartier Belleville-Amandiers : "
        "gestion urbaine de proximité, médiation, services aux habitants et insertion par l'activité économique.",
    },
    activities=(
        {
            "category": "urban_management",
            "service_type": "green_spaces",
            "title": "Entretien des espaces verts de la cité des Envierges",
            "description": "Tonte, taille des haies et désherbage manuel des pieds d'immeubles, sans produit "
            "phytosanitaire, par une équipe de six salariés en insertion.",
            "start_date": "2025-01-05",
            "place": {"commune": "75056", "qpv": ["QP075020"], "address": "Rue des Envierges, 75020 Paris"},
            "partners": [{"name": "Paris Habitat", "kind": "social_landlord"}],
            "inhabitants_involved": 6,
            "details": {"surface_m2": 12000, "tasks": ["mowing", "pruning", "weeding"], "zero_pesticide": True},
        },
        {
            "category": "urban_management",
            "service_type": "common_area_cleaning",
            "title": "Nettoyage des halls et cages d'escalier rue de Belleville",
            "description": "Nettoyage trois fois par semaine des parties communes de quatorze immeubles.",
            "start_date": "2025-01-02",
            "place": {"commune": "75056", "qpv": ["QP075020"]},
            "partners": [{"name": "Paris Habitat", "kind": "social_landlord"}],
            "details": {"buildings": 14, "stairwells": 38, "frequency_per_week": 3, "surface_m2": 5200},
        },
        {
            "category": "mediation",
            "service_type": "night_correspondents",
            "title": "Correspondants de nuit Belleville-Amandiers",
            "description": "Présence en soirée, de 18 h à minuit, pour apaiser les tensions, accompagner les "
            "habitants et signaler les dysfonctionnements aux bailleurs.",
            "start_date": "2025-02-01",
            "place": {"commune": "75056", "qpv": ["QP075020"]},
            "partners": [{"name": "Ville de Paris", "kind": "local_authority"}],
            "details": {"team_size": 6, "evening_rounds": 220, "reports_to_landlords": 85},
        },
        {
            "category": "new_services",
            "service_type": "repair_workshop",
            "title": "Atelier vélo solidaire",
            "description": "Atelier d'autoréparation de vélos ouvert aux habitants le mercredi et le samedi.",
            "start_date": "2025-03-04",
            "place": {"commune": "75056", "qpv": ["QP075020"], "address": "8 rue de la Mare, 75020 Paris"},
            "inhabitants_involved": 14,
            "details": {"kind": "bike", "items_received": 310, "items_repaired": 260},
        },
        {
            "category": "employment_integration",
            "service_type": "insertion_contracts",
            "title": "Chantier d'insertion gestion urbaine de proximité",
            "description": "Contrats à durée déterminée d'insertion (CDDI) avec accompagnement socioprofessionnel.",
            "start_date": "2025-01-01",
            "place": {"commune": "75056", "qpv": ["QP075020"]},
            "partners": [{"name": "France Travail", "kind": "state"}],
            "details": {"structure": "ACI", "employees_cddi": 24, "hours_worked": 26000, "exits_to_employment": 9},
        },
        {
            "category": "awareness",
            "service_type": "waste_sorting_campaign",
            "title": "Sensibilisation au tri des déchets en pied d'immeuble",
            "description": "Stands et porte-à-porte avec les ambassadeurs du tri.",
            "start_date": "2025-04-13",
            "end_date": "2025-06-30",
            "status": "planned",
            "place": {"commune": "75056", "qpv": ["QP075020"]},
            "details": {"households_reached": 900, "events": 12},
        },
        {
            "category": "mediation",
            "service_type": "neighbourhood_events",
            "title": "Fête de quartier et repas partagés des Amandiers",
            "description": "Fête de quartier de juin, repas partagés mensuels et sorties familiales préparés avec "
            "les habitants.",
            "start_date": "2025-01-10",
            "place": {"commune": "75056", "qpv": ["QP075020"]},
            "inhabitants_involved": 30,
            "details": {
                "events": 16,
                "participants": 1900,
                "volunteer_inhabitants": 30,
                "kinds": ["neighbourhood_party", "shared_meal", "outing"],
            },
        },
        {
            "category": "mediation",
            "service_type": "access_to_rights",
            "title": "Permanence d'écrivain public",
            "description": "Deux demi-journées par semaine : courriers, dossiers CAF et logement, orientation vers "
            "les partenaires.",
            "start_date": "2025-01-06",
            "place": {"commune": "75056", "qpv": ["QP075020"], "address": "12 rue des Envierges, 75020 Paris"},
            "details": {
                "people_helped": 260,
                "appointments": 610,
                "letters_written": 480,
                "files_completed": 190,
                "referrals": 95,
                "topics": ["housing", "family_benefits", "energy", "debt"],
            },
        },
        {
            "category": "urban_management",
            "service_type": "bin_handling",
            "title": "Sortie et lavage des bacs de la cité des Envierges",
            "description": "Sortie et rentrée des bacs les jours de collecte, lavage mensuel, entretien des "
            "locaux poubelles.",
            "start_date": "2025-01-02",
            "place": {"commune": "75056", "qpv": ["QP075020"]},
            "partners": [{"name": "Paris Habitat", "kind": "social_landlord"}],
            "details": {"bins": 320, "rounds_per_week": 3, "bin_washes": 3840, "bin_rooms": 22, "housing_units": 950},
        },
    ),
    resources=(
        {
            "kind": "room",
            "name": "Salle polyvalente des Envierges",
            "description": "Salle de 60 m² au rez-de-chaussée, avec cuisine équipée, accessible aux personnes à "
            "mobilité réduite.",
            "capacity": 40,
            "capacity_unit": "places",
            "availability": {
                "slots": _slots((1, 2, 4), "18:00", "22:00") + _slots((6,), "09:00", "18:00"),
                "note": "Sur réservation une semaine à l'avance",
            },
            "conditions": "Gratuit pour les associations du quartier ; attestation d'assurance demandée.",
            "place": {"commune": "75056", "qpv": ["QP075020"], "address": "12 rue des Envierges, 75020 Paris"},
            "borrowers": ["inhabitants", "associations", "regies"],
        },
        {
            "kind": "tool",
            "name": "Remorque et outillage d'espaces verts",
            "description": "Remorque 750 kg, taille-haies, débroussailleuse et souffleur électriques.",
            "availability": {"slots": _slots((3, 5), "08:00", "17:00")},
            "conditions": "Prêt entre régies ; caution de 300 €.",
            "place": {"commune": "75056"},
            "borrowers": ["regies"],
        },
    ),
    indicators={
        "headcount_aided": 32,
        "headcount_ordinary": 11,
        "fte_total": 34.5,
        "volunteers": 18,
        "board_members": 20,
        "board_inhabitants_share": 45,
        "budget_total": 1_450_000,
        "turnover_local_authorities": 420_000,
        "turnover_social_landlords": 610_000,
        "turnover_other": 85_000,
        "payroll": 1_020_000,
        "public_contracts": 4,
        "qpv_covered": 1,
        "inhabitants_concerned": 12_500,
    },
    report_comment="Rapport annuel 2025 adopté par le conseil d'administration.",
    submit=True,
)

DUCHERE = RegieSample(
    node_id="rq-duchere",
    profile={
        "name": "Régie de quartier de la Duchère",
        "kind": "quartier",
        "label_status": "labellisee",
        "siret": "49945447800029",
        "rna": "W691012345",
        "address": {"street": "3 place Abbé Pierre", "postal_code": "69009", "city": "Lyon"},
        "commune": "69123",
        "qpv": ["QP069006"],
        "contact": {"person": "Direction", "email": "accueil@regie-duchere.example", "phone": "04 78 35 00 00"},
        "website": "https://regie-duchere.example/",
        "description": "Régie de quartier du plateau de la Duchère (Lyon 9e) : entretien des résidences, "
        "remplacement des gardiens, laverie solidaire et formation.",
    },
    activities=(
        {
            "category": "urban_management",
            "service_type": "caretaker_replacement",
            "title": "Remplacement des gardiens d'immeuble",
            "description": "Remplacement des gardiens pendant leurs congés et absences sur les résidences du plateau.",
            "start_date": "2025-01-02",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "partners": [{"name": "Lyon Métropole Habitat", "kind": "social_landlord"}],
            "details": {"housing_units": 1200, "social_landlord": "Lyon Métropole Habitat"},
        },
        {
            "category": "urban_management",
            "service_type": "bulky_waste",
            "title": "Collecte des encombrants sur le plateau de la Duchère",
            "description": "Tournées hebdomadaires et orientation vers la ressourcerie du 9e arrondissement.",
            "start_date": "2025-01-06",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "partners": [{"name": "Métropole de Lyon", "kind": "local_authority"}],
            "details": {"collections": 96, "tonnes_collected": 140, "reuse_share_percent": 22},
        },
        {
            "category": "mediation",
            "service_type": "social_mediation",
            "title": "Médiation sociale de proximité",
            "description": "Médiateurs présents dans les allées et les commerces du plateau, en lien avec les "
            "centres sociaux.",
            "start_date": "2025-01-15",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "details": {"interventions": 420, "conflicts_resolved": 65, "people_met": 1800},
        },
        {
            "category": "new_services",
            "service_type": "laundry_ironing",
            "title": "Laverie solidaire de la Sauvegarde",
            "description": "Lavage et repassage à tarif solidaire, tenu par des salariés en parcours d'insertion.",
            "start_date": "2025-02-02",
            "place": {"commune": "69123", "qpv": ["QP069006"], "address": "Avenue Rosa Parks, 69009 Lyon"},
            "details": {"kilos_processed": 8200, "customers": 310},
        },
        {
            "category": "training",
            "service_type": "training_sessions",
            "title": "Formation agent de propreté et d'hygiène",
            "description": "Parcours qualifiant pour les salariés en insertion, en partenariat avec un organisme "
            "de formation agréé.",
            "start_date": "2025-03-02",
            "end_date": "2025-11-27",
            "place": {"commune": "69123"},
            "details": {
                "sessions": 8,
                "trainees": 36,
                "hours": 420,
                "certificates_obtained": 29,
                "certificate": "Titre professionnel Agent de propreté et d'hygiène",
            },
        },
        {
            "category": "local_democracy",
            "service_type": "neighbourhood_meetings",
            "title": "Réunions de pied d'immeuble",
            "description": "Une réunion par mois et par secteur pour recueillir l'avis des habitants sur le "
            "cadre de vie.",
            "start_date": "2025-01-20",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "inhabitants_involved": 25,
            "details": {"meetings": 18, "inhabitants_attending": 350},
        },
        {
            "category": "awareness",
            "service_type": "energy_saving_campaign",
            "title": "Ambassadeurs des économies d'énergie",
            "description": "Visites à domicile et petits équipements pour réduire les factures d'eau et d'énergie.",
            "start_date": "2025-10-01",
            "status": "planned",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "details": {"households_reached": 450, "home_visits": 120, "estimated_kwh_saved": 38000},
        },
        {
            "category": "urban_management",
            "service_type": "outdoor_cleaning",
            "title": "Propreté des abords des résidences du plateau",
            "description": "Balayage, ramassage des papiers et enlèvement des dépôts sauvages cinq jours sur sept.",
            "start_date": "2025-01-02",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "partners": [{"name": "Lyon Métropole Habitat", "kind": "social_landlord"}],
            "details": {
                "surface_m2": 36000,
                "frequency_per_week": 5,
                "illegal_dumps_removed": 140,
                "waste_tonnes": 28.5,
                "tasks": ["sweeping", "litter_picking", "illegal_dumps"],
            },
        },
        {
            "category": "urban_management",
            "service_type": "building_refurbishment",
            "title": "Remise en état des logements entre deux locataires",
            "description": "Peinture, sols et petite menuiserie par l'équipe second œuvre du chantier d'insertion.",
            "start_date": "2025-01-12",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "partners": [{"name": "Lyon Métropole Habitat", "kind": "social_landlord"}],
            "details": {
                "housing_units": 48,
                "common_areas": 3,
                "surface_m2": 6100,
                "work_hours": 11500,
                "trades": ["painting", "flooring", "joinery"],
            },
        },
        {
            "category": "new_services",
            "service_type": "digital_inclusion",
            "title": "Point numérique de la Duchère",
            "description": "Aide aux démarches en ligne sur rendez-vous et ateliers d'initiation au numérique.",
            "start_date": "2025-01-05",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "details": {
                "people_helped": 520,
                "procedures_completed": 1340,
                "workshops": 40,
                "workshop_participants": 310,
                "devices_provided": 18,
                "procedures": ["family_benefits", "employment", "health_insurance", "taxes"],
            },
        },
        {
            "category": "awareness",
            "service_type": "citizenship_awareness",
            "title": "Ambassadeurs du cadre de vie",
            "description": "Balades urbaines, stands et interventions dans les écoles sur la propreté et le "
            "respect du voisinage.",
            "start_date": "2025-03-09",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "details": {
                "actions": 22,
                "people_reached": 1250,
                "school_sessions": 9,
                "themes": ["cleanliness", "neighbourliness", "living_environment"],
            },
        },
        {
            "category": "transport",
            "service_type": "bike_school",
            "title": "Vélo-école du plateau",
            "description": "Apprentissage du vélo pour adultes, puis accompagnement sur le trajet domicile-travail.",
            "start_date": "2025-04-01",
            "end_date": "2025-10-31",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "details": {
                "learners": 28,
                "sessions": 120,
                "lesson_hours": 360,
                "learners_autonomous": 21,
                "bikes_lent_to_learners": 10,
            },
        },
    ),
    resources=(
        {
            "kind": "vehicle",
            "name": "Utilitaire 12 m³ avec hayon",
            "description": "Fourgon pour les déménagements solidaires et le transport des encombrants.",
            "capacity": 3,
            "capacity_unit": "places",
            "availability": {"slots": _slots((2, 4), "08:00", "18:00"), "note": "Conducteur de la régie fourni"},
            "conditions": "0,40 € par kilomètre ; permis B depuis trois ans.",
            "place": {"commune": "69123"},
            "borrowers": ["regies", "associations"],
        },
        {
            "kind": "room",
            "name": "Salle de formation du Plateau",
            "description": "Salle équipée de 12 postes informatiques et d'un vidéoprojecteur.",
            "capacity": 14,
            "capacity_unit": "places",
            "availability": {"slots": _slots((1, 2, 3, 4, 5), "09:00", "17:00")},
            "conditions": "Gratuit pour les régies du réseau.",
            "place": {"commune": "69123", "qpv": ["QP069006"]},
            "borrowers": ["regies", "associations", "local_authorities"],
        },
    ),
    indicators={
        "headcount_aided": 41,
        "headcount_ordinary": 14,
        "fte_total": 43.2,
        "volunteers": 22,
        "board_members": 8,
        "board_inhabitants_share": 50,
        "budget_total": 1_980_000,
        "turnover_local_authorities": 530_000,
        "turnover_social_landlords": 890_000,
        "turnover_other": 120_000,
        "payroll": 1_390_000,
        "public_contracts": 6,
        "adapted_contracts_share": 35,
        "qpv_covered": 1,
        "inhabitants_concerned": 11_000,
    },
    report_comment="Données issues des comptes 2025 certifiés.",
    submit=True,
    validate=True,
)

PAYS_DE_BRAY = RegieSample(
    node_id="rt-pays-de-bray",
    profile={
        "name": "Régie de territoire du Pays de Bray",
        "kind": "territoire",
        "label_status": "en_projet",
        "siret": "88312045300013",
        "rna": "W763001234",
        "address": {"street": "5 rue de la Gare", "postal_code": "76440", "city": "Forges-les-Eaux"},
        "commune": "76276",
        "contact": {"person": "Coordination", "email": "contact@regie-paysdebray.example", "phone": "02 35 90 00 00"},
        "description": "Régie de territoire rurale : mobilité solidaire, entretien des espaces naturels et "
        "jardins partagés dans les bourgs du Pays de Bray.",
    },
    activities=(
        {
            "category": "transport",
            "service_type": "social_driving_school",
            "title": "Auto-école sociale du Pays de Bray",
            "description": "Apprentissage du code et de la conduite à tarif adapté pour les personnes sans permis "
            "en recherche d'emploi.",
            "start_date": "2025-01-05",
            "place": {"commune": "76276"},
            "partners": [{"name": "Département de la Seine-Maritime", "kind": "local_authority"}],
            "details": {"learners": 42, "lesson_hours": 1350, "code_passed": 30, "licences_obtained": 21},
        },
        {
            "category": "transport",
            "service_type": "collective_transport",
            "title": "Transport solidaire à la demande",
            "description": "Navettes vers les gares, les marchés et les rendez-vous médicaux pour les habitants "
            "des villages non desservis.",
            "start_date": "2025-01-02",
            "place": {"commune": "76276"},
            "details": {"trips": 1800, "passengers": 260, "vehicles": 3},
        },
        {
            "category": "transport",
            "service_type": "mobility_information_point",
            "title": "Plateforme mobilité : conseil en mobilité",
            "description": "Diagnostic mobilité et orientation vers les aides, sur rendez-vous.",
            "start_date": "2025-02-02",
            "place": {"commune": "76312"},
            "details": {"people_advised": 380, "appointments": 610},
        },
        {
            "category": "transport",
            "service_type": "community_garage",
            "title": "Garage solidaire de Gournay-en-Bray",
            "description": "Entretien et réparation de véhicules à prix solidaire pour les adhérents.",
            "start_date": "2025-03-02",
            "place": {"commune": "76312"},
            "details": {"repairs": 240, "vehicles_serviced": 190, "members": 150},
        },
        {
            "category": "new_services",
            "service_type": "shared_gardens",
            "title": "Jardins partagés de Neufchâtel-en-Bray",
            "description": "Parcelles cultivées par les habitants, ateliers de jardinage au naturel.",
            "start_date": "2025-03-16",
            "place": {"commune": "76462"},
            "inhabitants_involved": 35,
            "details": {"plots": 28, "gardeners": 35, "surface_m2": 2400},
        },
        {
            "category": "urban_management",
            "service_type": "paths_natural_areas",
            "title": "Entretien des chemins de randonnée et des berges de l'Epte",
            "description": "Débroussaillage, fauchage et balisage des chemins communaux ; entretien des berges.",
            "start_date": "2025-03-02",
            "end_date": "2025-10-30",
            "place": {"commune": "76312"},
            "partners": [{"name": "Communauté de communes des 4 Rivières", "kind": "local_authority"}],
            "details": {
                "paths_km": 86.5,
                "natural_areas_ha": 24,
                "riverbanks_km": 7.5,
                "communes": 11,
                "tasks": ["clearing", "mowing", "waymarking", "riverbanks"],
            },
        },
        {
            "category": "transport",
            "service_type": "solidarity_vehicle_rental",
            "title": "Location solidaire de voitures, scooters et vélos",
            "description": "Véhicules loués à petit prix aux personnes qui reprennent un emploi ou une formation.",
            "start_date": "2025-01-05",
            "place": {"commune": "76276"},
            "details": {
                "fleet": 18,
                "vehicle_kinds": ["car", "scooter", "electric_bike"],
                "rentals": 240,
                "bikes_lent": 85,
                "rental_days": 5200,
                "people_served": 150,
            },
        },
    ),
    resources=(
        {
            "kind": "vehicle",
            "name": "Minibus 9 places",
            "description": "Minibus aménagé pour un fauteuil roulant.",
            "capacity": 9,
            "capacity_unit": "places",
            "availability": {
                "slots": _slots((6, 7), "08:00", "20:00"),
                "note": "En semaine, réservé au transport solidaire",
            },
            "conditions": "Permis B ; participation aux frais de carburant.",
            "place": {"commune": "76276"},
            "borrowers": ["associations", "regies", "local_authorities"],
        },
    ),
    indicators={
        "headcount_aided": 12,
        "headcount_ordinary": 5,
        "fte_total": 13.5,
        "volunteers": 9,
    },
    report_comment="Brouillon : budget à compléter après l'assemblée générale.",
    submit=False,
)

REGIES: tuple[RegieSample, ...] = (BELLEVILLE, DUCHERE, PAYS_DE_BRAY)
