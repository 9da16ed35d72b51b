"""Settings of the lending plugin, the `[plugins.lending]` table of regies.toml: e-mail notifications."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MailSettings(BaseModel):
    """`[plugins.lending]` of regies.toml: e-mail notifications, off by default."""

    model_config = ConfigDict(extra="forbid")

    notifications: bool = Field(False, description="Send e-mails on a new request and on a decision.")
    smtp_host: str = Field("127.0.0.1", description="The SMTP server the node sends through.")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before logging in.")
    smtp_username: str = ""
    smtp_password: str = ""
    sender: str = Field("regie@localhost", description="The From address of the notifications.")
    public_url: str = Field("", description="The back-office's address the e-mails link to (none when empty).")
    retry_first_s: float = Field(30.0, gt=0, le=3600, description="Wait before the first retry; doubles each time.")
    retry_max_s: float = Field(3600.0, gt=0, le=86_400, description="Longest wait between retries.")
    poll_s: float = Field(5.0, gt=0, le=3600, description="How often the outbox is looked at.")
