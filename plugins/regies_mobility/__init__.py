"""Transport and mobility service types of a régie: mobility advice, social driving school, garage, transport."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from federation.plugins import Indicator, ServiceType, ServiceTypeHooks
from federation.schema.types import Category

__version__ = "0.1.0"


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


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="mobility_information_point",
        category=Category.TRANSPORT,
        label_fr="Point information mobilité",
        label_en="Mobility information point",
        details_model=MobilityInformationPointDetails,
        indicators=("mobility_people_advised",),
        description="Conseil et orientation des habitants sur les solutions de déplacement, souvent vers l'emploi.",
    ),
    ServiceType(
        key="social_driving_school",
        category=Category.TRANSPORT,
        label_fr="Auto-école sociale",
        label_en="Social driving school",
        details_model=SocialDrivingSchoolDetails,
        indicators=("driving_learners", "driving_code_passed", "driving_licences_obtained"),
        description="Préparation au code et au permis de conduire pour des personnes éloignées de l'emploi.",
    ),
    ServiceType(
        key="community_garage",
        category=Category.TRANSPORT,
        label_fr="Garage solidaire",
        label_en="Community garage",
        details_model=CommunityGarageDetails,
        indicators=("garage_repairs",),
        description="Réparation et entretien de véhicules à prix modérés, parfois avec les adhérents.",
    ),
    ServiceType(
        key="collective_transport",
        category=Category.TRANSPORT,
        label_fr="Transport collectif solidaire",
        label_en="Collective transport",
        details_model=CollectiveTransportDetails,
        indicators=("collective_transport_trips", "collective_transport_passengers"),
        description="Navettes et transport à la demande pour les habitants peu mobiles.",
    ),
)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="mobility_people_advised",
        label_fr="Personnes conseillées sur leur mobilité",
        label_en="People given mobility advice",
        description="Nombre de personnes conseillées par les points information mobilité.",
        source="computed",
        service_type="mobility_information_point",
        details_field="people_advised",
    ),
    Indicator(
        key="driving_learners",
        label_fr="Élèves de l'auto-école sociale",
        label_en="Social driving school learners",
        description="Nombre d'élèves accompagnés par l'auto-école sociale.",
        source="computed",
        service_type="social_driving_school",
        details_field="learners",
    ),
    Indicator(
        key="driving_code_passed",
        label_fr="Codes de la route obtenus",
        label_en="Highway code tests passed",
        description="Nombre d'élèves ayant réussi l'épreuve du code de la route.",
        source="computed",
        service_type="social_driving_school",
        details_field="code_passed",
    ),
    Indicator(
        key="driving_licences_obtained",
        label_fr="Permis de conduire obtenus",
        label_en="Driving licences obtained",
        description="Nombre de permis de conduire obtenus par les élèves de l'auto-école sociale.",
        source="computed",
        service_type="social_driving_school",
        details_field="licences_obtained",
    ),
    Indicator(
        key="garage_repairs",
        label_fr="Réparations du garage solidaire",
        label_en="Community garage repairs",
        description="Nombre de réparations effectuées par le garage solidaire.",
        source="computed",
        service_type="community_garage",
        details_field="repairs",
    ),
    Indicator(
        key="collective_transport_trips",
        label_fr="Trajets de transport collectif",
        label_en="Collective transport trips",
        description="Nombre de trajets effectués en transport collectif solidaire.",
        source="computed",
        service_type="collective_transport",
        details_field="trips",
    ),
    Indicator(
        key="collective_transport_passengers",
        label_fr="Passagers du transport collectif",
        label_en="Collective transport passengers",
        description="Nombre de passagers transportés en transport collectif solidaire.",
        source="computed",
        service_type="collective_transport",
        details_field="passengers",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
