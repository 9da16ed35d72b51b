"""The `regies` command as an operator uses it: init, tokens, database upgrade, version, clear errors."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.loadgen import free_port
from federation import PROTOCOL_VERSION, SCHEMA_VERSION, __version__
from federation.cli import main
from federation.cli_federation import ProgressBar
from federation.config import Settings, load_settings
from federation.protocol import persistence
from federation.protocol.puller import PullProgress
from federation.storage.engine import create_engine

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("REGIES_") and key != "REGIES_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_init_prints_a_token_once_and_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "var"
    assert main(["--data-dir", str(data), "init", "--name", "Régie du Val Fleuri"]) == 0
    out = capsys.readouterr().out
    token = _last_line(out)
    assert token.startswith("rgs_")
    assert "regie-du-val-fleuri" in out
    token_file = data / "admin-token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert (data / "regies.toml").exists()

    assert main(["--data-dir", str(data), "init"]) == 0
    again = capsys.readouterr().out
    assert "already initialised" in again
    assert "rgs_" not in again


def test_token_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "var")
    main(["--data-dir", data, "init", "--node-id", "rq-cli"])
    capsys.readouterr()
    assert main(["--data-dir", data, "token", "create", "--name", "import-csv"]) == 0
    token = _last_line(capsys.readouterr().out)
    assert token.startswith("rgs_")
    assert main(["--data-dir", data, "token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "import-csv" in listing and "admin" in listing and token not in listing
    assert main(["--data-dir", data, "token", "revoke", "import-csv"]) == 0
    assert main(["--data-dir", data, "token", "revoke", "import-csv"]) == 1
    assert "no active token" in capsys.readouterr().err


def test_commands_on_an_uninitialised_node_explain_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path / "none"), "token", "create", "--name", "x"]) == 1
    assert "regies init" in capsys.readouterr().err


def test_db_upgrade_reports_the_revision(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--data-dir", str(settings.data_dir)]
    os.environ["REGIES_DATABASE__URL"] = settings.database_url
    try:
        assert main([*args, "db", "upgrade"]) == 0
        assert "upgraded from empty to revision" in capsys.readouterr().out
        assert main([*args, "db", "upgrade"]) == 0
        assert "already at revision" in capsys.readouterr().out
    finally:
        del os.environ["REGIES_DATABASE__URL"]


def test_config_typo_fails_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "regies.toml").write_text("[server]\nprot = 1\n")
    assert main(["--data-dir", str(tmp_path), "init"]) == 1
    assert "server.prot" in capsys.readouterr().err


def test_version_and_console_script(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "federation", "version"], capture_output=True, text=True, check=True)
    software, protocol, schema = result.stdout.splitlines()
    assert software == f"regies-federation {__version__}"
    assert protocol == f"protocol {PROTOCOL_VERSION}" and re.fullmatch(r"protocol \d+\.\d+", protocol)
    assert schema == f"common schema {SCHEMA_VERSION}" and re.fullmatch(r"common schema \d+\.\d+", schema)
    # The software's version is the installed distribution's: `pip` and `regies version` agree.
    assert importlib.metadata.version("regies-federation") == __version__


def test_sync_without_peers_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "node")
    assert main(["--data-dir", data, "init", "--node-id", "rq-alone"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "sync"]) == 0
    assert "No peers yet. Add one with: regies peer add" in capsys.readouterr().out
    assert main(["--data-dir", data, "peers"]) == 0
    assert "No peers yet" in capsys.readouterr().out


def test_a_command_loads_its_plugins_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Plugins are loaded before parsing (they may add commands); the command reuses them rather than paying a
    # second build at every start.
    import federation.plugins

    data = str(tmp_path / "node")
    assert main(["--data-dir", data, "init", "--node-id", "rq-once"]) == 0
    builds: list[object] = []
    real_build = federation.plugins.build_plugins

    def counting_build(*args: object, **kwargs: object) -> object:
        builds.append(args)
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(federation.plugins, "build_plugins", counting_build)
    assert main(["--data-dir", data, "sync"]) == 0
    assert main(["--data-dir", data, "plugins"]) == 0
    assert len(builds) == 2


def test_a_command_reads_the_config_its_own_options_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Settings loaded before parsing serve the command only if they come from the same --data-dir and --config.
    data = tmp_path / "node"
    assert main(["--data-dir", str(data), "init", "--node-id", "rq-conf"]) == 0
    config = tmp_path / "other.toml"
    config.write_text('[plugins]\ndisabled = ["exports"]\n')
    capsys.readouterr()
    assert main(["--data-dir", str(data), "--config", str(config), "plugins"]) == 0
    assert "disabled: exports" in capsys.readouterr().out
    assert main(["--data-dir", str(data), "plugins"]) == 0
    assert "disabled:" not in capsys.readouterr().out


def test_starting_a_command_imports_no_page_code() -> None:
    # The web package's helpers load on first use: every command would otherwise import Jinja2 and the pages.
    code = "import sys, federation.cli; print([m for m in ('jinja2', 'federation.web.rendering') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    code = "from federation.web import render, NODE_ROLES, NavEntry; print(render.__module__, NODE_ROLES)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["federation.web.rendering", "('admin',", "'staff')"]


def test_a_failed_sync_says_why_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "node"
    assert main(["--data-dir", str(data), "init", "--node-id", "rq-here"]) == 0

    async def pin_unreachable_peer() -> None:
        engine = create_engine(load_settings(data_dir=data).database_url)
        try:
            address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
            await persistence.save_peer(engine, node_id="rq-gone", name="Régie partie", base_url=address, keys=[])
        finally:
            await engine.dispose()

    asyncio.run(pin_unreachable_peer())
    # A process of its own, as a user runs it: there, logging is not captured by pytest.
    result = subprocess.run(
        [sys.executable, "-m", "federation", "--data-dir", str(data), "sync", "--pull-only"],
        capture_output=True,
        text=True,
        env={
            **{key: value for key, value in os.environ.items() if not key.startswith("REGIES_")},
            "REGIES_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",  # the peer is on 127.0.0.1
        },
    )
    assert result.returncode == 1
    assert result.stderr.count("pull from rq-gone failed") == 1, result.stderr
    assert "cannot connect to 127.0.0.1" in result.stderr
    # `regies peers` shows the reason with the request's path, not the address the row already stands for.
    assert main(["--data-dir", str(data), "peers"]) == 0
    output = capsys.readouterr().out
    (row,) = [line for line in output.splitlines() if line.startswith("rq-gone")]
    assert "GET /federation/v1/changes: cannot connect to 127.0.0.1" in row
    assert "http://" not in row and "since=" not in row
    assert "Full error texts: regies peers --json" in output


def test_outbox_names_the_batches_it_could_not_act_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "node")
    assert main(["--data-dir", data, "init", "--node-id", "rq-here"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "outbox", "retry", "999"]) == 1
    output = capsys.readouterr()
    assert "0 batch(es) queued again" in output.out
    assert "batch 999: no pending or failed batch with this id (see `regies outbox --all`)" in output.err
    assert main(["--data-dir", data, "outbox", "discard", "7", "8"]) == 1
    assert capsys.readouterr().err.count("no pending or failed batch with this id") == 2
    assert main(["--data-dir", data, "outbox", "retry", "--all-failed"]) == 1  # nothing failed


def test_sync_progress_is_redrawn_on_a_terminal_and_logged_in_lines_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    outputs = []
    for stream in (Terminal(), io.StringIO()):
        bar = ProgressBar("rq-a", stream)
        progress = PullProgress(peer="rq-a", started=clock[0])
        for page in range(1, 31):  # a page of 100 records a second
            clock[0] += 1.0
            progress.received, progress.remaining = page * 100, 3000 - page * 100
            bar(progress)
        bar.done()
        outputs.append(stream.getvalue())
    terminal, log = outputs
    assert terminal.count("\r") == 30 and terminal.endswith("\n")
    lines = log.splitlines()
    assert "\r" not in log and len(lines) == 4  # the first page, every 10 s, and the end
    assert "3,000/3,000" in lines[-1] and "100/s" in lines[-1]
