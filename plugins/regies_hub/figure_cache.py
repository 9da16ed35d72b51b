"""The hub's cache of computed national figures, keyed on a data version read from the database at each request.

The figures (indicator tables, trends, completeness, the map's values and its drawing) read the members' reports
and profiles, the hub's reviews and the figures they decided on, and the enrolments; they do not read activities.
`data_version` reads markers of exactly those rows, each of which only grows when one of them changes, so a
version seen again means the same data: the figures computed for it are served again, and anything written
meanwhile gives another version, hence a fresh computation. No time-based expiry is needed, and two hub processes
on one database agree, since the version is the database's.

Activities change with nearly every push, so they have a cache of their own (`ActivityCounts`): each member's counts
are kept with the revision of its activities they were counted at (`record_revisions`, which every write of a
member's activities increases in its transaction), and a view counts again only the members whose revision moved.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import Period, Registry
from federation.plugin_api.storage import record_revisions

from . import aggregates
from .aggregates import STATES, Scope

T = TypeVar("T")

# The record kinds figures read: period reports, members' profiles (their department) and the hub's reviews.
FIGURE_KINDS = ("report", "node", "review")

# Why each marker is exact (no row of these tables is ever deleted outside migrations):
# - records: a write inserts a row (COUNT grows) or replaces it with a higher version (SUM(version) grows); a
#   tombstone is a new version too.
# - enrolments: a request inserts a row; approving, rejecting and revoking move a row between states, so the total,
#   approved + revoked, rejected and revoked each only grow and each decision grows one. A pending request's details
#   change without a marker, but no figure reads a pending request.
# - review_figures: one row inserted per review, never changed.
VERSION_SQL = (
    "SELECT 'records:' || kind AS part, COUNT(*) AS n, COALESCE(SUM(version), 0) AS m FROM records "
    f"WHERE kind IN ({', '.join(repr(kind) for kind in FIGURE_KINDS)}) GROUP BY kind "
    "UNION ALL SELECT 'enrolments', COUNT(*), "
    "COALESCE(SUM(CASE WHEN state IN ('approved', 'revoked') THEN 1 ELSE 0 END), 0) FROM enrolments "
    "UNION ALL SELECT 'enrolments:decided', COALESCE(SUM(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(CASE WHEN state = 'revoked' THEN 1 ELSE 0 END), 0) FROM enrolments "
    "UNION ALL SELECT 'review_figures', COUNT(*), 0 FROM review_figures"
)

DataVersion = tuple[tuple[str, int, int], ...]


async def data_version(engine: AsyncEngine) -> DataVersion:
    """The version of everything the figures read, as one statement's rows (a few index scans)."""
    async with engine.connect() as connection:
        rows = (await connection.execute(text(VERSION_SQL))).all()
    return tuple(sorted((str(part), int(n), int(m)) for part, n, m in rows))


class FigureCache:
    """Computed figures by key (the data version first), the `max_entries` most recently used kept.

    Requests that miss the same key at once share one computation. `computed` and `served` count computations and
    answers from the cache, for the `Server-Timing` header of the pages and tables that use it."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self.activities = ActivityCounts()
        self.computed = 0
        self.served = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]], usage: Usage | None = None) -> T:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.served += 1
            if usage is not None:
                usage.served += 1
            result: T = await asyncio.shield(found)
            return result
        # A task of its own: a request that goes away (its client disconnected) does not cancel the computation that
        # other requests wait for.
        task: asyncio.Future[T] = asyncio.ensure_future(compute())
        task.add_done_callback(functools.partial(self._finished, key))
        self._entries[key] = task
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        self.computed += 1
        started = time.perf_counter()
        value = await asyncio.shield(task)
        if usage is not None:
            usage.computed += 1
            usage.seconds += time.perf_counter() - started
        return value

    def _finished(self, key: Hashable, task: asyncio.Future[Any]) -> None:
        # A failed computation is not kept (the next request tries again); its error is retrieved here, so nothing
        # is logged as "never retrieved" when every request that waited for it went away.
        if (task.cancelled() or task.exception() is not None) and self._entries.get(key) is task:
            del self._entries[key]


# Revisions of the members' activities: one row per origin that ever had one, a primary-key range scan.
ACTIVITY_REVISIONS = select(record_revisions.c.origin, record_revisions.c.revision).where(
    record_revisions.c.kind == "activity"
)


class ActivityCounts:
    """Each member's activity counts by period (aggregates.activity_counts), with the revision of its activities they
    were counted at; the `max_periods` most recently asked periods kept.

    The revisions are read before the counts: counts taken later can only include more than their revision says,
    never less, so a count kept under a revision is never older than it (a write in between moves the revision,
    and the next view counts that member again)."""

    def __init__(self, max_periods: int = 16) -> None:
        self.max_periods = max_periods
        self._periods: OrderedDict[str | None, dict[str, tuple[int, aggregates.MemberActivities | None]]] = (
            OrderedDict()
        )
        self.recounted = 0  # members counted again, all views together (tests, docs/performance.md)

    async def counts(self, engine: AsyncEngine, period: Period) -> aggregates.ActivityCounts:
        async with engine.connect() as connection:
            revisions = {origin: int(revision) for origin, revision in await connection.execute(ACTIVITY_REVISIONS)}
        known = self._periods.setdefault(period.key, {})
        self._periods.move_to_end(period.key)
        while len(self._periods) > self.max_periods:
            self._periods.popitem(last=False)
        stale = [
            origin for origin, revision in revisions.items() if origin not in known or known[origin][0] != revision
        ]
        if stale:
            # Most members at once (the first view of a period): one pass over every activity is cheaper.
            narrowed = stale if len(stale) * 2 < len(revisions) else None
            fresh = await aggregates.activity_counts(engine, period, narrowed)
            for origin in stale:
                known[origin] = (revisions[origin], fresh.get(origin))  # None: none running in the period
            self.recounted += len(stale)
        return {origin: member for origin in revisions if origin in known and (member := known[origin][1]) is not None}


class Usage:
    """What one request took from the cache: entries computed (and how long that took) and entries served."""

    def __init__(self) -> None:
        self.computed = 0
        self.served = 0
        self.seconds = 0.0

    def server_timing(self) -> str:
        """A `Server-Timing` header value: `figures;dur=12.3;desc="computed 2, cached 3"`."""
        return f'figures;dur={self.seconds * 1000:.1f};desc="computed {self.computed}, cached {self.served}"'


class Figures:
    """One request's figures: each aggregate of aggregates.py through the cache, at the version read when the request
    began. The rows are the cache's own, shared by every request of that version: read them, never change them
    (exports.with_labels makes new rows)."""

    def __init__(
        self, cache: FigureCache, engine: AsyncEngine, registry: Registry, version: DataVersion, usage: Usage
    ) -> None:
        self.cache, self.engine, self.registry, self.version, self.usage = cache, engine, registry, version, usage

    @classmethod
    async def at_current_version(cls, cache: FigureCache, engine: AsyncEngine, registry: Registry) -> Figures:
        return cls(cache, engine, registry, await data_version(engine), Usage())

    async def cached(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """Any value derived from the figures alone (the map's drawing), computed once per data version and key."""
        return await self.cache.get((self.version, key), compute, self.usage)

    async def indicator_table(
        self, period: Period, scope: Scope, states: Sequence[str] = STATES, national_only: bool = False
    ) -> list[dict[str, Any]]:
        key = ("indicators", period.key, scope, tuple(states), national_only)
        return await self.cached(
            key, lambda: aggregates.indicator_table(self.engine, self.registry, period, scope, states, national_only)
        )

    async def trends(
        self, indicator: str, scope: Scope, states: Sequence[str] = STATES, national_only: bool = False
    ) -> list[dict[str, Any]]:
        key = ("trends", indicator, scope, tuple(states), national_only)
        return await self.cached(
            key, lambda: aggregates.trends(self.engine, self.registry, indicator, scope, states, national_only)
        )

    async def activity_table(self, period: Period, scope: Scope) -> list[dict[str, Any]]:
        """aggregates.activity_table, from the members' places at this version and their counts kept by revision."""
        places = await self.cached(("places",), lambda: aggregates.member_places(self.engine))
        counts = await self.cache.activities.counts(self.engine, period)
        return aggregates.roll_up_activities(counts, places, scope)

    async def completeness(
        self, period: Period, scope: Scope, deadline: dt.date, today: dt.date | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # The day is part of the key: whether the period is over (and its reports counted) depends on it.
        day = today or dt.date.today()
        key = ("completeness", period.key, scope, deadline, day)
        return await self.cached(key, lambda: aggregates.completeness(self.engine, period, scope, deadline, day))
