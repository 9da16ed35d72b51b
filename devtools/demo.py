"""`make demo`: a hub and three régie nodes on 127.0.0.1 with sample data, enrolled and synced, until Ctrl-C.

`python -m devtools.demo [--dir DIR] [--base-port N] [--no-wait]` owns everything under DIR (default
`var/demo`): it initialises the national hub and three régies (Paris, Lyon and a rural one in Normandy), starts
them as real `regies serve` processes, fills them through their HTTP APIs (profile, activities, shared
resources, a 2026 period report), has them join the hub and sync, validates one report on the hub, prints
where everything is, then waits for Ctrl-C (SIGINT or SIGTERM) and stops every server it started — also when
the set-up fails. A run wipes DIR only if an earlier run of the demo left its marker file there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from devtools.demo_data import REGIES, RegieSample
from devtools.demo_logins import HUB_LOGINS, REGIE_LOGIN, DemoError, add_login, hub_login_lines, regie_login_line
from devtools.loadgen import NodeProcess, free_port, run_regies

MARKER = ".regies-demo"
PERIOD = "2025"
HUB_ID = "hub-national"
HUB_NAME = "Comité national de liaison des régies de quartier"
DEFAULT_DIR = Path("var/demo")
DEFAULT_BASE_PORT = 8700
WAIT_TIMEOUT_S = 60.0

# Appended to every node's regies.toml: the defaults (pull every minute, retry after 10 s and more) suit a real
# network; in the demo everything should show up within a few seconds.
DEMO_FEDERATION_SETTINGS = """
[federation]
# Demo values: sync every 2 seconds and retry failed pushes quickly (defaults: 60 s, 5 s, 10 s, 3600 s, 300 s).
pull_interval_s = 1
push_interval_s = 1
retry_initial_s = 1
retry_max_s = 5
breaker_cooldown_s = 5
# Every demo node runs on 127.0.0.1: a real node contacts only public https addresses (docs/operations.md).
allow_private_addresses = true
"""


# --- Set-up ---------------------------------------------------------------------------------------------


@dataclass
class Node:
    """A node of the demo, once its server runs."""

    node_id: str
    name: str
    data_dir: Path
    process: NodeProcess
    token: str
    token_file: Path

    @property
    def url(self) -> str:
        return self.process.url


def prepare_dir(root: Path) -> None:
    """Make `root` an empty directory owned by the demo; wipe it only if an earlier demo run marked it."""
    if root.is_symlink():
        raise DemoError(f"{root} is a symbolic link: pass another --dir")
    if root.exists():
        if not root.is_dir():
            raise DemoError(f"{root} exists and is not a directory: pass another --dir")
        if (root / MARKER).is_file():
            shutil.rmtree(root)
        elif any(root.iterdir()):
            raise DemoError(
                f"{root} is not empty and was not created by the demo (no {MARKER} file): pass another --dir"
            )
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(
        "Created by `python -m devtools.demo`: the next demo run deletes this directory and everything in it.\n",
        encoding="utf-8",
    )


def choose_ports(base_port: int, count: int) -> list[int]:
    """`count` ports from `base_port` on, all free on 127.0.0.1; any free ports when `base_port` is 0."""
    if base_port == 0:
        ports: list[int] = []
        while len(ports) < count:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return ports
    ports = list(range(base_port, base_port + count))
    if base_port < 1 or ports[-1] > 65535:
        raise DemoError(f"--base-port must be between 1 and {65536 - count} (or 0 for any free ports)")
    for port in ports:
        with socket.socket() as sock:
            # As the server does: a port left in TIME_WAIT by the previous run is free, a listening one is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise DemoError(
                    f"port {port} on 127.0.0.1 is in use ({exc.strerror}): pass another --base-port, or 0"
                ) from exc
    return ports


def configure_node(data_dir: Path, port: int, hub_url: str | None = None, fingerprint: str | None = None) -> None:
    """Set the port and the public URL in the node's regies.toml, fast sync, and the hub client."""
    path = data_dir / "regies.toml"
    text = path.read_text(encoding="utf-8")
    for line, value in (("port", str(port)), ("base_url", f'"http://127.0.0.1:{port}"')):
        text, found = re.subn(rf"(?m)^{line} = .+$", f"{line} = {value}", text, count=1)
        if not found:
            raise DemoError(f"{path} has no `{line} = …` line in [server]")
    text += DEMO_FEDERATION_SETTINGS
    if hub_url is not None:
        text += f'\n[plugins.hubclient]\nurl = "{hub_url}"\nfingerprint = "{fingerprint}"\n'
    tomllib.loads(text)  # fail here, not in the server, if the file is not valid TOML
    path.write_text(text, encoding="utf-8")


def _write_secret(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def say(message: str) -> None:
    print(message, flush=True)


async def regies(data_dir: Path, *args: str) -> str:
    """Run `regies --data-dir DIR ARGS…` without blocking the event loop; its standard output."""
    try:
        result = await asyncio.to_thread(run_regies, data_dir, *args, timeout=120)
    except RuntimeError as exc:
        raise DemoError(str(exc)) from exc
    return result.stdout


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    expect: Sequence[int] = (200, 201, 202),
) -> Any:
    """One JSON request; DemoError with the server's answer if the status is not expected."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as response:
        text = await response.text()
        if response.status not in expect:
            raise DemoError(f"{method} {url} answered {response.status}: {text}")
        return json.loads(text) if text else None


async def wait_until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it is true; DemoError after WAIT_TIMEOUT_S."""
    try:
        async with asyncio.timeout(WAIT_TIMEOUT_S):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.3)  # another process is to act: nothing local to wait on
    except TimeoutError as exc:
        raise DemoError(f"timed out after {WAIT_TIMEOUT_S:.0f} s waiting until {what}") from exc


async def count(session: aiohttp.ClientSession, url: str, token: str | None = None) -> int:
    return len((await call(session, "GET", url, token))["items"])


class Demo:
    """Starts, fills and stops the demo network; every server it started is in `processes`."""

    def __init__(self, root: Path, ports: list[int]) -> None:
        self.root = root
        self.ports = ports
        self.processes: list[NodeProcess] = []
        self.starting: list[asyncio.Future[NodeProcess]] = []
        self.hub: Node | None = None
        self.nodes: dict[str, Node] = {}
        self.report_states: dict[str, str] = {}
        self.completeness: dict[str, Any] = {}

    def _start(self, data_dir: Path, port: int) -> NodeProcess:
        process = NodeProcess(data_dir, port)
        self.processes.append(process)
        return process

    async def start_servers(self, places: Sequence[tuple[Path, int]]) -> list[NodeProcess]:
        """Start the servers side by side, each in a thread until it listens. The threads are shielded from
        cancellation, so `stop` can wait for a server still starting and never leaves one behind."""
        self.starting = [asyncio.ensure_future(asyncio.to_thread(self._start, *place)) for place in places]
        results = await asyncio.shield(asyncio.gather(*self.starting, return_exceptions=True))
        for result in results:
            if isinstance(result, BaseException):
                raise DemoError(str(result)) from result
        return [result for result in results if isinstance(result, NodeProcess)]

    async def stop(self, grace: float = 0.0) -> None:
        """Stop every server started, newest first; `grace`: seconds to let them finish a Ctrl-C they got too."""
        await asyncio.gather(*self.starting, return_exceptions=True)
        await asyncio.to_thread(self._stop, grace)

    def _stop(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(p.process.poll() is None for p in self.processes):
            time.sleep(0.1)
        for process in reversed(self.processes):
            process.stop()

    async def setup(self, session: aiohttp.ClientSession) -> None:
        hub_port, *node_ports = self.ports
        hub_dir = self.root / "hub"
        hub_url = f"http://127.0.0.1:{hub_port}"
        dirs = {sample.node_id: self.root / sample.node_id for sample in REGIES}

        say(f"[1/7] Initialisation du hub et des régies — initialising the hub ({HUB_ID}) and three régies")
        hub_output, *outputs = await asyncio.gather(
            regies(hub_dir, "hub", "init", "--node-id", HUB_ID, "--name", HUB_NAME),
            *(
                regies(dirs[s.node_id], "init", "--node-id", s.node_id, "--name", s.name, "--kind", s.kind)
                for s in REGIES
            ),
        )
        coordinator_token = hub_output.strip().splitlines()[-1]
        prints = re.findall(r"(?m)^\s+\S+: ([0-9A-F]{2}(?::[0-9A-F]{2})+)$", hub_output)
        if not prints:
            raise DemoError(f"`regies hub init` printed no key fingerprint:\n{hub_output}")
        await asyncio.gather(
            *(add_login(hub_dir, login) for login in HUB_LOGINS),
            *(add_login(directory, REGIE_LOGIN) for directory in dirs.values()),
        )
        coordinator_file = hub_dir / "coordinator-token"
        _write_secret(coordinator_file, coordinator_token + "\n")
        configure_node(hub_dir, hub_port)
        for sample, port in zip(REGIES, node_ports, strict=True):
            configure_node(dirs[sample.node_id], port, hub_url, prints[0])

        say("[2/7] Démarrage des serveurs — starting the servers")
        hub_process, *processes = await self.start_servers(
            [(hub_dir, hub_port), *((dirs[s.node_id], port) for s, port in zip(REGIES, node_ports, strict=True))]
        )
        self.hub = Node(HUB_ID, HUB_NAME, hub_dir, hub_process, coordinator_token, coordinator_file)
        for sample, output, process in zip(REGIES, outputs, processes, strict=True):
            data_dir = dirs[sample.node_id]
            token = output.strip().splitlines()[-1]
            self.nodes[sample.node_id] = Node(
                sample.node_id, sample.name, data_dir, process, token, data_dir / "admin-token"
            )
        for node in (self.hub, *self.nodes.values()):
            profile = await call(session, "GET", f"{node.url}/api/v1/node")
            if profile["origin"] != node.node_id:
                raise DemoError(f"{node.url} serves node '{profile['origin']}', not '{node.node_id}'")

        say("[3/7] Profils et demandes d'adhésion — profiles and join requests")
        for sample in REGIES:
            node = self.nodes[sample.node_id]
            await call(session, "PUT", f"{node.url}/api/v1/node", node.token, sample.profile)
        await asyncio.gather(*(regies(node.data_dir, "network", "join") for node in self.nodes.values()))

        say("[4/7] Le hub approuve les adhésions, les régies lisent son annuaire — approvals, signed directory")
        from federation.protocol.keys import fingerprint as key_fingerprint

        pending = await call(session, "GET", f"{hub_url}/plugins/hub/enrolments?state=pending", coordinator_token)
        for request in pending["items"]:
            if request["node_id"] in self.nodes:
                # The coordinator compares the fingerprints with the régie's own (here: its discovery document,
                # read directly from the régie rather than from the request).
                own = await call(session, "GET", f"{self.nodes[request['node_id']].url}/.well-known/regies-node")
                await call(
                    session,
                    "POST",
                    f"{hub_url}/plugins/hub/enrolments/{request['id']}/approve",
                    coordinator_token,
                    {
                        "comment": "Adhésion approuvée par la coordination nationale.",
                        "fingerprints": [key_fingerprint(key["x"]) for key in own["keys"]],
                    },
                )
        approved = await call(session, "GET", f"{hub_url}/plugins/hub/enrolments?state=approved", coordinator_token)
        missing = set(self.nodes) - {item["node_id"] for item in approved["items"]}
        if missing:
            raise DemoError(f"the hub did not approve {', '.join(sorted(missing))}")
        # Each régie trusts the other members listed in the hub's signed directory, and pulls from them.
        await asyncio.gather(*(regies(node.data_dir, "network", "directory", "--pull") for node in self.nodes.values()))

        say("[5/7] Données d'exemple — activities, shared resources and 2026 reports")
        report_ids: dict[str, str] = {}
        for sample in REGIES:
            report_ids[sample.node_id] = await self.fill(session, self.nodes[sample.node_id], sample)

        say("[6/7] Synchronisation (outbox → hub, régie ↔ régie) — background sync of every node")
        checks = [wait_until(f"the hub holds the records of {s.node_id}", self.hub_has(session, s)) for s in REGIES]
        checks += [
            wait_until(f"{node.node_id} holds the activities of {s.node_id}", self.node_has(session, node, s))
            for node in self.nodes.values()
            for s in REGIES
            if s.node_id != node.node_id
        ]
        await asyncio.gather(*checks)

        say("[7/7] Revue des rapports sur le hub — the national coordination validates a report")
        for sample in REGIES:
            if sample.validate:
                await call(
                    session,
                    "POST",
                    f"{hub_url}/plugins/hub/reports/{sample.node_id}/{report_ids[sample.node_id]}/validate",
                    coordinator_token,
                    {"comment": "Rapport complet, merci."},
                )
                await wait_until(
                    f"the report of {sample.node_id} is validated on the hub",
                    self.hub_report_in_state(session, sample.node_id, "validated"),
                )
        reports = await call(session, "GET", f"{hub_url}/plugins/hub/reports?period={PERIOD}", coordinator_token)
        self.report_states = {item["origin"]: item["state"] for item in reports["items"]}
        self.completeness = await call(
            session, "GET", f"{hub_url}/plugins/hub/tables/completeness?period={PERIOD}", coordinator_token
        )

    async def fill(self, session: aiohttp.ClientSession, node: Node, sample: RegieSample) -> str:
        """Create the sample's activities, resources and report through the node's API; the report's id."""
        for activity in sample.activities:
            await call(session, "POST", f"{node.url}/api/v1/activities", node.token, activity)
        for resource in sample.resources:
            await call(session, "POST", f"{node.url}/api/v1/resources", node.token, resource)
        # The report form computes some indicators from the activities (e.g. driving licences obtained).
        form = await call(session, "GET", f"{node.url}/api/v1/report-form?period={PERIOD}", node.token)
        indicators = {item["key"]: item["value"] for item in form["indicators"] if item["value"] is not None}
        indicators.update(sample.indicators)
        report = {
            "period": {"type": "year", "year": int(PERIOD)},
            "indicators": indicators,
            "comment": sample.report_comment,
            "state": "draft",
        }
        created = await call(session, "POST", f"{node.url}/api/v1/reports", node.token, report)
        if sample.submit:
            await call(
                session,
                "PUT",
                f"{node.url}/api/v1/reports/{created['id']}",
                node.token,
                {**report, "state": "submitted"},
            )
        return str(created["id"])

    def hub_has(self, session: aiohttp.ClientSession, sample: RegieSample) -> Callable[[], Awaitable[bool]]:
        assert self.hub is not None
        hub = self.hub

        async def check() -> bool:
            activities = await count(session, f"{hub.url}/api/v1/activities?origin={sample.node_id}&limit=100")
            resources = await count(session, f"{hub.url}/api/v1/resources?origin={sample.node_id}&limit=100")
            reports = await call(session, "GET", f"{hub.url}/plugins/hub/reports?period={PERIOD}", hub.token)
            states = {item["origin"]: item["state"] for item in reports["items"]}
            report_ok = not sample.submit or states.get(sample.node_id) == "submitted"
            return activities == len(sample.activities) and resources == len(sample.resources) and report_ok

        return check

    def node_has(
        self, session: aiohttp.ClientSession, node: Node, sample: RegieSample
    ) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            found = await count(session, f"{node.url}/api/v1/activities?origin={sample.node_id}&limit=100")
            return found == len(sample.activities)

        return check

    def hub_report_in_state(
        self, session: aiohttp.ClientSession, origin: str, state: str
    ) -> Callable[[], Awaitable[bool]]:
        assert self.hub is not None
        hub = self.hub

        async def check() -> bool:
            reports = await call(session, "GET", f"{hub.url}/plugins/hub/reports?period={PERIOD}", hub.token)
            return any(item["origin"] == origin and item["state"] == state for item in reports["items"])

        return check

    def summary(self) -> str:
        assert self.hub is not None
        hub, root = self.hub, self.root
        python = shlex.quote(sys.executable)
        states_fr = {"draft": "brouillon", "submitted": "soumis", "validated": "validé", "returned": "renvoyé"}
        lines = [
            "",
            "=" * 100,
            "Démo du réseau des régies prête — the régies network demo is running",
            "=" * 100,
            f"Données / data: {root}",
            "",
            f"Hub national ({hub.node_id}) — {hub.name}",
            f"  API et documentation / API docs:  {hub.url}/docs",
            *hub_login_lines(hub.url),
            f"  Jeton coordination nationale / national coordinator token:  {hub.token}",
            f"    (aussi dans / also in {hub.token_file})",
            "  Tableaux nationaux (jeton requis ; ajoutez &format=csv|xlsx|ods) / national tables (token needed):",
        ]
        for path in ("tables/activities", "tables/indicators", "tables/completeness", "reports"):
            lines.append(f"    {hub.url}/plugins/hub/{path}?period={PERIOD}")
        lines += [
            f"    {hub.url}/plugins/hub/directory   (annuaire signé, public / signed directory, public)",
            "",
            "Régies:",
        ]
        for sample in REGIES:
            node = self.nodes[sample.node_id]
            state = self.report_states.get(sample.node_id, "draft")
            lines += [
                f"  {node.node_id:<16} {node.name} ({sample.profile['address']['city']})",
                f"    Page publique / public page:      {node.url}/",
                regie_login_line(node.url),
                f"    API et documentation / API docs:  {node.url}/docs",
                f"    Jeton admin / admin token file:   {node.token_file}",
                f"    Rapport {PERIOD} / {PERIOD} report:  {states_fr.get(state, state)} / {state}",
            ]
        received = sum(int(row.get("received") or 0) for row in self.completeness.get("rows", []))
        expected = sum(int(row.get("expected") or 0) for row in self.completeness.get("rows", []))
        missing = ", ".join(str(item["name"]) for item in self.completeness.get("missing", [])) or "-"
        lines += [
            "",
            f"Rapports {PERIOD} reçus par le hub / {PERIOD} reports received by the hub: {received}/{expected}"
            f"  (manquant / missing: {missing})",
            "",
            "Essayez / try:",
            f"  COORD=$(cat {shlex.quote(str(hub.token_file))})",
            f'  curl -s -H "Authorization: Bearer $COORD" '
            f"'{hub.url}/plugins/hub/tables/completeness?period={PERIOD}'",
            f'  curl -s -H "Authorization: Bearer $COORD" '
            f"'{hub.url}/plugins/hub/tables/activities?period={PERIOD}&format=csv'",
        ]
        first, second = (self.nodes[sample.node_id] for sample in REGIES[:2])
        lines += [
            f"  curl -s '{first.url}/api/v1/activities?origin={second.node_id}'   "
            f"# répliquées / replicated from {second.node_id}",
            f"  curl -s '{first.url}/api/v1/resources?origin={REGIES[2].node_id}'",
            f"  TOKEN=$(cat {shlex.quote(str(first.token_file))})",
            f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{first.url}/api/v1/reports?period={PERIOD}'",
            f"  {python} -m federation --data-dir {shlex.quote(str(first.data_dir))} peers",
            "",
            "Ctrl-C arrête tous les serveurs / Ctrl-C stops every server.",
        ]
        return "\n".join(lines)


# --- Command --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo",
        description="Start a hub and three régie nodes on 127.0.0.1 with sample data, until Ctrl-C.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"where the demo keeps its nodes (default {DEFAULT_DIR}); replaced only if an earlier demo made it",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"port of the hub; the régies use the next three (default {DEFAULT_BASE_PORT}; 0: any free ports)",
    )
    parser.add_argument("--no-wait", action="store_true", help="stop everything right after printing the summary")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    root = args.dir.resolve()
    try:
        prepare_dir(root)
        demo = Demo(root, choose_ports(args.base_port, 1 + len(REGIES)))
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    status = 0
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            setup = asyncio.create_task(demo.setup(session))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({setup, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not setup.done():
                setup.cancel()
                await asyncio.gather(setup, return_exceptions=True)
                say("Interrompu pendant la préparation — interrupted during set-up.")
                status = 128 + received[0]
            else:
                stopped.cancel()
                setup.result()
        if status == 0:
            say(demo.summary())
            if not args.no_wait:
                await stop.wait()
    except (DemoError, aiohttp.ClientError, TimeoutError) as exc:
        print(f"demo: set-up failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    finally:
        say("Arrêt des serveurs — stopping the servers…")
        # A Ctrl-C in the terminal reached the servers too: give them a moment to finish on their own.
        await demo.stop(3.0 if signal.SIGINT in received else 0.0)
        say("Terminé — done.")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
