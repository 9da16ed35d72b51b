"""What the test suite needs from the machine (Chromium, a PostgreSQL server), and a throwaway PostgreSQL server.

`make test` runs `python -m tests.prerequisites` before pytest: it installs Debian's `chromium` and `postgresql`
packages with apt when they are missing and the user is root, or stops at once with the command to run. The
PostgreSQL fixtures (tests/conftest.py) then use the server answering on REGIES_TEST_POSTGRES_URL, or start a
throwaway one from the installed binaries with `ThrowawayPostgres` (one per pytest process, stopped at the end).

It imports nothing outside the standard library, so that it runs before the project is installed, with any Python.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
CHROMIUM = Path("/usr/bin/chromium")
DEBIAN_POSTGRES_BINARIES = Path("/usr/lib/postgresql")
# initdb and the server refuse to run as root; Debian's package creates this account.
POSTGRES_ACCOUNT = "postgres"


class MissingPrerequisite(Exception):
    """Something the suite needs is absent and this user cannot install it."""


def configured_admin_url() -> str:
    return os.environ.get("REGIES_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def dsn(url: str) -> str:
    """The SQLAlchemy URL as asyncpg wants it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_address(url: str) -> tuple[str, int]:
    parsed = urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 5432


def server_answers(url: str) -> bool:
    """True when something accepts connections at the URL's host and port (authentication is not tried here:
    a server that refuses our credentials should fail the tests loudly, not be silently replaced)."""
    try:
        with socket.create_connection(server_address(url), timeout=2):
            return True
    except OSError:
        return False


def find_postgres_binaries(search: Sequence[Path] | None = None) -> Path | None:
    """The directory holding initdb and pg_ctl: the given ones, else PATH, else Debian's newest version."""
    if search is None:
        on_path = shutil.which("initdb")
        versions = sorted(
            DEBIAN_POSTGRES_BINARIES.glob("*/bin"),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
            reverse=True,
        )
        search = ([Path(on_path).resolve().parent] if on_path else []) + versions
    for directory in search:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def is_root() -> bool:
    return os.geteuid() == 0


APT_INSTALL = "apt-get install -y {package}"


def install_command(package: str) -> list[str]:
    return ["apt-get", "install", "-y", "-qq", package]


@dataclass
class Check:
    chromium: Path
    postgres_url: str
    postgres_search: Sequence[Path] | None
    dry_run: bool

    def say(self, message: str) -> None:
        print(f"make test: {message}", flush=True)

    def install(self, package: str, why: str) -> None:
        if not is_root():
            raise MissingPrerequisite(
                f"{why}; install it, then run `make test` again:\n    sudo {APT_INSTALL.format(package=package)}"
            )
        self.say(f"{why}: installing Debian's {package} package (apt-get install {package})")
        if self.dry_run:
            self.say(f"dry run: would run apt-get update and {' '.join(install_command(package))}")
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], install_command(package)):
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise MissingPrerequisite(f"`{' '.join(command)}` failed:\n{done.stdout}{done.stderr}")

    def run(self) -> None:
        if not os.access(self.chromium, os.X_OK):
            self.install("chromium", f"the browser tests need Chromium and {self.chromium} is missing")
        if server_answers(self.postgres_url):
            return
        host, port = server_address(self.postgres_url)
        where = f"{host}:{port}"
        if find_postgres_binaries(self.postgres_search) is None:
            self.install("postgresql", f"no PostgreSQL server answers on {where} and its programs are not installed")
        self.say(f"no PostgreSQL server answers on {where}: the tests start a throwaway one for the run")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.prerequisites", description=__doc__)
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help="the browser the tests drive")
    parser.add_argument("--postgres-bin", type=Path, help="look for initdb and pg_ctl only in this directory")
    parser.add_argument("--dry-run", action="store_true", help="say what would be installed, install nothing")
    args = parser.parse_args(argv)
    search = [args.postgres_bin] if args.postgres_bin else None
    try:
        Check(args.chromium, configured_admin_url(), search, args.dry_run).run()
    except MissingPrerequisite as exc:
        print(f"make test: {exc}", file=sys.stderr)
        return 1
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_postgres(binaries: Path) -> Iterator[str]:
    """A PostgreSQL server in a temporary directory on a free port, trusting local connections; yields its
    admin URL and deletes everything when the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="regies-test-pg-"))
    as_account: list[str] = []
    if is_root():
        try:
            account = pwd.getpwnam(POSTGRES_ACCOUNT)
        except KeyError:
            shutil.rmtree(directory)
            raise RuntimeError(
                f"PostgreSQL refuses to run as root and there is no '{POSTGRES_ACCOUNT}' account to run it as: "
                f"create one (`useradd --system {POSTGRES_ACCOUNT}`) or set REGIES_TEST_POSTGRES_URL"
            ) from None
        os.chown(directory, account.pw_uid, account.pw_gid)
        as_account = ["runuser", "-u", POSTGRES_ACCOUNT, "--"]
    data, log = directory / "data", directory / "server.log"
    port = _free_port()
    started = False
    try:
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        _run([*as_account, *initdb, "--no-sync"])
        # Durability settings stay at their defaults: tests/storage/test_durability.py checks them.
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
        _run([*as_account, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"])
        started = True
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        asyncio.run(_wait_ready(url))
        yield url
    finally:
        if started:
            _run([*as_account, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(directory, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}")


async def _wait_ready(url: str) -> None:
    import asyncpg

    for _ in range(50):
        try:
            connection = await asyncpg.connect(dsn(url))
        except (OSError, asyncpg.CannotConnectNowError):
            await asyncio.sleep(0.1)
            continue
        await connection.close()
        return
    raise RuntimeError(f"the throwaway PostgreSQL server at {url} did not accept connections")


if __name__ == "__main__":
    sys.exit(main())
