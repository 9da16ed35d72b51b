"""One pull per peer at a time, across every process using the node's database: leases kept on the peer's row.

Why: the server's background worker, `regies sync` and the web page's "sync now" button may all pull the same
peer, and a hub may run several processes. Two pulls of one peer stay correct (apply is idempotent, each
checkpoint moves with its rows) but do all the work twice and slow each other down; on a new node's first pull
of a large backlog that doubles the wait.

How: a pull takes the peer's lease before its first request (a compare-and-swap on `peers.pull_holder`), renews
it while it runs, and gives it back when it ends, whatever the outcome. A lease is free when it has none, when it
was not renewed for LEASE_S (its holder hung, or died on another host), or when its holder was a process of this
host that no longer exists, or whose pid now names another process (killed, or a restarted container: the next
pull need not wait for the lease to expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.schema.records import utcnow
from federation.storage.mapping import to_micros
from federation.storage.tables import peers
from federation.tasks import cancel_and_wait, run_to_end

log = logging.getLogger(__name__)
LEASE_S = 60
RENEW_S = 15


def process_start(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc), or "-" where that cannot be read.

    Tells a process from an earlier one that had the same pid: a reused pid, or a container restarted (its
    server is pid 1 again) whose previous incarnation died holding a lease.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "-"
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) ": the name may hold spaces
    return fields[19] if len(fields) > 19 else "-"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: a host, a process on it (pid and start time), and one pull of that process."""

    host: str
    pid: int
    start: str
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}:{self.token}"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        host, _, rest = text.rpartition(":")
        host, _, start = host.rpartition(":")
        host, _, pid = host.rpartition(":")
        return cls(host, int(pid), start, rest) if host and pid.isdigit() else None

    @classmethod
    def new(cls) -> Holder:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid), secrets.token_hex(4))

    def _is_this_process(self) -> bool:
        return self.pid == os.getpid() and self.start == process_start(self.pid)

    def describe(self) -> str:
        """For people: which process holds it."""
        if self.host == socket.gethostname():
            return "this process" if self._is_this_process() else f"process {self.pid} on this host"
        return f"process {self.pid} on {self.host}"

    def gone(self) -> bool:
        """True if this process is known to have ended (only a process of this host can be checked)."""
        if self.host != socket.gethostname() or self._is_this_process():
            return False
        if self.pid == os.getpid():
            return True  # an earlier process with this pid (a restarted container, say)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's process, alive
            pass
        start = process_start(self.pid)
        return "-" not in (start, self.start) and start != self.start  # the pid now names another process


class LeaseHeld(Exception):
    """Another pull holds the peer's lease; `holder` says which process, for people."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


@dataclass(frozen=True)
class _Lease:
    stored: str | None  # the row's pull_holder, in force or not
    live: str | None  # who holds it, for people, if it is in force


def _lease(stored: str | None, until: int | None, now: int) -> _Lease:
    if stored is None or (until or 0) < now:
        return _Lease(stored, None)
    holder = Holder.parse(stored)
    if holder is None:
        return _Lease(stored, stored)
    return _Lease(stored, None if holder.gone() else holder.describe())


async def _read(engine: AsyncEngine, peer_id: str) -> _Lease | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(peers.c.pull_holder, peers.c.pull_lease_until_us).where(peers.c.node_id == peer_id)
            )
        ).first()
    return None if row is None else _lease(row[0], row[1], to_micros(utcnow()))


async def take(engine: AsyncEngine, peer_id: str, holder: Holder) -> None:
    """Take the peer's lease for `holder`; LeaseHeld if another pull has it."""
    while True:
        lease = await _read(engine, peer_id)
        if lease is None:
            return  # no such peer: the pull reports it
        if lease.live is not None:
            raise LeaseHeld(lease.live)
        if lease.stored is not None:
            log.info("pull lease of %s: %s was not given back (ended or hung); taking it", peer_id, lease.stored)
        # Swap only if the lease is still what was read: of two pulls starting together, one gets it, and the
        # other reads the lease again and finds it held.
        seen = peers.c.pull_holder.is_(None) if lease.stored is None else peers.c.pull_holder == lease.stored
        async with engine.begin() as connection:
            result = await connection.execute(
                update(peers)
                .where(and_(peers.c.node_id == peer_id, seen))
                .values(pull_holder=str(holder), pull_lease_until_us=to_micros(utcnow()) + LEASE_S * 1_000_000)
            )
        if result.rowcount:
            return


async def renew(engine: AsyncEngine, peer_id: str, holder: Holder) -> bool:
    """Extend the lease; False if `holder` no longer has it (it expired and another pull took it)."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(peers)
            .where(and_(peers.c.node_id == peer_id, peers.c.pull_holder == str(holder)))
            .values(pull_lease_until_us=to_micros(utcnow()) + LEASE_S * 1_000_000)
        )
    return bool(result.rowcount)


async def give_back(engine: AsyncEngine, peer_id: str, holder: Holder) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(peers)
            .where(and_(peers.c.node_id == peer_id, peers.c.pull_holder == str(holder)))
            .values(pull_holder=None, pull_lease_until_us=None)
        )


async def _keep_renewed(engine: AsyncEngine, peer_id: str, holder: Holder) -> None:
    while True:
        await asyncio.sleep(RENEW_S)
        try:
            if not await renew(engine, peer_id, holder):
                log.warning("pull lease of %s expired while pulling and was taken by another pull", peer_id)
                return
        except Exception as exc:  # a locked or unreachable database: try again at the next interval
            # One line: a traceback every RENEW_S buried the pull's own progress in a terminal.
            log.warning("could not renew the pull lease of %s (%s); trying again in %g s", peer_id, _why(exc), RENEW_S)


@contextlib.asynccontextmanager
async def held(engine: AsyncEngine, peer_id: str) -> AsyncIterator[Holder]:
    """Hold the peer's lease for the duration of the block (LeaseHeld if another pull has it)."""
    holder = Holder.new()
    await take(engine, peer_id, holder)
    renewing = asyncio.create_task(_keep_renewed(engine, peer_id, holder), name=f"pull-lease-{peer_id}")
    try:
        yield holder
    finally:

        async def release() -> None:
            await cancel_and_wait(renewing)
            await give_back(engine, peer_id, holder)

        try:
            await run_to_end(release())
        except Exception as exc:  # never hide the pull's own outcome: the lease frees itself once not renewed
            why = _why(exc)
            log.warning("could not give back the pull lease of %s (%s); it is free in %d s", peer_id, why, LEASE_S)


def _why(exc: Exception) -> str:
    """The database's own words (SQLAlchemy's text adds the statement and a link over several lines)."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {cause}"


async def running_pulls(engine: AsyncEngine) -> dict[str, str]:
    """Every peer being pulled now, with who pulls it (for people), in one read."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(peers.c.node_id, peers.c.pull_holder, peers.c.pull_lease_until_us).where(
                    peers.c.pull_holder.is_not(None)
                )
            )
        ).all()
    now = to_micros(utcnow())
    leases = {node_id: _lease(stored, until, now).live for node_id, stored, until in rows}
    return {node_id: live for node_id, live in leases.items() if live is not None}
