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
    assert "4 passed" in own_tests.stdout


def _walkthrough_code() -> str:
    """The code docs/plugins.md tells an author to append to the scaffolded module for a second service type."""
    guide = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = guide.split("### A second service type", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _own_tests(root: Path) -> subprocess.CompletedProcess[str]:
    """The scaffold's tests as its author runs them, from its directory; a pytest-asyncio deprecation fails them."""
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-W", "error::pytest.PytestDeprecationWarning", "-W", "error::DeprecationWarning:pytest_asyncio",
        "tests",
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGIES_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(root), environment.get("PYTHONPATH", "")])
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=root, timeout=300)


def test_the_docs_walkthrough_keeps_the_scaffold_green(tmp_path: Path) -> None:
    assert main(["plugin", "new", "jardins", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "regies-jardins"
    before = _own_tests(root)
    assert before.returncode == 0 and "4 passed" in before.stdout, before.stdout + before.stderr
    assert "warning" not in before.stdout.lower()

    module = root / "regies_jardins" / "__init__.py"
    module.write_text(module.read_text(encoding="utf-8") + "\n\n" + _walkthrough_code(), encoding="utf-8")
    after = _own_tests(root)
    assert after.returncode == 0 and "4 passed" in after.stdout, after.stdout + after.stderr
    assert "warning" not in after.stdout.lower()

    # The same tests catch what the guide warns about: a details field without a French title.
    module.write_text(module.read_text(encoding="utf-8").replace('title="Parcelles", ', ""), encoding="utf-8")
    untitled = _own_tests(root)
    assert untitled.returncode == 1 and "family_gardens: give these fields a French" in untitled.stdout


def test_invalid_or_existing_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "new", "Bad-Name", "--dir", str(tmp_path)]) == 1
    assert "lowercase" in capsys.readouterr().err
    assert main(["plugin", "new", "ok_name", "--dir", str(tmp_path)]) == 0
    assert main(["plugin", "new", "ok_name", "--dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err
