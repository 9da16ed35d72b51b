"""Settings of the hub plugin, the `[plugins.hub]` table of a hub's regies.toml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

OPEN_DATASETS = ("directory", "activities", "indicators")
# Etalab's Licence Ouverte 2.0, the licence of French public-sector open data.
LICENCE_OUVERTE = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"


class OpenDataSettings(BaseModel):
    """What the hub opens to everyone, `[plugins.hub.open_data]`: listed in /catalog.jsonld (DCAT-AP), served
    without a token at /plugins/hub/opendata/<dataset>. Nothing is open until a coordinator lists it here."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[Literal["directory", "activities", "indicators"]] = Field(
        default_factory=list,
        description="Datasets to open: the directory of members, and the national tables of activities and of "
        "indicators (nationally accepted reports only) for each period in `periods`.",
    )
    periods: list[str] = Field(
        default_factory=list, description="Periods whose national tables are open: 2025, 2025-Q3 or 2023-2025."
    )
    min_regies: int = Field(
        3,
        ge=1,
        le=1000,
        description="Small-cell rule: a cell of a published table that fewer régies contributed to is left empty "
        "(with a neighbour, where the totals would give it away).",
    )
    licence: str = Field(LICENCE_OUVERTE, description="The licence's URI, published with every dataset.")

    @field_validator("periods")
    @classmethod
    def _known_periods(cls, periods: list[str]) -> list[str]:
        from federation.plugin_api import parse_period_key  # only where open periods are configured

        for key in periods:
            parse_period_key(key)  # ValueError names the key
        return list(dict.fromkeys(periods))


class HubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Run this node as the network's hub.")
    report_deadline_days: int = Field(
        90, ge=0, le=366, description="Days after the end of a period within which a report counts as on time."
    )
    enrolment_max_pending: int = Field(
        500, ge=1, le=100_000, description="Join requests that may await a decision at once; more get 429."
    )
    enrolment_max_pending_per_source: int = Field(
        3, ge=1, le=1000, description="Join requests from one address that may await a decision at once."
    )
    enrolment_requests_per_hour: int = Field(
        20, ge=1, le=10_000, description="Join requests one address may send per hour (429 with Retry-After)."
    )
    approval_levels: Literal[1, 2] = Field(
        2,
        description="Report approval levels: 2, a regional coordinator validates then a national coordinator accepts "
        "(a national coordinator may accept a submitted report directly, both steps in one); 1, any coordinator's "
        "validation is final.",
    )
    open_data: OpenDataSettings = Field(default_factory=OpenDataSettings)
