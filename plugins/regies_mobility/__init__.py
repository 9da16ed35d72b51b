"""Transport and mobility service types of a régie: mobility advice, social driving school, bike school, garage,
transport and solidarity vehicle rental."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from federation.plugin_api import Category, DistinctChoices, Indicator, ServiceType, ServiceTypeHooks

__version__ = "0.1.0"

RentalVehicle = Literal["car", "scooter", "bike", "electric_bike", "cargo_bike", "adapted_vehicle"]


def _at_most(total: str) -> Callable[[int | None, ValidationInfo], int | None]:
    """A field validator: the field (e.g. licences obtained) is at most `total` (e.g. learners) when both are
    given. `total` is declared before the field, so it is validated first and its value is in `info.data`."""

    def check(value: int | None, info: ValidationInfo) -> int | None:
        limit = info.data.get(total)
        if value is not None and limit is not None and value > limit:
            raise ValueError(f"{info.field_name} ({value}) must not exceed {total} ({limit})")
        return value

    return check


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

    _results_within_learners = field_validator("code_passed", "licences_obtained")(_at_most("learners"))


class BikeSchoolDetails(BaseModel):
    """Vélo-école : apprendre ou réapprendre à circuler à vélo, souvent pour aller travailler."""

    model_config = ConfigDict(extra="forbid")

    learners: int | None = Field(None, ge=0, le=10_000, title="Élèves", description="Nombre d'élèves accompagnés.")
    sessions: int | None = Field(
        None, ge=0, le=10_000, title="Séances", description="Nombre de séances collectives ou individuelles."
    )
    lesson_hours: float | None = Field(
        None, ge=0, le=100_000, title="Heures d'apprentissage", description="Heures d'apprentissage dispensées."
    )
    learners_autonomous: int | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Élèves autonomes",
        description="Nombre d'élèves capables de circuler seuls en ville à la fin de l'apprentissage "
        "(au plus le nombre d'élèves).",
    )
    bikes_lent_to_learners: int | None = Field(
        None,
        ge=0,
        le=10_000,
        title="Vélos prêtés aux élèves",
        description="Nombre de vélos prêtés aux élèves pendant ou après l'apprentissage.",
    )

    _autonomous_within_learners = field_validator("learners_autonomous")(_at_most("learners"))


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


class SolidarityVehicleRentalDetails(BaseModel):
    """Location solidaire : voitures, scooters et vélos loués ou prêtés à bas prix, souvent pour l'emploi."""

    model_config = ConfigDict(extra="forbid")

    fleet: int | None = Field(
        None, ge=0, le=10_000, title="Véhicules du parc", description="Nombre de véhicules proposés à la location."
    )
    vehicle_kinds: DistinctChoices[RentalVehicle] | None = Field(
        None,
        max_length=6,
        title="Types de véhicules",
        description="Voiture (car), scooter ou cyclomoteur (scooter), vélo (bike), vélo à assistance électrique "
        "(electric_bike), vélo cargo (cargo_bike), véhicule adapté (adapted_vehicle).",
    )
    rentals: int | None = Field(
        None, ge=0, le=1_000_000, title="Locations", description="Nombre de locations ou de prêts, tous véhicules."
    )
    bikes_lent: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Dont vélos",
        description="Parmi les locations ou prêts, ceux de vélos (classiques, électriques ou cargos) ; au plus le "
        "nombre de locations.",
    )
    rental_days: int | None = Field(
        None,
        ge=0,
        le=10_000_000,
        title="Jours de location",
        description="Nombre total de jours de location (une voiture louée deux semaines compte 14).",
    )
    people_served: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        title="Bénéficiaires",
        description="Nombre de personnes différentes ayant loué ou emprunté un véhicule (au plus le nombre de "
        "locations).",
    )

    # Each rental is one person's: there are never more people or bike loans than rentals.
    _parts_within_rentals = field_validator("bikes_lent", "people_served")(_at_most("rentals"))


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="mobility_information_point",
        category=Category.TRANSPORT,
        label_fr="Point information mobilité",
        label_en="Mobility information point",
        open_data_terms={
            "datainclusion.thematiques": ("mobilite--etre-accompagne-dans-son-parcours-mobilite",),
            "datainclusion.type": ("information",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=MobilityInformationPointDetails,
        indicators=("mobility_people_advised",),
        description="Conseil et orientation des habitants sur les solutions de déplacement, souvent vers l'emploi.",
    ),
    ServiceType(
        key="social_driving_school",
        category=Category.TRANSPORT,
        label_fr="Auto-école sociale",
        label_en="Social driving school",
        open_data_terms={
            "datainclusion.thematiques": ("mobilite--preparer-un-permis",),
            "datainclusion.type": ("formation",),
            "datainclusion.publics": ("beneficiaires-des-minimas-sociaux", "demandeurs-emploi", "residents-qpv-frr"),
            "datainclusion.frais": ("payant",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=SocialDrivingSchoolDetails,
        indicators=("driving_learners", "driving_code_passed", "driving_licences_obtained"),
        description="Préparation au code et au permis de conduire pour des personnes éloignées de l'emploi.",
    ),
    ServiceType(
        key="bike_school",
        category=Category.TRANSPORT,
        label_fr="Vélo-école",
        label_en="Bike school",
        open_data_terms={
            "datainclusion.thematiques": ("mobilite--mobilite-douce-partagee-collective",),
            "datainclusion.type": ("formation",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=BikeSchoolDetails,
        indicators=("bike_school_learners", "bike_school_autonomous"),
        description="Apprentissage ou remise en selle à vélo pour des adultes, souvent pour se rendre au travail.",
        import_labels=(
            "Auto-école vélo",
            "École du vélo",
            "Apprentissage du vélo",
            "Remise en selle",
            "Vélo-écoles",
        ),
    ),
    ServiceType(
        key="community_garage",
        category=Category.TRANSPORT,
        label_fr="Garage solidaire",
        label_en="Community garage",
        open_data_terms={
            "datainclusion.thematiques": ("mobilite--entretenir-reparer-son-vehicule",),
            "datainclusion.type": ("aide-materielle",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("payant",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=CommunityGarageDetails,
        indicators=("garage_repairs",),
        description="Réparation et entretien de véhicules à prix modérés, parfois avec les adhérents.",
    ),
    ServiceType(
        key="collective_transport",
        category=Category.TRANSPORT,
        label_fr="Transport collectif solidaire",
        label_en="Collective transport",
        open_data_terms={
            "datainclusion.thematiques": ("mobilite--mobilite-douce-partagee-collective",),
            "datainclusion.type": ("aide-materielle",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=CollectiveTransportDetails,
        indicators=("collective_transport_trips", "collective_transport_passengers"),
        description="Navettes et transport à la demande pour les habitants peu mobiles.",
    ),
    ServiceType(
        key="solidarity_vehicle_rental",
        category=Category.TRANSPORT,
        label_fr="Location solidaire de véhicules",
        label_en="Solidarity vehicle rental",
        open_data_terms={
            "datainclusion.thematiques": ("mobilite--acceder-a-un-vehicule",),
            "datainclusion.type": ("aide-materielle",),
            "datainclusion.publics": ("beneficiaires-des-minimas-sociaux", "demandeurs-emploi", "residents-qpv-frr"),
            "datainclusion.frais": ("payant",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=SolidarityVehicleRentalDetails,
        indicators=("vehicle_rentals", "bikes_lent", "vehicle_rental_people"),
        description="Voitures, scooters et vélos loués ou prêtés à bas prix à des personnes sans moyen de "
        "transport, pour l'emploi ou la formation.",
        import_labels=(
            "Location solidaire",
            "Location de véhicules",
            "Prêt de véhicules",
            "Location de scooters",
            "Location de vélos",
            "Prêt de vélos",
            "Location de voitures",
        ),
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
    Indicator(
        key="bike_school_learners",
        label_fr="Élèves de la vélo-école",
        label_en="Bike school learners",
        description="Nombre d'élèves accompagnés par la vélo-école.",
        source="computed",
        service_type="bike_school",
        details_field="learners",
    ),
    Indicator(
        key="bike_school_autonomous",
        label_fr="Élèves devenus autonomes à vélo",
        label_en="Bike school learners riding on their own",
        description="Nombre d'élèves de la vélo-école capables de circuler seuls en ville.",
        source="computed",
        service_type="bike_school",
        details_field="learners_autonomous",
    ),
    Indicator(
        key="vehicle_rentals",
        label_fr="Locations solidaires de véhicules",
        label_en="Solidarity vehicle rentals",
        description="Nombre de locations ou de prêts de véhicules, tous véhicules.",
        source="computed",
        service_type="solidarity_vehicle_rental",
        details_field="rentals",
    ),
    Indicator(
        key="bikes_lent",
        label_fr="Vélos loués ou prêtés",
        label_en="Bikes rented or lent",
        description="Nombre de locations ou de prêts de vélos par la location solidaire.",
        source="computed",
        service_type="solidarity_vehicle_rental",
        details_field="bikes_lent",
    ),
    Indicator(
        key="vehicle_rental_people",
        label_fr="Bénéficiaires de la location solidaire",
        label_en="People using solidarity vehicle rental",
        description="Nombre de personnes ayant loué ou emprunté un véhicule.",
        source="computed",
        service_type="solidarity_vehicle_rental",
        details_field="people_served",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
