"""Settings of the hub plugin, the `[plugins.hub]` table of a hub's regies.toml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
