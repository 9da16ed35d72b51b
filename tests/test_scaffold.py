"""`regies plugin new`: the scaffolded package installs, is discovered, works, can be disabled, and its test passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from federation.cli import main


def _run(args: list[str], site: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGIES_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(site), environment.get("PYTHONPATH", "")])
    environment.update(env)
    return subprocess.run(args, capture_output=True, text=True, env=environment, timeout=300)


def test_scaffolded_plugin_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "new", "jardins", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "regies-jardins"
    assert "Created plugin package" in capsys.readouterr().out
    assert (root / "pyproject.toml").exists() and (root / "regies_jardins" / "__init__.py").exists()

    # Install into a private directory: the real thing (a wheel build and its entry points), without
    # touching the environment the rest of the suite runs in.
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(site), str(root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr

    listed = _run([sys.executable, "-m", "federation", "plugins", "--json"], site)
    assert listed.returncode == 0, listed.stderr
    plugins = {plugin["name"]: plugin for plugin in json.loads(listed.stdout)["plugins"]}
    assert plugins["jardins"]["service_types"] == ["jardins_activity"]
    assert plugins["jardins"]["distribution"] == "regies-jardins"
    assert "urban" in plugins  # alongside the built-ins, no key collision

    disabled = _run([sys.executable, "-m", "federation", "plugins", "--json"], site, REGIES_DISABLED_PLUGINS="jardins")
    assert "jardins" not in {plugin["name"] for plugin in json.loads(disabled.stdout)["plugins"]}

    own_tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")], site)
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    assert "3 passed" in own_tests.stdout


def test_invalid_or_existing_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "new", "Bad-Name", "--dir", str(tmp_path)]) == 1
    assert "lowercase" in capsys.readouterr().err
    assert main(["plugin", "new", "ok_name", "--dir", str(tmp_path)]) == 0
    assert main(["plugin", "new", "ok_name", "--dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err
