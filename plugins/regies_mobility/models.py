"""Details models of transport and mobility activities: advice, social driving school, garage, transport."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MobilityInformationPointDetails(BaseModel):
    """Point information mobilité : conseil et orientation des habitants pour se déplacer."""

    model_config = ConfigDict(extra="forbid")

    people_advised: int | None = Field(
        None, ge=0, title="Personnes conseillées", description="Nombre de personnes conseillées ou orientées."
    )
    appointments: int | None = Field(None, ge=0, title="Rendez-vous", description="Nombre de rendez-vous individuels.")


class SocialDrivingSchoolDetails(BaseModel):
    """Auto-école sociale : apprentissage du code et de la conduite pour des publics éloignés de l'emploi."""

    model_config = ConfigDict(extra="forbid")

    learners: int | None = Field(None, ge=0, title="Élèves", description="Nombre d'élèves accompagnés.")
    lesson_hours: float | None = Field(
        None, ge=0, title="Heures de conduite", description="Heures de leçons de conduite dispensées."
    )
    code_passed: int | None = Field(
        None, ge=0, title="Codes obtenus", description="Nombre d'élèves ayant réussi l'épreuve du code de la route."
    )
    licences_obtained: int | None = Field(
        None, ge=0, title="Permis obtenus", description="Nombre d'élèves ayant obtenu le permis de conduire."
    )

    @model_validator(mode="after")
    def _results_within_learners(self) -> Self:
        if self.learners is None:
            return self
        for name in ("code_passed", "licences_obtained"):
            value = getattr(self, name)
            if value is not None and value > self.learners:
                raise ValueError(f"{name} ({value}) must not exceed learners ({self.learners})")
        return self


class CommunityGarageDetails(BaseModel):
    """Garage solidaire : réparation et entretien de véhicules à prix modérés."""

    model_config = ConfigDict(extra="forbid")

    repairs: int | None = Field(None, ge=0, title="Réparations", description="Nombre de réparations effectuées.")
    vehicles_serviced: int | None = Field(
        None, ge=0, title="Véhicules entretenus", description="Nombre de véhicules entretenus ou réparés."
    )
    members: int | None = Field(None, ge=0, title="Adhérents", description="Nombre d'adhérents du garage.")


class CollectiveTransportDetails(BaseModel):
    """Transport collectif ou solidaire (navettes, transport à la demande)."""

    model_config = ConfigDict(extra="forbid")

    trips: int | None = Field(None, ge=0, title="Trajets", description="Nombre de trajets effectués.")
    passengers: int | None = Field(None, ge=0, title="Passagers", description="Nombre de passagers transportés.")
    vehicles: int | None = Field(None, ge=0, title="Véhicules", description="Nombre de véhicules utilisés.")
