"""The web accounts `make demo` creates with known passwords, the summary lines that show them, and the demo's error."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devtools.loadgen import node_env


class DemoError(Exception):
    """The demo could not be set up; the message says why."""


@dataclass(frozen=True)
class WebLogin:
    """A web account the demo creates, with a known password: printed so that anyone can log in at once."""

    username: str
    password: str
    role: str
    region: str | None
    who: str


# The coordinators' dashboard on the hub: national, and regional for Auvergne-Rhône-Alpes (where La Duchère is).
HUB_LOGINS = (
    WebLogin("coord-national", "demo-nationale-2026", "national", None, "coordination nationale / national"),
    WebLogin("coord-aura", "demo-regionale-2026", "regional", "84", "coordination régionale 84 / regional (84)"),
)
# The back-office of each régie.
REGIE_LOGIN = WebLogin("admin", "demo-regie-2026", "admin", None, "administration de la régie / régie admin")


async def add_login(data_dir: Path, login: WebLogin) -> None:
    """`regies user add` as an operator runs it, the password on stdin."""
    region = ["--region", login.region] if login.region else []
    command = [sys.executable, "-m", "federation", "--data-dir", str(data_dir), "user", "add", login.username]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, "--role", login.role, *region, "--password-stdin"],
        input=login.password + "\n",
        capture_output=True,
        text=True,
        env=node_env(),
        timeout=120,
    )
    if result.returncode != 0:
        raise DemoError(f"`regies user add {login.username}` failed:\n{result.stdout}{result.stderr}")


def hub_login_lines(hub_url: str) -> list[str]:
    return [
        f"  Tableau de bord des coordinations / coordinators' dashboard:  {hub_url}/login  puis / then  {hub_url}/hub",
        *(f"    {login.who}:  {login.username} / {login.password}" for login in HUB_LOGINS),
        f"    Validation des rapports / report validation:  {hub_url}/hub/reports    "
        f"Adhésions / enrolments:  {hub_url}/hub/enrolments",
    ]


def regie_login_line(node_url: str) -> str:
    return (
        f"    Back-office:                      {node_url}/login  ({REGIE_LOGIN.username} / {REGIE_LOGIN.password})"
        f"  puis / then  {node_url}/admin"
    )
