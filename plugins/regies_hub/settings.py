"""Settings of the hub plugin, the `[plugins.hub]` table of a hub's regies.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Run this node as the network's hub.")
    report_deadline_days: int = Field(
        90, ge=0, le=366, description="Days after the end of a period within which a report counts as on time."
    )
