"""Details models of the urban management service types: what a régie records about each kind of work."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

GreenSpaceTask = Literal["mowing", "pruning", "weeding", "planting", "watering"]
RepairTrade = Literal["plumbing", "electricity", "painting", "locksmith", "carpentry"]


def _no_duplicates(values: list[str] | None) -> list[str] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("each value may appear only once")
    return values


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
    tasks: list[GreenSpaceTask] | None = Field(
        None,
        max_length=5,
        title="Travaux réalisés",
        description="Travaux effectués : tonte (mowing), taille (pruning), désherbage (weeding), "
        "plantation (planting), arrosage (watering).",
    )
    zero_pesticide: bool | None = Field(
        None, title="Zéro pesticide", description="Vrai si l'entretien se fait sans aucun produit phytosanitaire."
    )

    _unique_tasks = field_validator("tasks")(_no_duplicates)


class SmallRepairsDetails(BaseModel):
    """Petites réparations et travaux d'entretien dans les logements et les parties communes."""

    model_config = ConfigDict(extra="forbid")

    interventions: int | None = Field(
        None, ge=0, title="Interventions", description="Nombre d'interventions de petite réparation réalisées."
    )
    trades: list[RepairTrade] | None = Field(
        None,
        max_length=5,
        title="Corps de métier",
        description="Métiers mobilisés : plomberie (plumbing), électricité (electricity), peinture (painting), "
        "serrurerie (locksmith), menuiserie (carpentry).",
    )

    _unique_trades = field_validator("trades")(_no_duplicates)


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

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    housing_units: int | None = Field(
        None, ge=0, title="Logements couverts", description="Nombre de logements couverts par le remplacement."
    )
    social_landlord: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        title="Bailleur social",
        description="Nom du bailleur social pour lequel le remplacement est assuré.",
    )
