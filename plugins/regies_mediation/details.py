"""What an activity of each mediation and awareness service type may say in its `details`: one model per type."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import DistinctChoices


class SocialMediationDetails(BaseModel):
    """Médiation sociale de jour dans l'espace public et les immeubles."""

    model_config = ConfigDict(extra="forbid")

    interventions: int | None = Field(
        None, ge=0, title="Interventions", description="Nombre d'interventions de médiation réalisées."
    )
    conflicts_resolved: int | None = Field(
        None, ge=0, title="Conflits résolus", description="Nombre de conflits de voisinage apaisés ou résolus."
    )
    people_met: int | None = Field(
        None, ge=0, title="Personnes rencontrées", description="Nombre de personnes rencontrées par les médiateurs."
    )


class NightCorrespondentsDetails(BaseModel):
    """Correspondants de nuit : présence et médiation en soirée."""

    model_config = ConfigDict(extra="forbid")

    team_size: int | None = Field(
        None, ge=0, title="Taille de l'équipe", description="Nombre de correspondants de nuit dans l'équipe."
    )
    evening_rounds: int | None = Field(
        None, ge=0, title="Tournées de soirée", description="Nombre de tournées de soirée effectuées."
    )
    reports_to_landlords: int | None = Field(
        None,
        ge=0,
        title="Signalements aux bailleurs",
        description="Nombre de dysfonctionnements signalés aux bailleurs (éclairage, portes, dégradations…).",
    )


class WasteSortingCampaignDetails(BaseModel):
    """Campagne de sensibilisation au tri des déchets."""

    model_config = ConfigDict(extra="forbid")

    households_reached: int | None = Field(
        None, ge=0, title="Foyers sensibilisés", description="Nombre de foyers rencontrés ou informés."
    )
    events: int | None = Field(
        None, ge=0, title="Animations", description="Nombre d'animations ou de stands organisés."
    )


class EnergySavingCampaignDetails(BaseModel):
    """Campagne de sensibilisation aux économies d'énergie."""

    model_config = ConfigDict(extra="forbid")

    households_reached: int | None = Field(
        None, ge=0, title="Foyers sensibilisés", description="Nombre de foyers rencontrés ou informés."
    )
    home_visits: int | None = Field(
        None, ge=0, title="Visites à domicile", description="Nombre de visites à domicile (diagnostics, conseils)."
    )
    estimated_kwh_saved: float | None = Field(
        None,
        ge=0,
        title="Économies estimées (kWh)",
        description="Économies d'énergie estimées sur une année, en kilowattheures.",
    )


EventKind = Literal[
    "neighbourhood_party", "shared_meal", "outing", "cultural", "sport", "games", "coffee_meeting", "holiday_activities"
]
RightsTopic = Literal[
    "housing",
    "employment",
    "family_benefits",
    "health",
    "energy",
    "debt",
    "residence_permit",
    "justice",
    "retirement",
    "other",
]
CitizenshipTheme = Literal[
    "cleanliness", "neighbourliness", "living_environment", "citizenship", "biodiversity", "road_safety", "noise"
]


class NeighbourhoodEventsDetails(BaseModel):
    """Animations de quartier et lien social : fêtes de quartier, repas partagés, sorties, jeux."""

    model_config = ConfigDict(extra="forbid")

    events: int | None = Field(
        None, ge=0, le=10_000, title="Animations", description="Nombre d'animations ou d'événements organisés."
    )
    participants: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Participants",
        description="Nombre total de participants (cumulé sur les animations).",
    )
    volunteer_inhabitants: int | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Habitants bénévoles",
        description="Nombre d'habitants ayant aidé à préparer ou à animer les événements.",
    )
    kinds: DistinctChoices[EventKind] | None = Field(
        None,
        max_length=8,
        title="Types d'animation",
        description="Fête de quartier (neighbourhood_party), repas partagé (shared_meal), sortie (outing), "
        "animation culturelle (cultural), sport (sport), jeux (games), café des habitants (coffee_meeting), "
        "animations d'été ou de vacances (holiday_activities).",
    )


class AccessToRightsDetails(BaseModel):
    """Accès aux droits et écrivain public : aide aux courriers, aux dossiers et orientation vers les partenaires."""

    model_config = ConfigDict(extra="forbid")

    people_helped: int | None = Field(
        None, ge=0, le=100_000, title="Personnes accompagnées", description="Nombre de personnes différentes reçues."
    )
    appointments: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Rendez-vous",
        description="Nombre d'entretiens ou de passages aux permanences.",
    )
    letters_written: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Courriers rédigés",
        description="Nombre de courriers rédigés avec ou pour les habitants.",
    )
    files_completed: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Dossiers constitués",
        description="Nombre de dossiers de demande de droits constitués (allocations, logement, santé…).",
    )
    referrals: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Orientations",
        description="Nombre d'orientations vers un partenaire (CAF, CCAS, France Travail, point-justice…).",
    )
    topics: DistinctChoices[RightsTopic] | None = Field(
        None,
        max_length=10,
        title="Domaines",
        description="Logement (housing), emploi (employment), prestations familiales (family_benefits), santé "
        "(health), énergie (energy), dettes (debt), titre de séjour (residence_permit), justice (justice), "
        "retraite (retirement), autre (other).",
    )


class CitizenshipAwarenessDetails(BaseModel):
    """Sensibilisation à la citoyenneté et au cadre de vie : propreté, respect du voisinage, biodiversité."""

    model_config = ConfigDict(extra="forbid")

    actions: int | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Actions",
        description="Nombre d'actions menées (stands, balades urbaines, ateliers, porte-à-porte).",
    )
    people_reached: int | None = Field(
        None, ge=0, le=1_000_000, title="Personnes sensibilisées", description="Nombre de personnes touchées."
    )
    school_sessions: int | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Interventions scolaires",
        description="Nombre d'interventions dans les écoles, collèges ou centres de loisirs.",
    )
    themes: DistinctChoices[CitizenshipTheme] | None = Field(
        None,
        max_length=7,
        title="Thèmes",
        description="Propreté (cleanliness), respect du voisinage (neighbourliness), cadre de vie "
        "(living_environment), citoyenneté (citizenship), biodiversité (biodiversity), sécurité routière "
        "(road_safety), bruit (noise).",
    )
