"""Details models of employment integration (CDDI insertion contracts) and training activities."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


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

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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
    certificate: str | None = Field(
        None,
        min_length=1,
        max_length=200,
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
