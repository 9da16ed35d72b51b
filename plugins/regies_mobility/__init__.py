"""Transport and mobility service types of a régie: mobility advice, social driving school, garage, transport."""

from __future__ import annotations

from federation import hookimpl
from federation.plugins import Indicator, Registry, ServiceType
from federation.schema.types import Category
from regies_mobility.models import (
    CollectiveTransportDetails,
    CommunityGarageDetails,
    MobilityInformationPointDetails,
    SocialDrivingSchoolDetails,
)

__version__ = "0.1.0"

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


@hookimpl
def register_service_types(registry: Registry) -> None:
    """Register the transport and mobility service types."""
    for service_type in SERVICE_TYPES:
        registry.add_service_type(service_type)


@hookimpl
def register_indicators(registry: Registry) -> None:
    """Register the indicators computed from transport and mobility activities."""
    for indicator in INDICATORS:
        registry.add_indicator(indicator)
