"""Employment integration and training service types of a régie: CDDI insertion contracts and training sessions."""

from __future__ import annotations

from federation import hookimpl
from federation.plugins import Indicator, Registry, ServiceType
from federation.schema.types import Category
from regies_insertion.models import InsertionContractsDetails, TrainingSessionsDetails

__version__ = "0.1.0"

SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType(
        key="insertion_contracts",
        category=Category.EMPLOYMENT_INTEGRATION,
        label_fr="Contrats d'insertion (CDDI)",
        label_en="Insertion contracts (CDDI)",
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
        key="fte_total",
        label_fr="Équivalents temps plein (total)",
        label_en="Full-time equivalents (total)",
        unit="fte",
        description="Effectif total de la régie en équivalents temps plein, salariés permanents et en insertion, "
        "saisi par la régie.",
        source="entered",
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


@hookimpl
def register_service_types(registry: Registry) -> None:
    """Register the employment integration and training service types."""
    for service_type in SERVICE_TYPES:
        registry.add_service_type(service_type)


@hookimpl
def register_indicators(registry: Registry) -> None:
    """Register the indicators of employment integration and training."""
    for indicator in INDICATORS:
        registry.add_indicator(indicator)
