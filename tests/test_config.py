"""Settings: defaults, the TOML file, REGIES_* overrides, and typos that fail naming the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from federation.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("REGIES_"):
            monkeypatch.delenv(key)


def test_defaults_use_embedded_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'regies.db'}"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.public_base_url == "http://127.0.0.1:8080"


def test_file_then_environment_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "regies.toml").write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n[api]\nmax_page_size = 100\n')
    settings = load_settings(data_dir=tmp_path)
    assert (settings.server.port, settings.server.host, settings.api.max_page_size) == (9001, "0.0.0.0", 100)
    monkeypatch.setenv("REGIES_SERVER__PORT", "9002")
    assert load_settings(data_dir=tmp_path).server.port == 9002
    assert load_settings(data_dir=tmp_path, overrides={"server": {"port": 9003}}).server.port == 9003


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIES_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().data_dir == tmp_path / "elsewhere"


def test_unknown_key_in_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "regies.toml").write_text("[server]\nprot = 8081\n")
    with pytest.raises(ConfigError) as error:
        load_settings(data_dir=tmp_path)
    assert "server.prot" in str(error.value)
    assert str(tmp_path / "regies.toml") in str(error.value)


def test_unknown_section_and_bad_value(tmp_path: Path) -> None:
    (tmp_path / "regies.toml").write_text("[serveur]\nport = 1\n")
    with pytest.raises(ConfigError, match="serveur"):
        load_settings(data_dir=tmp_path)
    (tmp_path / "regies.toml").write_text("[server]\nport = 'huit'\n")
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_settings(data_dir=tmp_path)


def test_unknown_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIES_SERVER__PROT", "1")
    with pytest.raises(ConfigError, match="REGIES_SERVER__PROT"):
        load_settings(data_dir=tmp_path)


def test_invalid_toml_and_missing_explicit_file(tmp_path: Path) -> None:
    (tmp_path / "regies.toml").write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(data_dir=tmp_path, config_file=tmp_path / "absent.toml")


def test_disabled_plugins_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "regies.toml").write_text('[plugins]\ndisabled = ["mobility"]\n[plugins.urban]\nfoo = 1\n')
    monkeypatch.setenv("REGIES_DISABLED_PLUGINS", "democracy, services")
    settings = load_settings(data_dir=tmp_path)
    assert settings.plugins.disabled == ["democracy", "mobility", "services"]
    assert settings.plugins.section("urban") == {"foo": 1}


def test_example_config_is_valid_and_complete(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "node.example.toml"
    settings = load_settings(data_dir=tmp_path, config_file=example)
    text = example.read_text()
    for section in ("server", "database", "api", "federation", "log"):
        model = getattr(settings, section)
        for key in type(model).model_fields:
            assert f"{key} =" in text, f"config/node.example.toml does not document {section}.{key}"


def test_hub_example_config_is_valid(tmp_path: Path) -> None:
    from regies_hub.settings import HubSettings

    example = Path(__file__).resolve().parents[1] / "config" / "hub.example.toml"
    settings = load_settings(data_dir=tmp_path, config_file=example)
    hub = HubSettings.model_validate(settings.plugins.section("hub"))
    assert hub.enabled and hub.report_deadline_days == 90
    assert settings.database_url.startswith("postgresql+asyncpg://")
