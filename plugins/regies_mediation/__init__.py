"""Mediation and awareness service types of a régie: social mediation, night correspondents, neighbourhood events,
access to rights and awareness campaigns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import Category, DistinctChoices, Indicator, ServiceType, ServiceTypeHooks

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


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="social_mediation",
        category=Category.MEDIATION,
        label_fr="Médiation sociale",
        label_en="Social mediation",
        open_data_terms={
            "datainclusion.thematiques": (
                "remobilisation--lien-social",
                "difficultes-administratives-ou-juridiques--accompagnement-aux-demarches-administratives",
            ),
            "datainclusion.type": ("accompagnement",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=SocialMediationDetails,
        indicators=("mediation_interventions", "conflicts_resolved", "mediation_people_met"),
        description="Médiateurs présents dans l'espace public et les immeubles pour prévenir et apaiser les conflits.",
    ),
    ServiceType(
        key="night_correspondents",
        category=Category.MEDIATION,
        label_fr="Correspondants de nuit",
        label_en="Night correspondents",
        open_data_terms={
            "datainclusion.thematiques": ("remobilisation--lien-social",),
            "datainclusion.type": ("accompagnement",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=NightCorrespondentsDetails,
        indicators=("night_rounds", "night_reports_to_landlords"),
        description="Tournées de soirée pour la tranquillité, l'écoute des habitants et le signalement aux bailleurs.",
    ),
    ServiceType(
        key="neighbourhood_events",
        category=Category.MEDIATION,
        label_fr="Animations de quartier et lien social",
        label_en="Neighbourhood events and social ties",
        open_data_terms={
            "datainclusion.thematiques": (
                "remobilisation--lien-social",
                "remobilisation--activites-sportives-et-culturelles",
            ),
            "datainclusion.type": ("atelier",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=NeighbourhoodEventsDetails,
        indicators=("neighbourhood_events_held", "neighbourhood_event_participants"),
        description="Fêtes de quartier, repas partagés, sorties et jeux qui font se rencontrer les habitants.",
        import_labels=(
            "Fête de quartier",
            "Fêtes de quartier",
            "Lien social",
            "Animation de quartier",
            "Animations de quartier",
            "Animation sociale",
            "Repas de quartier",
            "Repas partagés",
            "Vie de quartier",
        ),
    ),
    ServiceType(
        key="access_to_rights",
        category=Category.MEDIATION,
        label_fr="Accès aux droits et écrivain public",
        label_en="Access to rights and public letter writer",
        open_data_terms={
            "datainclusion.thematiques": (
                "difficultes-administratives-ou-juridiques--accompagnement-aux-demarches-administratives",
                "difficultes-administratives-ou-juridiques--accompagnement-pour-lacces-aux-droits",
            ),
            "datainclusion.type": ("accompagnement",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=AccessToRightsDetails,
        indicators=("rights_people_helped", "rights_letters_written", "rights_files_completed"),
        description="Permanences d'écrivain public et d'accès aux droits : courriers, dossiers, orientation.",
        import_labels=(
            "Écrivain public",
            "Écrivains publics",
            "Accès aux droits",
            "Accès au droit",
            "Permanence d'accès aux droits",
            "Aide administrative",
            "Aide aux démarches administratives",
        ),
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
        open_data_terms={
            "datainclusion.thematiques": (
                "difficultes-financieres--prevenir-une-degradation-de-la-situation-financiere",
            ),
            "datainclusion.type": ("information",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=EnergySavingCampaignDetails,
        indicators=("energy_saving_households", "energy_home_visits", "energy_kwh_saved"),
        description="Conseils et visites à domicile pour réduire les consommations d'énergie et d'eau.",
    ),
    ServiceType(
        key="citizenship_awareness",
        category=Category.AWARENESS,
        label_fr="Sensibilisation à la citoyenneté et au cadre de vie",
        label_en="Citizenship and living environment awareness",
        open_data_terms={
            "datainclusion.thematiques": ("remobilisation--benevolat-action-citoyenne",),
            "datainclusion.type": ("information",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=CitizenshipAwarenessDetails,
        indicators=("citizenship_actions", "citizenship_people_reached"),
        description="Actions sur la propreté, le respect du voisinage et du cadre de vie, avec les habitants et "
        "les écoles.",
        import_labels=(
            "Sensibilisation à la citoyenneté",
            "Sensibilisation au cadre de vie",
            "Citoyenneté",
            "Éducation à la citoyenneté",
            "Cadre de vie",
            "Respect du cadre de vie",
            "Civisme",
        ),
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
    Indicator(
        key="neighbourhood_events_held",
        label_fr="Animations de quartier organisées",
        label_en="Neighbourhood events held",
        description="Nombre d'animations et d'événements de lien social organisés.",
        source="computed",
        service_type="neighbourhood_events",
        details_field="events",
    ),
    Indicator(
        key="neighbourhood_event_participants",
        label_fr="Participants aux animations de quartier",
        label_en="Neighbourhood event participants",
        description="Nombre cumulé de participants aux animations de quartier.",
        source="computed",
        service_type="neighbourhood_events",
        details_field="participants",
    ),
    Indicator(
        key="rights_people_helped",
        label_fr="Personnes accompagnées dans l'accès aux droits",
        label_en="People helped to access their rights",
        description="Nombre de personnes reçues par l'écrivain public ou les permanences d'accès aux droits.",
        source="computed",
        service_type="access_to_rights",
        details_field="people_helped",
    ),
    Indicator(
        key="rights_letters_written",
        label_fr="Courriers rédigés par l'écrivain public",
        label_en="Letters written for inhabitants",
        description="Nombre de courriers rédigés avec ou pour les habitants.",
        source="computed",
        service_type="access_to_rights",
        details_field="letters_written",
    ),
    Indicator(
        key="rights_files_completed",
        label_fr="Dossiers d'accès aux droits constitués",
        label_en="Benefit applications completed",
        description="Nombre de dossiers de demande de droits constitués avec les habitants.",
        source="computed",
        service_type="access_to_rights",
        details_field="files_completed",
    ),
    Indicator(
        key="citizenship_actions",
        label_fr="Actions de sensibilisation à la citoyenneté",
        label_en="Citizenship awareness actions",
        description="Nombre d'actions de sensibilisation à la citoyenneté et au cadre de vie.",
        source="computed",
        service_type="citizenship_awareness",
        details_field="actions",
    ),
    Indicator(
        key="citizenship_people_reached",
        label_fr="Personnes sensibilisées à la citoyenneté",
        label_en="People reached on citizenship",
        description="Nombre de personnes touchées par les actions de sensibilisation à la citoyenneté et au "
        "cadre de vie.",
        source="computed",
        service_type="citizenship_awareness",
        details_field="people_reached",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
