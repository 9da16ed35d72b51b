"""Details models of mediation work and awareness campaigns: social mediation, night rounds, sorting, energy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
