"""New services a régie offers its inhabitants: laundry and ironing, repair workshop, concierge, shared gardens and
digital inclusion."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import (
    NOT_BLANK_PATTERN,
    STRIPPED,
    Category,
    DistinctChoices,
    Indicator,
    ServiceType,
    ServiceTypeHooks,
)

__version__ = "0.1.0"

RepairKind = Literal["bike", "appliance", "electronics", "textile", "furniture"]
# Checked as sent (as the contract says), then stripped.
ServiceName = Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK_PATTERN), STRIPPED]
OnlineProcedure = Literal[
    "family_benefits",
    "employment",
    "health_insurance",
    "taxes",
    "housing",
    "retirement",
    "identity_documents",
    "energy",
    "other",
]


class LaundryIroningDetails(BaseModel):
    """Laverie et repassage solidaires."""

    model_config = ConfigDict(extra="forbid")

    kilos_processed: float | None = Field(
        None, ge=0, title="Linge traité (kg)", description="Poids de linge lavé ou repassé, en kilogrammes."
    )
    customers: int | None = Field(None, ge=0, title="Clients", description="Nombre de clients servis.")


class RepairWorkshopDetails(BaseModel):
    """Atelier de réparation ouvert aux habitants."""

    model_config = ConfigDict(extra="forbid")

    items_received: int | None = Field(
        None, ge=0, title="Objets reçus", description="Nombre d'objets apportés à l'atelier."
    )
    items_repaired: int | None = Field(None, ge=0, title="Objets réparés", description="Nombre d'objets remis en état.")
    kind: RepairKind | None = Field(
        None,
        title="Type d'atelier",
        description="Ce que l'atelier répare : vélos (bike), électroménager (appliance), électronique "
        "(electronics), textile (textile), meubles (furniture).",
    )


class NeighbourhoodConciergeDetails(BaseModel):
    """Conciergerie de quartier."""

    model_config = ConfigDict(extra="forbid")

    requests_handled: int | None = Field(
        None, ge=0, title="Demandes traitées", description="Nombre de demandes d'habitants traitées."
    )
    services: list[ServiceName] | None = Field(
        None,
        max_length=50,
        title="Services proposés",
        description="Services proposés par la conciergerie (ex. « dépôt de colis », « petits travaux »).",
    )


class SharedGardensDetails(BaseModel):
    """Jardins partagés ou familiaux."""

    model_config = ConfigDict(extra="forbid")

    plots: int | None = Field(None, ge=0, title="Parcelles", description="Nombre de parcelles cultivées.")
    gardeners: int | None = Field(None, ge=0, title="Jardiniers", description="Nombre de jardiniers inscrits.")
    surface_m2: float | None = Field(
        None, ge=0, title="Surface (m²)", description="Surface totale des jardins, en mètres carrés."
    )


class DigitalInclusionDetails(BaseModel):
    """Inclusion numérique : aide aux démarches en ligne, ateliers d'initiation, équipement des habitants."""

    model_config = ConfigDict(extra="forbid")

    people_helped: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Personnes accompagnées",
        description="Nombre de personnes différentes aidées dans leurs démarches en ligne.",
    )
    procedures_completed: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Démarches en ligne réalisées",
        description="Nombre de démarches en ligne menées à bien avec les habitants.",
    )
    workshops: int | None = Field(
        None, ge=0, le=10_000, title="Ateliers collectifs", description="Nombre d'ateliers numériques collectifs."
    )
    workshop_participants: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Participants aux ateliers",
        description="Nombre total de participants aux ateliers (cumulé sur les ateliers).",
    )
    devices_provided: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Équipements remis",
        description="Nombre d'ordinateurs, tablettes ou téléphones reconditionnés remis à des habitants.",
    )
    procedures: DistinctChoices[OnlineProcedure] | None = Field(
        None,
        max_length=9,
        title="Démarches accompagnées",
        description="Prestations familiales et sociales (family_benefits), emploi (employment), assurance maladie "
        "(health_insurance), impôts (taxes), logement (housing), retraite (retirement), titres d'identité et "
        "permis (identity_documents), énergie (energy), autre (other).",
    )


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="laundry_ironing",
        category=Category.NEW_SERVICES,
        label_fr="Laverie et repassage",
        label_en="Laundry and ironing",
        open_data_terms={
            "datainclusion.thematiques": ("equipement-et-alimentation--aide-menagere",),
            "datainclusion.type": ("aide-materielle",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("payant",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=LaundryIroningDetails,
        indicators=("laundry_kilos", "laundry_customers"),
        description="Laverie solidaire et service de repassage à prix modérés pour les habitants.",
    ),
    ServiceType(
        key="repair_workshop",
        category=Category.NEW_SERVICES,
        label_fr="Atelier de réparation",
        label_en="Repair workshop",
        open_data_terms={
            "datainclusion.thematiques": ("equipement-et-alimentation--electromenager",),
            "datainclusion.type": ("atelier",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=RepairWorkshopDetails,
        indicators=("items_repaired",),
        description="Atelier où vélos, appareils, textiles ou meubles sont réparés plutôt que jetés.",
    ),
    ServiceType(
        key="neighbourhood_concierge",
        category=Category.NEW_SERVICES,
        label_fr="Conciergerie de quartier",
        label_en="Neighbourhood concierge",
        open_data_terms={
            "datainclusion.thematiques": ("equipement-et-alimentation--aide-menagere",),
            "datainclusion.type": ("information",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=NeighbourhoodConciergeDetails,
        indicators=("concierge_requests",),
        description="Point de services de proximité : dépôt de colis, petits services, orientation des habitants.",
    ),
    ServiceType(
        key="shared_gardens",
        category=Category.NEW_SERVICES,
        label_fr="Jardins partagés",
        label_en="Shared gardens",
        open_data_terms={
            "datainclusion.thematiques": ("remobilisation--lien-social", "equipement-et-alimentation--alimentation"),
            "datainclusion.type": ("atelier",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=SharedGardensDetails,
        indicators=("garden_plots", "gardeners"),
        description="Jardins partagés ou familiaux animés par la régie avec les habitants.",
    ),
    ServiceType(
        key="digital_inclusion",
        category=Category.NEW_SERVICES,
        label_fr="Inclusion numérique et aide aux démarches en ligne",
        label_en="Digital inclusion and help with online procedures",
        open_data_terms={
            "datainclusion.thematiques": (
                "numerique--acceder-a-des-services-en-ligne",
                "numerique--maitriser-les-fondamentaux-du-numerique",
                "numerique--acquerir-un-equipement",
            ),
            "datainclusion.type": ("accompagnement",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=DigitalInclusionDetails,
        indicators=("digital_people_helped", "online_procedures_completed", "digital_workshop_participants"),
        description="Aide aux démarches administratives en ligne, ateliers d'initiation au numérique et "
        "équipement des habitants.",
        import_labels=(
            "Inclusion numérique",
            "Médiation numérique",
            "Aide aux démarches en ligne",
            "Démarches en ligne",
            "Aide numérique",
            "Accompagnement numérique",
            "Point numérique",
            "Ateliers numériques",
            "Atelier numérique",
        ),
    ),
)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="laundry_kilos",
        label_fr="Linge traité à la laverie",
        label_en="Laundry processed",
        unit="kg",
        description="Poids de linge lavé ou repassé, en kilogrammes.",
        source="computed",
        service_type="laundry_ironing",
        details_field="kilos_processed",
    ),
    Indicator(
        key="laundry_customers",
        label_fr="Clients de la laverie",
        label_en="Laundry customers",
        description="Nombre de clients de la laverie et du repassage.",
        source="computed",
        service_type="laundry_ironing",
        details_field="customers",
    ),
    Indicator(
        key="items_repaired",
        label_fr="Objets réparés",
        label_en="Items repaired",
        description="Nombre d'objets remis en état par les ateliers de réparation.",
        source="computed",
        service_type="repair_workshop",
        details_field="items_repaired",
    ),
    Indicator(
        key="concierge_requests",
        label_fr="Demandes traitées par la conciergerie",
        label_en="Concierge requests handled",
        description="Nombre de demandes d'habitants traitées par la conciergerie de quartier.",
        source="computed",
        service_type="neighbourhood_concierge",
        details_field="requests_handled",
    ),
    Indicator(
        key="garden_plots",
        label_fr="Parcelles de jardin",
        label_en="Garden plots",
        description="Nombre de parcelles des jardins partagés.",
        source="computed",
        service_type="shared_gardens",
        details_field="plots",
    ),
    Indicator(
        key="gardeners",
        label_fr="Jardiniers",
        label_en="Gardeners",
        description="Nombre de jardiniers inscrits dans les jardins partagés.",
        source="computed",
        service_type="shared_gardens",
        details_field="gardeners",
    ),
    Indicator(
        key="digital_people_helped",
        label_fr="Personnes aidées dans leurs démarches en ligne",
        label_en="People helped with online procedures",
        description="Nombre de personnes accompagnées par l'inclusion numérique.",
        source="computed",
        service_type="digital_inclusion",
        details_field="people_helped",
    ),
    Indicator(
        key="online_procedures_completed",
        label_fr="Démarches en ligne réalisées",
        label_en="Online procedures completed",
        description="Nombre de démarches en ligne menées à bien avec les habitants.",
        source="computed",
        service_type="digital_inclusion",
        details_field="procedures_completed",
    ),
    Indicator(
        key="digital_workshop_participants",
        label_fr="Participants aux ateliers numériques",
        label_en="Digital workshop participants",
        description="Nombre cumulé de participants aux ateliers numériques collectifs.",
        source="computed",
        service_type="digital_inclusion",
        details_field="workshop_participants",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
