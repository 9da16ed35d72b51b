"""Employment integration and training service types of a régie: CDDI insertion contracts and training sessions."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from federation.plugin_api import Category, Indicator, ServiceType, ServiceTypeHooks, ShortText

__version__ = "0.1.0"


class InsertionContractsDetails(BaseModel):
    """Salariés en insertion (CDDI) d'un atelier et chantier d'insertion (ACI) ou d'une entreprise d'insertion (EI).

    The exits are split into durable employment, transitional employment and other positive exits; their
    total, `exits_to_employment`, is filled in from the split when left out, and never exceeds the employees.
    """

    model_config = ConfigDict(extra="forbid")

    structure: Literal["ACI", "EI"] = Field(
        title="Type de structure",
        description="Convention d'insertion : ACI (atelier et chantier d'insertion) ou EI (entreprise d'insertion).",
    )
    employees_cddi: int | None = Field(
        None,
        ge=0,
        title="Salariés en CDDI",
        description="Nombre de salariés en contrat à durée déterminée d'insertion (CDDI) sur la période.",
    )
    hours_worked: float | None = Field(
        None, ge=0, title="Heures travaillées", description="Heures travaillées par les salariés en insertion."
    )
    exits_to_employment: int | None = Field(
        None,
        ge=0,
        title="Sorties dynamiques",
        description="Total des sorties vers l'emploi durable, l'emploi de transition et des sorties positives ; "
        "calculé à partir du détail s'il est omis.",
    )
    exits_durable_employment: int | None = Field(
        None,
        ge=0,
        title="Sorties en emploi durable",
        description="Sorties vers un CDI, un CDD ou une mission d'intérim de six mois ou plus, ou une création "
        "d'entreprise.",
    )
    exits_transitional_employment: int | None = Field(
        None,
        ge=0,
        title="Sorties en emploi de transition",
        description="Sorties vers un CDD ou une mission d'intérim de moins de six mois, ou un contrat aidé.",
    )
    exits_positive: int | None = Field(
        None,
        ge=0,
        title="Sorties positives",
        description="Sorties vers une formation qualifiante, une autre structure d'insertion ou un autre "
        "accompagnement.",
    )

    @model_validator(mode="after")
    def _exits_consistent(self) -> Self:
        split = (self.exits_durable_employment, self.exits_transitional_employment, self.exits_positive)
        given = [value for value in split if value is not None]
        if given:
            split_sum = sum(given)
            if self.exits_to_employment is None:
                self.exits_to_employment = split_sum
            elif len(given) == len(split) and self.exits_to_employment != split_sum:
                raise ValueError(
                    f"exits_to_employment ({self.exits_to_employment}) must equal the sum of durable, transitional "
                    f"and positive exits ({split_sum})"
                )
            elif self.exits_to_employment < split_sum:
                raise ValueError(
                    f"exits_to_employment ({self.exits_to_employment}) must not be less than the detailed exits "
                    f"({split_sum})"
                )
        if (
            self.employees_cddi is not None
            and self.exits_to_employment is not None
            and self.exits_to_employment > self.employees_cddi
        ):
            raise ValueError(
                f"exits ({self.exits_to_employment}) must not exceed employees_cddi ({self.employees_cddi}) "
                f"in an {self.structure}"
            )
        return self


class TrainingSessionsDetails(BaseModel):
    """Sessions de formation (salariés en insertion ou habitants)."""

    model_config = ConfigDict(extra="forbid")

    sessions: int | None = Field(None, ge=0, title="Sessions", description="Nombre de sessions de formation.")
    trainees: int | None = Field(None, ge=0, title="Stagiaires", description="Nombre de personnes formées.")
    hours: float | None = Field(
        None, ge=0, title="Heures de formation", description="Durée cumulée des sessions, en heures."
    )
    certificates_obtained: int | None = Field(
        None,
        ge=0,
        title="Certifications obtenues",
        description="Nombre de stagiaires ayant obtenu la certification ou le titre visé.",
    )
    certificate: ShortText | None = Field(
        None,
        title="Certification visée",
        description="Nom de la certification ou du titre préparé (ex. « CQP agent de propreté et d'hygiène »).",
    )

    @model_validator(mode="after")
    def _certificates_within_trainees(self) -> Self:
        if (
            self.trainees is not None
            and self.certificates_obtained is not None
            and self.certificates_obtained > self.trainees
        ):
            raise ValueError(
                f"certificates_obtained ({self.certificates_obtained}) must not exceed trainees ({self.trainees})"
            )
        return self


SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="insertion_contracts",
        category=Category.EMPLOYMENT_INTEGRATION,
        label_fr="Contrats d'insertion (CDDI)",
        label_en="Insertion contracts (CDDI)",
        open_data_terms={
            "datainclusion.thematiques": (
                "trouver-un-emploi--repondre-a-des-offres-demploi",
                "preparer-sa-candidature--valoriser-ses-competences",
            ),
            "datainclusion.type": ("accompagnement",),
            "datainclusion.publics": ("beneficiaires-des-minimas-sociaux", "demandeurs-emploi", "residents-qpv-frr"),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
            "datainclusion.reseau_porteur_field": ("structure",),
        },
        details_model=InsertionContractsDetails,
        indicators=(
            "employees_cddi",
            "insertion_hours",
            "exits_to_employment",
            "exits_durable_employment",
            "exits_transitional_employment",
            "exits_positive",
        ),
        description="Salariés en contrat à durée déterminée d'insertion dans un ACI ou une EI, heures travaillées "
        "et sorties.",
    ),
    ServiceType(
        key="training_sessions",
        category=Category.TRAINING,
        label_fr="Sessions de formation",
        label_en="Training sessions",
        open_data_terms={
            "datainclusion.thematiques": ("se-former--trouver-sa-formation",),
            "datainclusion.type": ("formation",),
            "datainclusion.publics": ("demandeurs-emploi", "residents-qpv-frr"),
            "datainclusion.frais": ("gratuit",),
            "datainclusion.modes_accueil": ("en-presentiel",),
        },
        details_model=TrainingSessionsDetails,
        indicators=("training_hours", "people_trained", "certificates_obtained"),
        description="Formations des salariés en insertion et des habitants, qualifiantes ou non.",
    ),
)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="employees_cddi",
        label_fr="Salariés en CDDI",
        label_en="Employees on insertion contracts (CDDI)",
        description="Nombre de salariés en contrat à durée déterminée d'insertion.",
        source="computed",
        service_type="insertion_contracts",
        details_field="employees_cddi",
    ),
    Indicator(
        key="insertion_hours",
        label_fr="Heures travaillées en insertion",
        label_en="Insertion hours worked",
        unit="hours",
        description="Heures travaillées par les salariés en insertion.",
        source="computed",
        service_type="insertion_contracts",
        details_field="hours_worked",
    ),
    Indicator(
        key="exits_to_employment",
        label_fr="Sorties dynamiques",
        label_en="Exits to employment or training",
        description="Sorties vers l'emploi durable, l'emploi de transition et sorties positives.",
        source="computed",
        service_type="insertion_contracts",
        details_field="exits_to_employment",
    ),
    Indicator(
        key="exits_durable_employment",
        label_fr="Sorties en emploi durable",
        label_en="Exits to durable employment",
        description="Sorties vers un CDI, un CDD ou une mission d'intérim de six mois ou plus, ou une création "
        "d'entreprise.",
        source="computed",
        service_type="insertion_contracts",
        details_field="exits_durable_employment",
    ),
    Indicator(
        key="exits_transitional_employment",
        label_fr="Sorties en emploi de transition",
        label_en="Exits to transitional employment",
        description="Sorties vers un CDD ou une mission d'intérim de moins de six mois, ou un contrat aidé.",
        source="computed",
        service_type="insertion_contracts",
        details_field="exits_transitional_employment",
    ),
    Indicator(
        key="exits_positive",
        label_fr="Sorties positives",
        label_en="Other positive exits",
        description="Sorties vers une formation qualifiante, une autre structure d'insertion ou un autre "
        "accompagnement.",
        source="computed",
        service_type="insertion_contracts",
        details_field="exits_positive",
    ),
    Indicator(
        key="training_hours",
        label_fr="Heures de formation",
        label_en="Training hours",
        unit="hours",
        description="Durée cumulée des sessions de formation, en heures.",
        source="computed",
        service_type="training_sessions",
        details_field="hours",
    ),
    Indicator(
        key="people_trained",
        label_fr="Personnes formées",
        label_en="People trained",
        description="Nombre de stagiaires des sessions de formation.",
        source="computed",
        service_type="training_sessions",
        details_field="trainees",
    ),
    Indicator(
        key="certificates_obtained",
        label_fr="Certifications obtenues",
        label_en="Certificates obtained",
        description="Nombre de certifications ou titres obtenus à l'issue des formations.",
        source="computed",
        service_type="training_sessions",
        details_field="certificates_obtained",
    ),
)


# The plugin's hooks: registering its service types and indicators, and recognising their labels.
hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)
register_service_types = hooks.register_service_types
register_indicators = hooks.register_indicators
service_type_for_label = hooks.service_type_for_label
