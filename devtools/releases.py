"""Earlier releases of this repository, found through CHANGELOG.md and installed from its own git history into
virtual environments cached between runs (keyed by commit), for tests that run them next to the current code."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
# `## 0.1.0 — 2026-11-28` then, in its first lines, "Commit `<40 hex digits>`" (CHANGELOG.md says why: a clone
# without tags still finds every release's commit).
_RELEASE = re.compile(r"^## (\d+\.\d+\.\d+) — (\d{4}-\d{2}-\d{2})\n+Commit `([0-9a-f]{40})`", re.MULTILINE)
# Set to keep the installed releases somewhere else than the user's cache directory.
CACHE_VARIABLE = "REGIES_RELEASE_CACHE"


@dataclass(frozen=True)
class Release:
    version: str
    date: str
    commit: str


def released(changelog: Path = REPOSITORY / "CHANGELOG.md") -> list[Release]:
    """Every release CHANGELOG.md records with its commit, newest first (the unreleased entry has none)."""
    return [Release(*match.groups()) for match in _RELEASE.finditer(changelog.read_text(encoding="utf-8"))]


def previous_release(changelog: Path = REPOSITORY / "CHANGELOG.md") -> Release:
    releases = released(changelog)
    if not releases:
        raise LookupError(f"{changelog} records no release with its commit (`Commit `<sha>``)")
    return releases[0]


def cache_root() -> Path:
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "regies-federation" / "releases"


@dataclass(frozen=True)
class InstalledRelease:
    release: Release
    venv: Path
    # Seconds the installation took in this run; 0 when it came from the cache.
    install_seconds: float

    @property
    def regies(self) -> list[str]:
        """The release's `regies` command (its console script: the working directory's code is never imported)."""
        return [str(self.venv / "bin" / "regies")]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time per release (pytest-xdist workers may ask for it at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_release(release: Release, cache: Path | None = None, repository: Path = REPOSITORY) -> InstalledRelease:
    """The release installed in its own virtual environment under the cache, from this repository's history
    (`git archive` of its commit, then pip, dependencies from the package indexes pip is configured with)."""
    home = (cache or cache_root()) / release.commit
    venv, done = home / "venv", home / "installed"
    with _locked(home.with_suffix(".lock")):
        if done.exists() and (venv / "bin" / "regies").exists():
            return InstalledRelease(release, venv, 0.0)
        started = time.monotonic()
        shutil.rmtree(home, ignore_errors=True)
        source = home / "source"
        source.mkdir(parents=True)
        _export(repository, release.commit, source)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                str(source),
            ],
            capture_output=True,
            text=True,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"pip could not install {release.version}:\n{installed.stdout}{installed.stderr}")
        done.write_text(f"{release.version} {release.commit}\n")
        return InstalledRelease(release, venv, time.monotonic() - started)


def _export(repository: Path, commit: str, destination: Path) -> None:
    """The files of `commit`, from the repository's own objects (no network, no tag needed)."""
    archive = destination.parent / "source.tar"
    with archive.open("wb") as output:
        exported = subprocess.run(
            ["git", "-C", str(repository), "archive", "--format=tar", commit], stdout=output, stderr=subprocess.PIPE
        )
    if exported.returncode != 0:
        raise LookupError(
            f"commit {commit} is not in this clone's history ({exported.stderr.decode(errors='replace').strip()}): "
            "fetch the full history (`git fetch --unshallow`) to run the previous release"
        )
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    archive.unlink()
