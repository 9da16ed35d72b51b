"""Settings of the hub plugin, the `[plugins.hub]` table of a hub's regies.toml."""

from __future__ import annotations

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
