"""Local democracy service types of a régie: neighbourhood meetings and consultations of inhabitants."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import Category, Indicator, ServiceType, ServiceTypeHooks, ShortText

__version__ = "0.1.0"


class NeighbourhoodMeetingsDetails(BaseModel):
    """Réunions d'habitants (conseils de quartier, assemblées de la régie, réunions d'immeuble)."""

    model_config = ConfigDict(extra="forbid")

    meetings: int | None = Field(None, ge=0, title="Réunions", description="Nombre de réunions tenues.")
    inhabitants_attending: int | None = Field(
        None,
        ge=0,
        title="Habitants présents",
        description="Nombre total d'habitants présents (cumulé sur les réunions).",
    )


class ConsultationsDetails(BaseModel):
    """Concertations et consultations des habitants sur un projet du quartier."""

    model_config = ConfigDict(extra="forbid")

    consultations: int | None = Field(
        None, ge=0, title="Concertations", description="Nombre de concertations ou consultations organisées."
    )
    inhabitants_attending: int | None = Field(
        None,
        ge=0,
        title="Habitants participants",
        description="Nombre total d'habitants ayant participé (cumulé sur les concertations).",
    )
    topic: ShortText | None = Field(
        None,
        title="Sujet",
        description="Sujet de la concertation (ex. « réaménagement du square »).",
    )


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="neighbourhood_meetings",
        category=Category.LOCAL_DEMOCRACY,
        label_fr="Réunions d'habitants",
        label_en="Neighbourhood meetings",
        open_data_terms={
            "datainclusion.thematiques": ("remobilisation--benevolat-action-citoyenne", "remobilisation--lien-social"),
            "datainclusion.type": ("information",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=NeighbourhoodMeetingsDetails,
        indicators=("neighbourhood_meetings_held", "meeting_attendance"),
        description="Réunions où les habitants débattent de la vie du quartier et des actions de la régie.",
    ),
    ServiceType(
        key="consultations",
        category=Category.LOCAL_DEMOCRACY,
        label_fr="Concertations d'habitants",
        label_en="Consultations of inhabitants",
        open_data_terms={
            "datainclusion.thematiques": ("remobilisation--benevolat-action-citoyenne",),
            "datainclusion.type": ("atelier",),
            "datainclusion.publics": ("tous-publics",),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=ConsultationsDetails,
        indicators=("consultations_held", "consultation_participation"),
        description="Concertations des habitants sur les projets qui touchent leur quartier.",
    ),
)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="neighbourhood_meetings_held",
        label_fr="Réunions d'habitants tenues",
        label_en="Neighbourhood meetings held",
        description="Nombre de réunions d'habitants tenues.",
        source="computed",
        service_type="neighbourhood_meetings",
        details_field="meetings",
    ),
    Indicator(
        key="meeting_attendance",
        label_fr="Participation aux réunions d'habitants",
        label_en="Neighbourhood meeting attendance",
        description="Nombre cumulé d'habitants présents aux réunions.",
        source="computed",
        service_type="neighbourhood_meetings",
        details_field="inhabitants_attending",
    ),
    Indicator(
        key="consultations_held",
        label_fr="Concertations organisées",
        label_en="Consultations held",
        description="Nombre de concertations ou consultations d'habitants organisées.",
        source="computed",
        service_type="consultations",
        details_field="consultations",
    ),
    Indicator(
        key="consultation_participation",
        label_fr="Participation aux concertations",
        label_en="Consultation participation",
        description="Nombre cumulé d'habitants ayant participé aux concertations.",
        source="computed",
        service_type="consultations",
        details_field="inhabitants_attending",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
