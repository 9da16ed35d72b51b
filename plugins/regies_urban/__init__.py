"""Urban management service types of a régie: cleaning, green spaces, repairs and refurbishment, waste and bins,
caretakers, and the paths and natural areas of rural régies de territoire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import Category, DistinctChoices, Indicator, ServiceType, ServiceTypeHooks, ShortText

from .upkeep import BinHandlingDetails, BuildingRefurbishmentDetails, OutdoorCleaningDetails, PathsNaturalAreasDetails

__version__ = "0.1.0"

GreenSpaceTask = Literal["mowing", "pruning", "weeding", "planting", "watering"]
RepairTrade = Literal["plumbing", "electricity", "painting", "locksmith", "carpentry"]


class CommonAreaCleaningDetails(BaseModel):
    """Nettoyage des parties communes (halls, cages d'escalier, paliers)."""

    model_config = ConfigDict(extra="forbid")

    buildings: int | None = Field(
        None,
        ge=0,
        title="Bâtiments entretenus",
        description="Nombre de bâtiments dont les parties communes sont nettoyées.",
    )
    stairwells: int | None = Field(
        None, ge=0, title="Cages d'escalier", description="Nombre de cages d'escalier entretenues."
    )
    frequency_per_week: float | None = Field(
        None,
        ge=0,
        le=21,
        title="Passages par semaine",
        description="Nombre moyen de passages par semaine (0,5 pour un passage tous les quinze jours).",
    )
    surface_m2: float | None = Field(
        None, ge=0, title="Surface (m²)", description="Surface totale des parties communes nettoyées, en mètres carrés."
    )


class GreenSpacesDetails(BaseModel):
    """Entretien des espaces verts; tous les champs sont facultatifs."""

    model_config = ConfigDict(extra="forbid")

    surface_m2: float | None = Field(
        None, ge=0, title="Surface (m²)", description="Surface d'espaces verts entretenue, en mètres carrés."
    )
    tasks: DistinctChoices[GreenSpaceTask] | None = Field(
        None,
        max_length=5,
        json_schema_extra={"uniqueItems": True},  # what _no_duplicates checks, said in the contract
        title="Travaux réalisés",
        description="Travaux effectués : tonte (mowing), taille (pruning), désherbage (weeding), "
        "plantation (planting), arrosage (watering).",
    )
    zero_pesticide: bool | None = Field(
        None, title="Zéro pesticide", description="Vrai si l'entretien se fait sans aucun produit phytosanitaire."
    )


class SmallRepairsDetails(BaseModel):
    """Petites réparations et travaux d'entretien dans les logements et les parties communes."""

    model_config = ConfigDict(extra="forbid")

    interventions: int | None = Field(
        None, ge=0, title="Interventions", description="Nombre d'interventions de petite réparation réalisées."
    )
    trades: DistinctChoices[RepairTrade] | None = Field(
        None,
        max_length=5,
        json_schema_extra={"uniqueItems": True},  # what _no_duplicates checks, said in the contract
        title="Corps de métier",
        description="Métiers mobilisés : plomberie (plumbing), électricité (electricity), peinture (painting), "
        "serrurerie (locksmith), menuiserie (carpentry).",
    )


class BulkyWasteDetails(BaseModel):
    """Collecte des encombrants au pied des immeubles."""

    model_config = ConfigDict(extra="forbid")

    collections: int | None = Field(None, ge=0, title="Collectes", description="Nombre de tournées de collecte.")
    tonnes_collected: float | None = Field(
        None, ge=0, title="Tonnes collectées", description="Poids total des encombrants collectés, en tonnes."
    )
    reuse_share_percent: float | None = Field(
        None,
        ge=0,
        le=100,
        title="Part réemployée (%)",
        description="Part des encombrants collectés orientée vers le réemploi ou la réparation, en pourcentage.",
    )


class CaretakerReplacementDetails(BaseModel):
    """Remplacement des gardiens d'immeuble pendant leurs absences."""

    model_config = ConfigDict(extra="forbid")

    housing_units: int | None = Field(
        None, ge=0, title="Logements couverts", description="Nombre de logements couverts par le remplacement."
    )
    social_landlord: ShortText | None = Field(
        None,
        title="Bailleur social",
        description="Nom du bailleur social pour lequel le remplacement est assuré.",
    )


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="common_area_cleaning",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Nettoyage des parties communes",
        label_en="Common area cleaning",
        details_model=CommonAreaCleaningDetails,
        indicators=("buildings_cleaned",),
        description="Nettoyage des halls, cages d'escalier et paliers des immeubles, souvent pour un bailleur social.",
    ),
    ServiceType(
        key="green_spaces",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Entretien des espaces verts",
        label_en="Green space maintenance",
        details_model=GreenSpacesDetails,
        indicators=("green_space_surface_m2",),
        description="Tonte, taille, désherbage, plantations et arrosage des espaces verts du quartier.",
    ),
    ServiceType(
        key="small_repairs",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Petites réparations",
        label_en="Small repairs",
        details_model=SmallRepairsDetails,
        indicators=("small_repair_interventions",),
        description="Petits travaux de plomberie, d'électricité, de peinture, de serrurerie et de menuiserie.",
    ),
    ServiceType(
        key="bulky_waste",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Collecte des encombrants",
        label_en="Bulky waste collection",
        details_model=BulkyWasteDetails,
        indicators=("bulky_waste_collections", "bulky_waste_tonnes"),
        description="Ramassage des encombrants au pied des immeubles et orientation vers le réemploi.",
        import_labels=("Ramassage des encombrants", "Enlèvement des encombrants", "Encombrants"),
    ),
    ServiceType(
        key="caretaker_replacement",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Remplacement de gardiens",
        label_en="Caretaker replacement",
        details_model=CaretakerReplacementDetails,
        indicators=("housing_units_caretaking",),
        description="Remplacement des gardiens d'immeuble pendant leurs congés ou absences.",
    ),
    ServiceType(
        key="outdoor_cleaning",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Nettoyage des espaces extérieurs",
        label_en="Outdoor cleaning",
        details_model=OutdoorCleaningDetails,
        indicators=("outdoor_surface_cleaned_m2", "illegal_dumps_removed"),
        description="Propreté des abords d'immeubles, cheminements et aires de jeux ; enlèvement des dépôts sauvages.",
        import_labels=(
            "Nettoyage extérieur",
            "Nettoyage des abords",
            "Nettoyage des abords d'immeubles",
            "Propreté urbaine",
            "Propreté des espaces extérieurs",
            "Dépôts sauvages",
        ),
    ),
    ServiceType(
        key="bin_handling",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Gestion des bacs",
        label_en="Bin handling",
        details_model=BinHandlingDetails,
        indicators=("bins_handled", "bin_washes"),
        description="Sortie et rentrée des bacs les jours de collecte, lavage des bacs, entretien des locaux "
        "poubelles.",
        import_labels=(
            "Gestion des bacs à ordures",
            "Gestion des conteneurs",
            "Sortie des bacs",
            "Sortie et rentrée des bacs",
            "Lavage des bacs",
            "Locaux poubelles",
        ),
    ),
    ServiceType(
        key="building_refurbishment",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Second œuvre du bâtiment",
        label_en="Building refurbishment (finishing works)",
        details_model=BuildingRefurbishmentDetails,
        indicators=("housing_units_refurbished", "refurbishment_hours"),
        description="Remise en état de logements et de parties communes : peinture, sols, plâtrerie, menuiserie.",
        import_labels=(
            "Second œuvre",
            "Travaux de second œuvre",
            "Remise en état de logements",
            "Remise en état des logements",
            "Rénovation de logements",
            "Réhabilitation de logements",
        ),
    ),
    ServiceType(
        key="paths_natural_areas",
        category=Category.URBAN_MANAGEMENT,
        label_fr="Entretien des chemins et espaces naturels",
        label_en="Paths and natural areas upkeep",
        details_model=PathsNaturalAreasDetails,
        indicators=("paths_km_maintained", "natural_areas_ha_maintained"),
        description="Débroussaillage, fauchage, balisage des chemins de randonnée, entretien des berges et des "
        "espaces naturels des communes rurales.",
        import_labels=(
            "Entretien des chemins",
            "Entretien des sentiers",
            "Chemins de randonnée",
            "Entretien des espaces naturels",
            "Espaces naturels",
            "Entretien des berges",
            "Débroussaillage",
        ),
    ),
)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="buildings_cleaned",
        label_fr="Bâtiments dont les parties communes sont nettoyées",
        label_en="Buildings with cleaned common areas",
        description="Somme des bâtiments déclarés dans les activités de nettoyage des parties communes.",
        source="computed",
        service_type="common_area_cleaning",
        details_field="buildings",
    ),
    Indicator(
        key="green_space_surface_m2",
        label_fr="Surface d'espaces verts entretenue",
        label_en="Green space area maintained",
        unit="m2",
        description="Somme des surfaces déclarées dans les activités d'entretien des espaces verts.",
        source="computed",
        service_type="green_spaces",
        details_field="surface_m2",
    ),
    Indicator(
        key="small_repair_interventions",
        label_fr="Interventions de petite réparation",
        label_en="Small repair interventions",
        description="Nombre d'interventions de petite réparation réalisées.",
        source="computed",
        service_type="small_repairs",
        details_field="interventions",
    ),
    Indicator(
        key="bulky_waste_collections",
        label_fr="Collectes d'encombrants",
        label_en="Bulky waste collections",
        description="Nombre de tournées de collecte des encombrants.",
        source="computed",
        service_type="bulky_waste",
        details_field="collections",
    ),
    Indicator(
        key="bulky_waste_tonnes",
        label_fr="Encombrants collectés",
        label_en="Bulky waste collected",
        unit="tonnes",
        description="Poids total des encombrants collectés, en tonnes.",
        source="computed",
        service_type="bulky_waste",
        details_field="tonnes_collected",
    ),
    Indicator(
        key="housing_units_caretaking",
        label_fr="Logements couverts par le remplacement de gardiens",
        label_en="Housing units covered by caretaker replacement",
        description="Somme des logements couverts par les activités de remplacement de gardiens.",
        source="computed",
        service_type="caretaker_replacement",
        details_field="housing_units",
    ),
    Indicator(
        key="outdoor_surface_cleaned_m2",
        label_fr="Surface d'espaces extérieurs nettoyée",
        label_en="Outdoor area cleaned",
        unit="m2",
        description="Somme des surfaces déclarées dans les activités de nettoyage des espaces extérieurs.",
        source="computed",
        service_type="outdoor_cleaning",
        details_field="surface_m2",
    ),
    Indicator(
        key="illegal_dumps_removed",
        label_fr="Dépôts sauvages enlevés",
        label_en="Illegal dumps removed",
        description="Nombre de dépôts sauvages enlevés par les équipes de nettoyage des espaces extérieurs.",
        source="computed",
        service_type="outdoor_cleaning",
        details_field="illegal_dumps_removed",
    ),
    Indicator(
        key="bins_handled",
        label_fr="Bacs gérés",
        label_en="Bins handled",
        description="Nombre de bacs ou conteneurs sortis et rentrés par la régie.",
        source="computed",
        service_type="bin_handling",
        details_field="bins",
    ),
    Indicator(
        key="bin_washes",
        label_fr="Lavages de bacs",
        label_en="Bin washes",
        description="Nombre de lavages de bacs réalisés.",
        source="computed",
        service_type="bin_handling",
        details_field="bin_washes",
    ),
    Indicator(
        key="housing_units_refurbished",
        label_fr="Logements remis en état",
        label_en="Housing units refurbished",
        description="Nombre de logements remis en état par les chantiers de second œuvre.",
        source="computed",
        service_type="building_refurbishment",
        details_field="housing_units",
    ),
    Indicator(
        key="refurbishment_hours",
        label_fr="Heures de chantier de second œuvre",
        label_en="Refurbishment work hours",
        unit="hours",
        description="Heures travaillées sur les chantiers de second œuvre.",
        source="computed",
        service_type="building_refurbishment",
        details_field="work_hours",
    ),
    Indicator(
        key="paths_km_maintained",
        label_fr="Chemins entretenus",
        label_en="Paths maintained",
        unit="km",
        description="Kilomètres de chemins et de sentiers entretenus.",
        source="computed",
        service_type="paths_natural_areas",
        details_field="paths_km",
    ),
    Indicator(
        key="natural_areas_ha_maintained",
        label_fr="Espaces naturels entretenus",
        label_en="Natural areas maintained",
        unit="ha",
        description="Hectares d'espaces naturels entretenus.",
        source="computed",
        service_type="paths_natural_areas",
        details_field="natural_areas_ha",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
