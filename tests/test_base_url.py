"""A node knows its own URL: `regies init` writes `server.base_url`, `regies serve` will not start without one on
an interface other nodes reach, and the discovery document names it whatever Host a client sends."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from federation.app import create_app
from federation.bootstrap import init_node
from federation.cli import main
from federation.config import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("REGIES_") and key != "REGIES_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)


def _base_url(data: Path) -> str:
    value: str = tomllib.loads((data / "regies.toml").read_text())["server"]["base_url"]
    return value


def test_init_writes_the_loopback_default_or_the_given_url(tmp_path: Path) -> None:
    assert main(["--data-dir", str(tmp_path / "local"), "init", "--node-id", "rq-local"]) == 0
    assert _base_url(tmp_path / "local") == ""  # on loopback: http://127.0.0.1:<the port it serves on>
    assert load_settings(data_dir=tmp_path / "local").public_base_url == "http://127.0.0.1:8080"
    served = load_settings(data_dir=tmp_path / "local", overrides={"server": {"port": 8123}})
    assert served.public_base_url == "http://127.0.0.1:8123"
    public = tmp_path / "public"
    assert main(["--data-dir", str(public), "init", "--base-url", "https://regie.example.org/"]) == 0
    assert _base_url(public) == "https://regie.example.org"
    assert load_settings(data_dir=public).public_base_url == "https://regie.example.org"


def test_init_on_a_public_interface_needs_a_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGIES_SERVER__HOST", "0.0.0.0")
    assert main(["--data-dir", str(tmp_path / "var"), "init"]) == 1
    assert "pass --base-url https://" in capsys.readouterr().err
    assert not (tmp_path / "var" / "regies.db").exists()  # nothing created
    assert main(["--data-dir", str(tmp_path / "var"), "init", "--base-url", "ftp://regie.example.org"]) == 1
    assert "is not a base URL" in capsys.readouterr().err


def test_serve_refuses_an_empty_base_url_unless_bound_to_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "var"
    assert main(["--data-dir", str(data), "init", "--node-id", "rq-serve"]) == 0
    config = data / "regies.toml"
    config.write_text(config.read_text().replace('base_url = "http://127.0.0.1:8080"', 'base_url = ""'))
    capsys.readouterr()
    assert main(["--data-dir", str(data), "serve", "--host", "0.0.0.0", "--port", "1"]) == 1
    error = capsys.readouterr().err
    assert "server.base_url is empty and this node listens on 0.0.0.0" in error
    # On loopback, an empty base_url is http://host:port.
    assert load_settings(data_dir=data, overrides={"server": {"port": 8099}}).public_base_url == "http://127.0.0.1:8099"


def test_a_config_typo_in_base_url_fails_at_boot_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "regies.toml"
    config.write_text('[server]\nbase_url = "regie.example.org"\n')
    with pytest.raises(ConfigError, match=r"invalid setting 'server.base_url' .*is not a base URL"):
        load_settings(data_dir=tmp_path)


async def test_the_discovery_document_names_the_configured_url_whatever_the_host_header(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    data = tmp_path / "var"
    await init_node(load_settings(data_dir=data), "Régie", node_id="rq-doc", base_url="https://regie.example.org")
    client = await aiohttp_client(create_app(load_settings(data_dir=data)))
    answer = await client.get("/.well-known/regies-node", headers={"Host": "evil.example:443"})
    document = await answer.json()
    assert document["base_url"] == "https://regie.example.org"
    assert document["endpoints"]["changes"] == "https://regie.example.org/federation/v1/changes"
