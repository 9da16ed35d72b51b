"""Details models of the urban plugin's outdoor and building upkeep: outdoor cleaning, bins, finishing works, paths."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import DistinctChoices

OutdoorCleaningTask = Literal["sweeping", "litter_picking", "illegal_dumps", "graffiti", "leaves", "snow_clearing"]
FinishingTrade = Literal[
    "painting", "flooring", "plastering", "tiling", "joinery", "plumbing", "electricity", "insulation"
]
NaturalAreaTask = Literal[
    "clearing", "mowing", "pruning", "waymarking", "riverbanks", "dry_stone_walls", "litter_picking", "invasive_species"
]


class OutdoorCleaningDetails(BaseModel):
    """Nettoyage des espaces extérieurs : abords d'immeubles, cheminements, aires de jeux, dépôts sauvages."""

    model_config = ConfigDict(extra="forbid")

    surface_m2: float | None = Field(
        None,
        ge=0,
        le=10_000_000,
        title="Surface nettoyée (m²)",
        description="Surface des espaces extérieurs nettoyés, en mètres carrés (au plus 10 km²).",
    )
    frequency_per_week: float | None = Field(
        None,
        ge=0,
        le=21,
        title="Passages par semaine",
        description="Nombre moyen de passages par semaine (0,5 pour un passage tous les quinze jours).",
    )
    illegal_dumps_removed: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Dépôts sauvages enlevés",
        description="Nombre de dépôts sauvages enlevés sur la période.",
    )
    waste_tonnes: float | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Déchets ramassés (tonnes)",
        description="Poids des déchets ramassés (papiers, dépôts sauvages), en tonnes.",
    )
    tasks: DistinctChoices[OutdoorCleaningTask] | None = Field(
        None,
        max_length=6,
        title="Travaux réalisés",
        description="Balayage (sweeping), ramassage des papiers (litter_picking), enlèvement des dépôts sauvages "
        "(illegal_dumps), effacement des tags (graffiti), ramassage des feuilles (leaves), déneigement "
        "(snow_clearing).",
    )


class BinHandlingDetails(BaseModel):
    """Gestion des bacs : sortie et rentrée des conteneurs, lavage des bacs, entretien des locaux poubelles."""

    model_config = ConfigDict(extra="forbid")

    bins: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Bacs gérés",
        description="Nombre de bacs ou conteneurs sortis et rentrés les jours de collecte.",
    )
    rounds_per_week: float | None = Field(
        None,
        ge=0,
        le=14,
        title="Sorties par semaine",
        description="Nombre de sorties des bacs par semaine (jours de collecte).",
    )
    bin_washes: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Lavages de bacs",
        description="Nombre de lavages de bacs sur la période (un bac lavé quatre fois compte quatre).",
    )
    bin_rooms: int | None = Field(
        None, ge=0, le=10_000, title="Locaux poubelles", description="Nombre de locaux poubelles entretenus."
    )
    housing_units: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Logements desservis",
        description="Nombre de logements dont les bacs sont gérés par la régie.",
    )


class BuildingRefurbishmentDetails(BaseModel):
    """Second œuvre du bâtiment : remise en état de logements et de parties communes."""

    model_config = ConfigDict(extra="forbid")

    housing_units: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Logements remis en état",
        description="Nombre de logements remis en état (souvent entre deux locataires).",
    )
    common_areas: int | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Parties communes rénovées",
        description="Nombre de halls ou de cages d'escalier rénovés.",
    )
    surface_m2: float | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Surface traitée (m²)",
        description="Surface de murs, plafonds et sols traitée, en mètres carrés.",
    )
    work_hours: float | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Heures de chantier",
        description="Heures travaillées sur les chantiers de second œuvre.",
    )
    trades: DistinctChoices[FinishingTrade] | None = Field(
        None,
        max_length=8,
        title="Corps de métier",
        description="Peinture (painting), revêtements de sols (flooring), plâtrerie (plastering), carrelage "
        "(tiling), menuiserie intérieure (joinery), plomberie (plumbing), électricité (electricity), isolation "
        "(insulation).",
    )


class PathsNaturalAreasDetails(BaseModel):
    """Entretien des chemins et des espaces naturels, pour les régies de territoire rurales."""

    model_config = ConfigDict(extra="forbid")

    paths_km: float | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Chemins entretenus (km)",
        description="Longueur des chemins et sentiers entretenus, en kilomètres.",
    )
    natural_areas_ha: float | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Espaces naturels entretenus (ha)",
        description="Surface des espaces naturels entretenus, en hectares.",
    )
    riverbanks_km: float | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Berges entretenues (km)",
        description="Longueur des berges de rivières et de mares entretenues, en kilomètres.",
    )
    communes: int | None = Field(
        None, ge=0, le=1_000, title="Communes concernées", description="Nombre de communes où la régie intervient."
    )
    tasks: DistinctChoices[NaturalAreaTask] | None = Field(
        None,
        max_length=8,
        title="Travaux réalisés",
        description="Débroussaillage (clearing), fauchage (mowing), élagage (pruning), balisage (waymarking), "
        "entretien des berges (riverbanks), murets en pierre sèche (dry_stone_walls), ramassage des déchets "
        "(litter_picking), arrachage des espèces invasives (invasive_species).",
    )
