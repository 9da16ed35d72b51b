"""Details models of the new services a régie offers its inhabitants: laundry, repairs, concierge, gardens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

RepairKind = Literal["bike", "appliance", "electronics", "textile", "furniture"]
ServiceName = Annotated[str, Field(min_length=1, max_length=100)]


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

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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
