"""Node settings: defaults, the TOML config file and REGIES_* environment overrides, validated at boot."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "regies.toml"
DEFAULT_DATA_DIR = Path("var")


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: an interface only this machine reaches."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.rstrip(".").lower() == "localhost"


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names the key and where it came from."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    base_url: str = Field(
        "",
        description="Public URL of this node as other nodes reach it (e.g. https://regie.example.org), written by "
        "`regies init`; signatures are checked against it. Empty only for a node bound to loopback, which then "
        "is http://host:port.",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body, in bytes.")
    # 20 s: above the 15 s for which aiohttp clients (other nodes among them) keep an idle connection to reuse,
    # so that a client does not send a request on a connection the node is closing.
    idle_timeout_s: float = Field(
        20,
        gt=0,
        le=3600,
        description="Seconds a connection may wait for a request's complete headers: after it opens, or between "
        "requests of a kept-alive connection. Then it is closed.",
    )
    body_timeout_s: float = Field(
        30,
        gt=0,
        le=3600,
        description="Seconds a request's body may take to arrive after its headers (then 408 and the connection "
        "closes). 30 s lets a 1 MiB body arrive at 35 KB/s.",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"'{value}' is not a base URL such as https://regie.example.org")
        return value.rstrip("/")


class DatabaseSettings(_Section):
    url: str = Field(
        "",
        description="SQLAlchemy URL. Empty means embedded SQLite at <data_dir>/regies.db. "
        "PostgreSQL: postgresql+asyncpg://user@host/dbname",
    )
    pool_size: int = Field(5, ge=1, le=100)
    echo: bool = False


class ApiSettings(_Section):
    default_page_size: int = Field(50, ge=1, le=1000)
    max_page_size: int = Field(500, ge=1, le=5000)


class FederationSettings(_Section):
    max_signature_age_s: int = Field(300, ge=10, le=3600, description="Oldest signed request accepted.")
    worker: bool = Field(True, description="Run the background sync worker inside `regies serve`.")
    pull_interval_s: float = Field(60, gt=0, description="Seconds between pulls from each peer.")
    push_interval_s: float = Field(5, gt=0, description="Seconds between outbox delivery rounds.")
    # Pages of 2,000 rather than 1,000: a pull of 100,000 records took 8 % less time (each page costs both nodes a
    # signed request and its answer; docs/performance.md). Pushed batches stay within max_batch_bytes all the same.
    batch_size: int = Field(2000, ge=1, le=5000, description="Records per pulled page and per pushed batch.")
    max_batch_bytes: int = Field(524_288, ge=4096, description="Largest pushed batch body, in bytes.")
    inbox_parse_workers: int = Field(
        0,
        ge=0,
        le=16,
        description="Worker processes that validate pushed batches (0: in the server process). A hub receiving "
        "many régies' pushes sets 2: its event loop then stays free for the database work of other batches.",
    )
    inbox_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Pushed batches received at once; the others wait their turn, holding no database connection "
        "and no time of the event loop, so that reads are not queued behind a backlog of pushes. Below "
        "`database.pool_size`, a read always finds a free connection.",
    )
    pull_parse_workers: int = Field(
        0,
        ge=0,
        le=16,
        description="Processes that validate pulled pages while a node catches up on a long backlog, beside the "
        "one that fetches them (0: parse in the pulling process, which a short pull always does). Since pages of "
        "activities are checked by the fast path (federation.protocol.fastpage), a parser costs more in copies "
        "than it saves on two cores: 0 by default; a machine with cores to spare may try 1.",
    )
    retry_initial_s: float = Field(10, gt=0, le=30, description="First retry delay of a failed push.")
    retry_max_s: float = Field(3600, gt=0, le=3600, description="Longest retry delay (exponential, with jitter).")
    breaker_threshold: int = Field(5, ge=1, description="Failures in a row that open a destination's breaker.")
    breaker_cooldown_s: float = Field(300, gt=0, description="How long an open breaker waits before a probe.")
    request_timeout_s: float = Field(30, gt=0, description="Timeout of one request to another node.")
    key_overlap_days: int = Field(7, ge=1, le=90, description="How long a rotated-out key still verifies.")
    discovery_refresh_s: float = Field(
        3600, gt=0, description="How often peers' discovery documents are re-read (key rotations, revocations)."
    )
    allow_private_addresses: bool = Field(
        False,
        description="Let this node contact other nodes at loopback, private or link-local addresses, and over "
        "plain http on loopback: development and closed networks only (docs/operations.md).",
    )
    max_answer_bytes: int = Field(
        33_554_432,
        ge=65_536,
        description="Largest answer read from another node (a feed page, a directory), in bytes; a larger one "
        "is refused before it is all read.",
    )


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    format: Literal["text", "json"] = Field("text", description="json: one JSON object per line, with request id.")


class WebSettings(_Section):
    """`[web]`: the pages for régie staff and coordinators (sessions, lockout, language)."""

    session_hours: float = Field(12, gt=0, le=24 * 30, description="How long a login lasts, in hours.")
    login_burst_per_client: int = Field(
        10, ge=1, le=1000, description="Login attempts a client (an IP address) may make at once."
    )
    login_rate_per_client: float = Field(
        5, gt=0, le=1000, description="Login attempts a client earns back per minute after its burst."
    )
    login_burst_per_account: int = Field(
        20, ge=1, le=1000, description="Login attempts on one username, from every client, at once."
    )
    login_rate_per_account: float = Field(
        10, gt=0, le=1000, description="Login attempts on one username earned back per minute."
    )
    concurrent_password_checks: int = Field(
        2, ge=1, le=64, description="Password hashes computed at once (each takes ~64 MiB and a core)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "headers are believed (e.g. 127.0.0.1); empty: those headers are ignored.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ValueError(f"'{proxy}' is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from exc
        return value

    default_language: Literal["fr", "en"] = Field("fr", description="Language of pages when the browser asks none.")


class PluginSettings(BaseModel):
    """`[plugins]`: `disabled` names plugins to switch off; `[plugins.<name>]` tables go to that plugin."""

    model_config = ConfigDict(extra="allow")

    disabled: list[str] = Field(default_factory=list)

    def section(self, name: str) -> dict[str, Any]:
        return self.sections().get(name, {})

    def sections(self) -> dict[str, dict[str, Any]]:
        """Every `[plugins.<name>]` table, by plugin name."""
        sections = {}
        for name, value in (self.model_extra or {}).items():
            if not isinstance(value, dict):
                raise ConfigError(
                    f"[plugins] '{name}' is not a setting; plugin settings go in a [plugins.{name}] table"
                )
            sections[name] = value
        return sections


class Settings(BaseSettings):
    """Every setting of a node. Precedence: explicit arguments > REGIES_* environment > config file > defaults."""

    model_config = SettingsConfigDict(
        env_prefix="REGIES_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    config_file: Path | None = Field(None, description="The TOML file these settings were read from.")
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    federation: FederationSettings = Field(default_factory=FederationSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'regies.db'}"

    @property
    def public_base_url(self) -> str:
        """This node's URL: `server.base_url`, else (a node bound to loopback) http://host:port."""
        if self.server.base_url:
            return self.server.base_url.rstrip("/")
        host = self.server.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.server.port}"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = getattr(init_settings, "init_kwargs", {}).get("config_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file and Path(config_file).exists():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


# Environment variables read outside the settings model (by the CLI, the plugin switch and the tests).
_KNOWN_ENV = {"REGIES_CONFIG", "REGIES_DISABLED_PLUGINS", "REGIES_TEST_POSTGRES_URL", "REGIES_SKIP_BROWSER"}


def _unknown_env_keys(environ: Mapping[str, str]) -> list[str]:
    unknown = []
    for key in environ:
        if not key.startswith("REGIES_") or key in _KNOWN_ENV:
            continue
        head, _, tail = key.removeprefix("REGIES_").lower().partition("__")
        field = Settings.model_fields.get(head)
        if field is None or head == "config_file":
            unknown.append(key)
            continue
        section = field.annotation
        is_section = isinstance(section, type) and issubclass(section, _Section)
        if tail and is_section and tail not in section.model_fields:  # type: ignore[union-attr]
            unknown.append(key)
    return unknown


def _format_error(error: Any, source: str) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown setting '{key}' in {source}"
    return f"invalid setting '{key}' in {source}: {error['msg']}"


def load_settings(
    data_dir: Path | str | None = None,
    config_file: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build the node's settings, failing with ConfigError naming the offending key and its source."""
    unknown = _unknown_env_keys(os.environ)
    if unknown:
        raise ConfigError(f"unknown setting in environment: {', '.join(sorted(unknown))}")

    resolved_dir = Path(data_dir or os.environ.get("REGIES_DATA_DIR") or DEFAULT_DATA_DIR)
    explicit = config_file or os.environ.get("REGIES_CONFIG")
    path = Path(explicit or resolved_dir / CONFIG_FILE_NAME)
    if path.exists():
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        for forbidden in ("data_dir", "config_file"):
            if forbidden in file_values:
                raise ConfigError(f"'{forbidden}' cannot be set in {path}; use --data-dir or REGIES_DATA_DIR")
        try:
            Settings.model_validate(file_values)
        except ValidationError as exc:
            raise ConfigError("; ".join(_format_error(e, str(path)) for e in exc.errors())) from exc
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")

    values: dict[str, Any] = dict(overrides or {})
    values["data_dir"] = resolved_dir
    values["config_file"] = path if path.exists() else None
    disabled = os.environ.get("REGIES_DISABLED_PLUGINS")
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise ConfigError(
            "; ".join(_format_error(e, "REGIES_* environment or arguments") for e in exc.errors())
        ) from exc
    if disabled is not None:
        names = [name.strip() for name in disabled.split(",") if name.strip()]
        settings.plugins.disabled = sorted(set(settings.plugins.disabled) | set(names))
    return settings
