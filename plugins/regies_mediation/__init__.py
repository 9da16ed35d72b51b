"""Mediation and awareness service types of a régie: social mediation, night correspondents and campaigns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from federation.plugins import Indicator, ServiceType, ServiceTypeHooks
from federation.schema.types import Category

__version__ = "0.1.0"


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


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="social_mediation",
        category=Category.MEDIATION,
        label_fr="Médiation sociale",
        label_en="Social mediation",
        details_model=SocialMediationDetails,
        indicators=("mediation_interventions", "conflicts_resolved", "mediation_people_met"),
        description="Médiateurs présents dans l'espace public et les immeubles pour prévenir et apaiser les conflits.",
    ),
    ServiceType(
        key="night_correspondents",
        category=Category.MEDIATION,
        label_fr="Correspondants de nuit",
        label_en="Night correspondents",
        details_model=NightCorrespondentsDetails,
        indicators=("night_rounds", "night_reports_to_landlords"),
        description="Tournées de soirée pour la tranquillité, l'écoute des habitants et le signalement aux bailleurs.",
    ),
    ServiceType(
        key="waste_sorting_campaign",
        category=Category.AWARENESS,
        label_fr="Sensibilisation au tri des déchets",
        label_en="Waste sorting campaign",
        details_model=WasteSortingCampaignDetails,
        indicators=("waste_sorting_households",),
        description="Porte-à-porte, stands et animations pour améliorer le tri des déchets ménagers.",
    ),
    ServiceType(
        key="energy_saving_campaign",
        category=Category.AWARENESS,
        label_fr="Sensibilisation aux économies d'énergie",
        label_en="Energy saving campaign",
        details_model=EnergySavingCampaignDetails,
        indicators=("energy_saving_households", "energy_home_visits", "energy_kwh_saved"),
        description="Conseils et visites à domicile pour réduire les consommations d'énergie et d'eau.",
    ),
)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="mediation_interventions",
        label_fr="Interventions de médiation",
        label_en="Mediation interventions",
        description="Nombre d'interventions de médiation sociale.",
        source="computed",
        service_type="social_mediation",
        details_field="interventions",
    ),
    Indicator(
        key="conflicts_resolved",
        label_fr="Conflits résolus",
        label_en="Conflicts resolved",
        description="Nombre de conflits de voisinage apaisés ou résolus par la médiation.",
        source="computed",
        service_type="social_mediation",
        details_field="conflicts_resolved",
    ),
    Indicator(
        key="mediation_people_met",
        label_fr="Personnes rencontrées en médiation",
        label_en="People met by mediators",
        description="Nombre de personnes rencontrées par les médiateurs.",
        source="computed",
        service_type="social_mediation",
        details_field="people_met",
    ),
    Indicator(
        key="night_rounds",
        label_fr="Tournées des correspondants de nuit",
        label_en="Night correspondent rounds",
        description="Nombre de tournées de soirée des correspondants de nuit.",
        source="computed",
        service_type="night_correspondents",
        details_field="evening_rounds",
    ),
    Indicator(
        key="night_reports_to_landlords",
        label_fr="Signalements de nuit aux bailleurs",
        label_en="Night reports to landlords",
        description="Nombre de dysfonctionnements signalés aux bailleurs par les correspondants de nuit.",
        source="computed",
        service_type="night_correspondents",
        details_field="reports_to_landlords",
    ),
    Indicator(
        key="waste_sorting_households",
        label_fr="Foyers sensibilisés au tri",
        label_en="Households reached on waste sorting",
        description="Nombre de foyers touchés par les campagnes de tri des déchets.",
        source="computed",
        service_type="waste_sorting_campaign",
        details_field="households_reached",
    ),
    Indicator(
        key="energy_saving_households",
        label_fr="Foyers sensibilisés aux économies d'énergie",
        label_en="Households reached on energy saving",
        description="Nombre de foyers touchés par les campagnes d'économies d'énergie.",
        source="computed",
        service_type="energy_saving_campaign",
        details_field="households_reached",
    ),
    Indicator(
        key="energy_home_visits",
        label_fr="Visites à domicile énergie",
        label_en="Energy home visits",
        description="Nombre de visites à domicile pour les économies d'énergie.",
        source="computed",
        service_type="energy_saving_campaign",
        details_field="home_visits",
    ),
    Indicator(
        key="energy_kwh_saved",
        label_fr="Économies d'énergie estimées",
        label_en="Estimated energy saved",
        unit="kWh",
        description="Économies d'énergie estimées des foyers accompagnés, en kilowattheures.",
        source="computed",
        service_type="energy_saving_campaign",
        details_field="estimated_kwh_saved",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
