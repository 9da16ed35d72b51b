"""Benchmark of the hub: national report tables on SQLite and PostgreSQL against hand-written SQL, and inbox
ingest into a PostgreSQL hub against raw asyncpg, each measured against its baseline in the same run."""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import functools
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import asyncpg
from regies_hub import aggregates
from regies_hub.aggregates import Scope
from regies_hub.settings import HubSettings
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.indicators import parse_period_key, period_bounds
from federation.plugins import build_plugins
from federation.protocol import persistence
from federation.protocol.apply import apply_rows, parse_batch, wire_rows
from federation.protocol.batchparser import BatchParser
from federation.record_rules import record_service
from federation.registry import Registry
from federation.schema.geo import DEPARTMENTS, communes_in_department
from federation.schema.records import RECORD_KINDS, Activity, NodeProfile, Period, PeriodReport
from federation.semantics import AggregationKind, semantics_of
from federation.storage.engine import create_engine
from federation.storage.mapping import FILTER_COLUMNS, record_row, to_micros, tombstone_row
from federation.storage.migrate import ensure_indexes, upgrade
from federation.storage.service import RecordService, count_bulk_load
from federation.storage.tables import enrolments, records

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
PERIOD_KEY = "2025"
RUNS = 5  # measured runs, after one warm-up
LOAD_BATCH = 5_000
INGEST_BATCH = 1_000
INGEST_ORIGINS = 20
TARGETS = {"sqlite": 2.0, "postgresql": 1.0}  # seconds for the national report
RATIO_TARGET = 1.5
INGEST_TARGET = 25_000  # records/s
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)  # "today" in the generated data
DAY_S = 86_400
COLUMNS = ("kind", "origin", "id", "version", "updated_at_us", "deleted", *FILTER_COLUMNS, "body")
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

# Departments with many régies (big cities, Île-de-France suburbs); every other department weighs 1.
DEPARTMENT_WEIGHTS = {
    "93": 9, "75": 6, "13": 6, "59": 7, "69": 5, "94": 4, "92": 3, "95": 4, "91": 3, "78": 2, "77": 2, "33": 3,
    "31": 3, "67": 3, "76": 3, "44": 2, "35": 2, "38": 3, "34": 2, "06": 2, "57": 2, "62": 3, "80": 2, "974": 2,
    "971": 1, "972": 1, "2A": 1, "2B": 1,
}  # fmt: skip
SITES = (
    "cité des Lilas", "quartier des Tilleuls", "résidence Bellevue", "les Hauts-de-Rouvray", "la Croix-Rouge",
    "le Mirail", "les Minguettes", "la Grande-Borne", "le Val-Fourré", "la Paillade", "les Aubiers", "Malakoff",
)  # fmt: skip
DESCRIPTIONS = (
    "Action menée par une équipe de salariés en insertion encadrée par la régie, avec les habitants du quartier.",
    "Intervention régulière en lien avec le bailleur social et la ville, suivie en comité de pilotage trimestriel.",
    "Les habitants participent à la préparation et au bilan ; les encadrants techniques assurent la formation.",
    "Prestation réalisée dans le cadre d'un marché réservé, avec un objectif d'heures d'insertion par an.",
    "Démarche zéro déchet et zéro pesticide, présentée aux locataires lors des réunions de concertation.",
    "Activité ouverte aux habitants le mercredi et le samedi, avec l'appui de bénévoles de l'association.",
)
STREETS = ("rue de la République", "avenue Jean-Jaurès", "allée des Peupliers", "place du Marché", "rue Victor-Hugo")
PARTNERS = (
    ("Ville", "local_authority"),
    ("Office public de l'habitat", "social_landlord"),
    ("Préfecture", "state"),
    ("Centre social", "association"),
    ("Entreprise d'espaces verts", "business"),
    ("Régie voisine", "regie"),
    ("Conseil départemental", "local_authority"),
)
UNITS = {"count": (0, 400), "fte": (3, 90), "percent": (0, 100), "euros": (80_000, 4_000_000), "hours": (0, 60_000)}
REPORT_STATES = (("validated", 55), ("submitted", 33), ("returned", 5), ("draft", 7))


def out(line: str = "") -> None:
    print(line, flush=True)


# --- Data ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    node_id: str
    name: str
    commune: str
    department: str
    region: str
    kind: str
    label_status: str
    service_types: tuple[str, ...]


@functools.cache
def _commune_codes(department: str) -> tuple[str, ...]:
    # communes_in_department scans every commune of France (20 ms a call): once per department.
    return tuple(commune.code for commune in communes_in_department(department))


def commune_in(department: str, rng: random.Random) -> str:
    # A real commune: made-up codes are refused since communes are checked against the reference data.
    return rng.choice(_commune_codes(department))


def make_members(rng: random.Random, count: int, service_types: list[str]) -> list[Member]:
    departments = list(DEPARTMENTS.values())
    weights = [DEPARTMENT_WEIGHTS.get(d.code, 1) for d in departments]
    members = []
    for n in range(1, count + 1):
        department = rng.choices(departments, weights=weights)[0]
        members.append(
            Member(
                node_id=f"rq-{department.code.lower()}-{n:03d}",
                name=f"Régie de quartier n° {n} ({department.name})",
                commune=commune_in(department.code, rng),
                department=department.code,
                region=department.region_code,
                kind=rng.choice(("quartier", "quartier", "quartier", "territoire")),
                label_status=rng.choice(("labellisee", "labellisee", "labellisee", "en_projet")),
                service_types=tuple(sorted(rng.sample(service_types, k=rng.randrange(5, 13)))),
            )
        )
    return members


def fake_jwk(node_id: str, rng: random.Random) -> dict[str, str]:
    x = base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    return {"kty": "OKP", "crv": "Ed25519", "kid": f"{node_id}-2026", "x": x}


def enrolment_rows(members: list[Member], rng: random.Random) -> list[dict[str, Any]]:
    """One approved enrolment per member, plus a few pending and rejected requests of other nodes."""
    rows = []
    others = [
        (f"rq-candidate-{n:02d}", "pending" if n % 3 else "rejected", rng.choice(list(DEPARTMENTS))) for n in range(12)
    ]
    requested = to_micros(dt.datetime(2025, 9, 1, tzinfo=dt.UTC))
    for node_id, name, department, commune, state in [
        *((m.node_id, m.name, m.department, m.commune, "approved") for m in members),
        *((node_id, f"Candidate {node_id}", dep, commune_in(dep, rng), state) for node_id, state, dep in others),
    ]:
        rows.append(
            {
                "node_id": node_id,
                "name": name,
                "base_url": f"https://{node_id}.regies.example",
                "keys": json.dumps([fake_jwk(node_id, rng)]),
                "commune": commune,
                "department": department,
                "region": DEPARTMENTS[department].region_code,
                "label_status": "labellisee",
                "kind": "quartier",
                "state": state,
                "requested_at_us": requested + rng.randrange(200 * DAY_S) * 1_000_000,
                "decided_at_us": None if state == "pending" else requested + 210 * DAY_S * 1_000_000,
                "decided_by": None if state == "pending" else "coordination-nationale",
                "comment": None,
            }
        )
    return rows


def node_rows(members: list[Member], rng: random.Random) -> list[dict[str, Any]]:
    """Each member's profile replica (kind "node"), validated and mapped exactly as the node stores it."""
    rows = []
    for member in members:
        profile = NodeProfile.model_validate(
            {
                "origin": member.node_id,
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "version": rng.randrange(1, 6),
                "updated_at": "2026-01-15T09:30:00Z",
                "name": member.name,
                "kind": member.kind,
                "label_status": member.label_status,
                "address": {"street": f"{rng.randrange(1, 90)} {rng.choice(STREETS)}", "postal_code": "93200"},
                "commune": member.commune,
                "qpv": [f"QN{member.department:0>3}{rng.randrange(1, 40):02d}M"],
                "contact": {"person": "Direction", "email": f"contact@{member.node_id}.example"},
                "website": f"https://{member.node_id}.example/",
                "description": "Régie de quartier : services de proximité, insertion et lien social.",
            }
        )
        rows.append(record_row(RECORD_KINDS["node"], profile))
    return rows


def _detail_fields(model: type[Any]) -> list[tuple[str, Any]]:
    """(field, "int" | ("float", its maximum) | literal values) for the numeric and required fields of a details
    model."""
    fields: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        args = typing.get_args(info.annotation) or (info.annotation,)
        if int in args:
            fields.append((name, "int"))
        elif float in args:
            # Drawn below the field's own bound when it has one (21 passages a week, 10,000 tonnes).
            bounds = [getattr(meta, "le", None) or getattr(meta, "lt", None) for meta in info.metadata]
            fields.append((name, ("float", min([20_000, *(b for b in bounds if b is not None)]))))
        elif info.is_required() and typing.get_origin(info.annotation) is typing.Literal:
            fields.append((name, typing.get_args(info.annotation)))
    return fields


class ActivityFactory:
    """Realistic activity rows of the members, built directly with the columns and canonical body `record_row`
    gives (checked on a sample against `record_row(Activity.model_validate_json(body))`)."""

    def __init__(self, registry: Registry, members: list[Member], seed: int) -> None:
        self.rng = random.Random(seed)
        self.members = members
        self.weights = list(accumulate(self.rng.uniform(0.2, 3.0) for _ in members))
        self.types = {
            key: (str(st.category), st.label_fr, self.details_pool(key, st.details_model), st.details_model)
            for key, st in registry.service_types.items()
        }
        self.index = 0

    def details_pool(self, key: str, model: type[Any], size: int = 300) -> list[dict[str, Any]]:
        """Valid `details` for a service type: numbers drawn in decreasing order (later fields such as
        `licences_obtained` cannot exceed earlier ones such as `learners`), kept if the details model accepts them."""
        rng = self.rng
        pool: list[dict[str, Any]] = []
        for _ in range(size * 10):
            details: dict[str, Any] = {}
            ceiling = 600
            for name, kind in _detail_fields(model):
                if kind == "int":
                    if rng.random() < 0.85:
                        details[name] = ceiling = rng.randrange(0, ceiling + 1)
                elif isinstance(kind, tuple) and kind[0] == "float":
                    if rng.random() < 0.85:
                        details[name] = round(rng.uniform(1, 100 if "percent" in name else kind[1]), 1)
                else:
                    details[name] = rng.choice(kind)
            try:
                model.model_validate(details)
            except ValueError:
                continue
            pool.append(details)
            if len(pool) == size:
                return pool
        raise RuntimeError(f"could not generate valid details for service type {key}")

    def row(self, member: Member | None = None) -> dict[str, Any]:
        rng = self.rng
        self.index += 1
        if member is None:
            member = rng.choices(self.members, cum_weights=self.weights)[0]
        key = rng.choice(member.service_types)
        category, label, _, _ = self.types[key]
        record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        version = rng.choice((1, 1, 1, 2, 3))
        updated = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(1_050 * DAY_S))
        start = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(3 * 365 + 1))
        end = start + dt.timedelta(days=rng.randrange(30, 720)) if rng.random() < 0.45 else None
        if end is not None and end < NOW.date():
            status = "ended"
        elif start > NOW.date():
            status = "planned"
        else:
            status = "suspended" if rng.random() < 0.08 else "active"
        commune = member.commune if rng.random() < 0.6 else commune_in(member.department, rng)
        site = rng.choice(SITES)
        point = None
        if rng.random() < 0.8:
            lon = round(rng.uniform(-1.5, 7.5), 5)
            # Not within 0.001 of 0: json.dumps writes 3e-05 where the stored canonical body has 0.00003.
            point = {"lat": round(rng.uniform(43.0, 50.5), 5), "lon": lon if abs(lon) >= 0.001 else 0.001}
        document = {
            "origin": member.node_id,
            "id": record_id,
            "version": version,
            "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "deleted": False,
            "category": category,
            "service_type": key,
            "title": f"{label} — {site}, {DEPARTMENTS[member.department].name} (n° {self.index})",
            "description": " ".join(rng.sample(DESCRIPTIONS, k=rng.choice((0, 1, 1, 2)))),
            "status": status,
            "start_date": start.isoformat(),
            "end_date": end.isoformat() if end else None,
            "place": {
                "commune": commune,
                "department": member.department,
                "region": member.region,
                "qpv": [f"QN{member.department:0>3}{rng.randrange(1, 40):02d}M"] if rng.random() < 0.7 else [],
                "address": f"{rng.randrange(1, 200)} {rng.choice(STREETS)}" if rng.random() < 0.5 else None,
                "point": point,
            },
            "partners": [
                {"name": name, "kind": kind, "siret": None}
                for name, kind in rng.sample(PARTNERS, k=rng.randrange(0, 3))
            ],
            "inhabitants_involved": rng.randrange(0, 150) if rng.random() < 0.8 else None,
            "details": rng.choice(self.types[key][2]),
        }
        return {
            "kind": "activity",
            "origin": member.node_id,
            "id": record_id,
            "version": version,
            "updated_at_us": to_micros(updated),
            "deleted": False,
            "category": category,
            "service_type": key,
            "status": status,
            "commune": commune,
            "resource_kind": None,
            "period": None,
            "start_date": document["start_date"],
            "end_date": document["end_date"],
            "audience": None,
            "body": json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        }

    def tombstone(self) -> dict[str, Any]:
        member = self.rng.choices(self.members, cum_weights=self.weights)[0]
        record_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        updated = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.rng.randrange(1_050 * DAY_S))
        return tombstone_row("activity", member.node_id, record_id, self.rng.randrange(2, 5), updated)

    def check(self, rows: list[dict[str, Any]]) -> None:
        """The generated rows are exactly what the node would store for the validated record."""
        for row in rows:
            record = Activity.model_validate_json(row["body"])
            expected = record_row(RECORD_KINDS["activity"], record)
            if expected != row:
                diff = {k: (row[k], expected[k]) for k in expected if expected[k] != row.get(k)}
                raise AssertionError(f"generated activity row differs from record_row: {diff}")
            self.types[record.service_type][3].model_validate(record.details)


def report_periods() -> tuple[list[str], list[str]]:
    """(recent periods, older periods) a member may report on; keys as `parse_period_key` reads them."""
    recent = [str(year) for year in range(2022, 2027)] + ["2023-2025"]
    recent += [f"{year}-Q{q}" for year in range(2022, 2027) for q in range(1, 5)]
    older = [str(year) for year in range(2005, 2022)] + [
        f"{year}-Q{q}" for year in range(2012, 2022) for q in (1, 2, 3, 4)
    ]
    return recent, older


def report_rows(registry: Registry, members: list[Member], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Period reports: at most one per member and period (as the node enforces), the 2025 ones first, then the
    recent periods 2022–2026, then older ones until `count`."""
    recent, older = report_periods()
    first = [(m, PERIOD_KEY) for m in members if rng.random() < 0.88]
    rest = [(m, key) for m in members for key in recent if key != PERIOD_KEY and rng.random() < 0.9]
    old = [(m, key) for m in members for key in older]
    rng.shuffle(rest)
    rng.shuffle(old)
    pairs = (first + rest + old)[:count]
    if len(pairs) < count:
        out(f"  note: {len(members)} members × {len(recent) + len(older)} periods allow only {len(pairs):,} reports")
    core = [i for i in registry.indicators.values() if i.service_type is None]
    rows = []
    for member, key in pairs:
        period = parse_period_key(key)
        plugin = [i for i in registry.indicators.values() if i.service_type in member.service_types]
        chosen = rng.sample(core, k=min(10, len(core))) + rng.sample(plugin, k=min(5, len(plugin)))
        indicators = {}
        for indicator in chosen:
            low, high = UNITS.get(indicator.unit, (0, 1_000))
            value = rng.uniform(low, high)
            indicators[indicator.key] = float(round(value)) if indicator.unit == "count" else round(value, 2)
        period_end = dt.datetime.combine(period_bounds(period)[1], dt.time(12), tzinfo=dt.UTC)
        submitted_at = period_end + dt.timedelta(days=rng.randrange(-10, 150), seconds=rng.randrange(DAY_S))
        state = rng.choices([s for s, _ in REPORT_STATES], weights=[w for _, w in REPORT_STATES])[0]
        if submitted_at > NOW:
            state = "draft"
        created_at = submitted_at - dt.timedelta(days=rng.randrange(1, 40))
        actor = f"admin@{member.node_id}"
        audit: list[dict[str, Any]] = [
            {"at": created_at, "actor": actor, "action": "created", "to_state": "draft", "changed": ["indicators"]}
        ]
        if state != "draft":
            audit.append(
                {
                    "at": submitted_at,
                    "actor": actor,
                    "action": "submitted",
                    "from_state": "draft",
                    "to_state": "submitted",
                }
            )
        if state in ("validated", "returned"):
            audit.append(
                {
                    "at": submitted_at + dt.timedelta(days=rng.randrange(1, 30)),
                    "actor": "hub:coordination-nationale",
                    "action": state,
                    "from_state": "submitted",
                    "to_state": state,
                    "changed": ["state"],
                    "comment": "Chiffres à compléter" if state == "returned" else None,
                }
            )
        report = PeriodReport.model_validate(
            {
                "origin": member.node_id,
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "version": len(audit),
                "updated_at": audit[-1]["at"],
                "period": period.model_dump(),
                "indicators": indicators,
                "comment": "Rapport établi par la direction et validé en conseil d'administration.",
                "state": state,
                "audit": audit,
            }
        )
        rows.append(record_row(RECORD_KINDS["report"], report))
    return rows


# --- Databases ----------------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str  # the SQLAlchemy dialect name: sqlite or postgresql
    url: str
    engine: AsyncEngine
    insert_seconds: float = 0.0
    timer: StatementTimer | None = None

    @property
    def label(self) -> str:
        return BACKEND_NAMES[self.name]


async def insert_rows(backend: Backend, table: Any, rows: list[dict[str, Any]]) -> None:
    started = time.perf_counter()
    async with backend.engine.begin() as connection:
        await connection.execute(insert(table), rows)
    backend.insert_seconds += time.perf_counter() - started


async def load(backends: list[Backend], registry: Registry, args: argparse.Namespace) -> list[Member]:
    """Migrate every backend and fill it with the same generated hub data."""
    rng = random.Random(args.seed)
    members = make_members(rng, args.nodes, sorted(registry.service_types))
    for backend in backends:
        await upgrade(backend.engine)
        await ensure_indexes(backend.engine, registry.indexes.values())
    out(f"  schema migrated on {', '.join(b.label for b in backends)}, with the hub plugin's indexes")
    static = [
        (enrolments, enrolment_rows(members, rng)),
        (records, node_rows(members, rng)),
        (records, report_rows(registry, members, args.reports, rng)),
    ]
    for table, rows in static:
        for backend in backends:
            await insert_rows(backend, table, rows)
    reports = static[2][1]
    states: dict[str, int] = {}
    for row in reports:
        if row["period"] == PERIOD_KEY:
            states[row["status"]] = states.get(row["status"], 0) + 1
    out(
        f"  {len(static[0][1])} enrolments ({len(members)} approved), {len(members)} node profiles, "
        f"{len(reports):,} reports ({len({r['period'] for r in reports})} periods; period {PERIOD_KEY}: "
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        + ")"
    )
    factory = ActivityFactory(registry, members, args.seed + 1)
    tombstones = args.activities // 100
    total = args.activities + tombstones
    started = time.perf_counter()
    body_bytes = 0
    every = max(LOAD_BATCH, (total // 10) // LOAD_BATCH * LOAD_BATCH)
    generating = 0.0
    for first in range(0, total, LOAD_BATCH):
        t0 = time.perf_counter()
        rows = [
            factory.row() if n < args.activities else factory.tombstone()
            for n in range(first, min(first + LOAD_BATCH, total))
        ]
        generating += time.perf_counter() - t0
        if first == 0:
            factory.check(rows[:2_000])
        body_bytes += sum(len(row["body"].encode()) for row in rows if not row["deleted"])
        await asyncio.gather(*(insert_rows(backend, records, rows) for backend in backends))
        done = first + len(rows)
        if done % every < LOAD_BATCH or done == total:
            elapsed = time.perf_counter() - started
            inserts = ", ".join(f"{b.label} inserts {b.insert_seconds:.1f} s" for b in backends)
            out(f"  loading: {done:>9,}/{total:,} activity rows ({done / elapsed:,.0f} rows/s; {inserts})")
    for backend in backends:  # rows loaded without the record service: it counts them as revised
        async with backend.engine.begin() as connection:
            await count_bulk_load(connection)
    elapsed = time.perf_counter() - started
    out(
        f"  loaded {args.activities:,} activities + {tombstones:,} tombstones in {elapsed:.1f} s "
        f"(generating {generating:.1f} s), mean body {body_bytes / max(args.activities, 1):.0f} B; "
        "sample of 2,000 rows identical to record_row(Activity.model_validate_json(body))"
    )
    for backend in backends:
        if backend.name == "postgresql":
            # autovacuum is off on this server; a production hub's autovacuum would have analysed the table.
            t0 = time.perf_counter()
            connection = await asyncpg.connect(pg_dsn(backend.url))
            try:
                await connection.execute("VACUUM (ANALYZE)")
                size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
            finally:
                await connection.close()
            out(f"  PostgreSQL: VACUUM (ANALYZE) in {time.perf_counter() - t0:.1f} s; database {size}")
        else:
            path = Path(backend.url.split("///", 1)[1])
            size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
            out(f"  SQLite: {size_mb:,.0f} MB (no ANALYZE: the hub never runs it)")
    return members


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


# --- National report ------------------------------------------------------------------------------------------


class StatementTimer:
    """Times each statement the engine runs while active, to find the slowest one of the report."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.active = False
        self.times: dict[str, list[float]] = {}
        self.parameters: dict[str, Any] = {}
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        connection.info["bench_started"] = time.perf_counter()

    def _after(self, connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started = connection.info.pop("bench_started", None)
        if self.active and started is not None:
            self.times.setdefault(statement, []).append(time.perf_counter() - started)
            self.parameters[statement] = parameters

    def slowest(self) -> tuple[str, Any, float]:
        statement = max(self.times, key=lambda s: statistics.median(self.times[s]))
        return statement, self.parameters[statement], statistics.median(self.times[statement])


@dataclass
class Report:
    activities: list[dict[str, Any]]
    indicators: list[dict[str, Any]]
    by_area: list[dict[str, Any]]
    missing: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)


async def timed(seconds: dict[str, float], name: str, call: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await call
    seconds[name] = time.perf_counter() - started
    return result


async def national_report(engine: AsyncEngine, registry: Registry, period: Period, deadline: dt.date) -> Report:
    """The hub's national tables, exactly as its API computes them."""
    seconds: dict[str, float] = {}
    scope = Scope()
    activities = await timed(seconds, "activities", aggregates.activity_table(engine, period, scope))
    indicators = await timed(seconds, "indicators", aggregates.indicator_table(engine, registry, period, scope))
    by_area, missing = await timed(seconds, "completeness", aggregates.completeness(engine, period, scope, deadline))
    return Report(activities, indicators, by_area, missing, seconds)


MEMBERS_SQL = (
    "m AS (SELECT e.node_id AS origin, e.name, e.department, d.region_code AS region FROM enrolments e "
    "JOIN geo_departments d ON d.code = e.department WHERE e.state = 'approved')"
)


def hand_sql(dialect: str) -> dict[str, str]:
    """The national tables written by hand, the simplest direct way: plain GROUP BYs over `records` joined with
    the members and their region, detail rows only (no subtotals)."""
    if dialect == "postgresql":
        indicator_values = "CROSS JOIN LATERAL jsonb_each_text(r.body::jsonb -> 'indicators') AS iv(key, value)"
        number = "iv.value::float8"
        audit = "LEFT JOIN LATERAL jsonb_array_elements(r.body::jsonb -> 'audit') AS e ON e ->> 'action' = 'submitted'"
        submitted_at = "e ->> 'at'"
    else:
        indicator_values = ", json_each(r.body, '$.indicators') AS iv"
        number = "CAST(iv.value AS REAL)"
        audit = "LEFT JOIN json_each(r.body, '$.audit') AS e ON json_extract(e.value, '$.action') = 'submitted'"
        submitted_at = "json_extract(e.value, '$.at')"
    received = (
        f"rc AS (SELECT r.origin, MIN({submitted_at}) AS first_submitted FROM records r {audit} "
        "WHERE r.kind = 'report' AND NOT r.deleted AND r.period = :period AND r.status <> 'draft' GROUP BY r.origin)"
    )
    return {
        "activities": (
            f"WITH {MEMBERS_SQL} SELECT m.region, r.category, r.service_type, COUNT(*), COUNT(DISTINCT r.origin) "
            "FROM records r JOIN m ON m.origin = r.origin WHERE r.kind = 'activity' AND NOT r.deleted "
            "AND (r.start_date IS NULL OR r.start_date <= :end) AND (r.end_date IS NULL OR r.end_date >= :start) "
            "GROUP BY m.region, r.category, r.service_type"
        ),
        "indicators": (
            f"WITH {MEMBERS_SQL} SELECT iv.key, m.region, SUM({number}), COUNT(DISTINCT r.origin) "
            f"FROM records r JOIN m ON m.origin = r.origin {indicator_values} "
            "WHERE r.kind = 'report' AND NOT r.deleted AND r.period = :period "
            "AND r.status IN ('submitted', 'validated') GROUP BY iv.key, m.region"
        ),
        "completeness": (
            f"WITH {MEMBERS_SQL}, {received} SELECT m.region, COUNT(*), COUNT(rc.origin), "
            "SUM(CASE WHEN rc.first_submitted <= :deadline THEN 1 ELSE 0 END) "
            "FROM m LEFT JOIN rc ON rc.origin = m.origin GROUP BY m.region"
        ),
        "missing": (
            f"WITH {MEMBERS_SQL} SELECT m.origin, m.department, m.region FROM m WHERE NOT EXISTS (SELECT 1 FROM "
            "records r WHERE r.kind = 'report' AND r.origin = m.origin AND r.period = :period AND NOT r.deleted "
            "AND r.status <> 'draft')"
        ),
    }


async def hand_written(engine: AsyncEngine, period: Period, deadline: dt.date) -> dict[str, list[tuple[Any, ...]]]:
    start, end = period_bounds(period)
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "period": period.key,
        "deadline": deadline.isoformat() + "T23:59:59.999999Z",
    }
    results = {}
    async with engine.connect() as connection:
        for name, sql in hand_sql(engine.dialect.name).items():
            wanted = {key: value for key, value in params.items() if f":{key}" in sql}
            results[name] = [tuple(row) for row in await connection.execute(text(sql), wanted)]
    return results


def compare(report: Report, hand: dict[str, list[tuple[Any, ...]]], registry: Registry) -> list[str]:
    """Differences between the aggregates' detail rows and the hand-written results (empty if they agree)."""
    problems = []
    api_activities = {
        (r["area"], r["category"], r["service_type"]): (r["activities"], r["regies"])
        for r in report.activities
        if r["area"] is not None and r["category"] is not None and r["service_type"] is not None
    }
    hand_activities = {(r[0], r[1], r[2]): (r[3], r[4]) for r in hand["activities"]}
    if api_activities != hand_activities:
        problems.append(f"activity table: {len(api_activities)} detail rows vs {len(hand_activities)} hand-written")
    # The hand-written SQL sums: it checks the summed indicators. Weighted means, ratios and counts are compared with
    # hand computations in tests/plugins/test_hub_figures.py.
    mapping = {}
    for indicator in registry.indicators.values():
        if semantics_of(indicator).aggregation.kind is not AggregationKind.SUM:
            continue
        service_type = registry.service_types.get(indicator.service_type or "")
        mapping[indicator.key] = (str(service_type.category) if service_type else None, indicator.service_type)
    api_indicators = {
        (r["category"], r["service_type"], r["indicator"], r["area"]): (r["total"], r["reports"])
        for r in report.indicators
        if r["area"] is not None and r["indicator"] in mapping and not r["set_aside"]
    }
    # A figure with values set aside (outside the indicator's plausible bounds) leaves them out: the plain sum cannot.
    set_aside = {(r["indicator"], r["area"]) for r in report.indicators if r["area"] is not None and r["set_aside"]}
    hand_indicators = {
        (*mapping[r[0]], r[0], r[1]): (r[2], r[3])
        for r in hand["indicators"]
        if r[0] in mapping and (r[0], r[1]) not in set_aside
    }
    if api_indicators.keys() != hand_indicators.keys() or any(
        not math.isclose(api_indicators[k][0], hand_indicators[k][0], rel_tol=1e-9)
        or api_indicators[k][1] != hand_indicators[k][1]
        for k in api_indicators
    ):
        problems.append(f"indicator table: {len(api_indicators)} detail rows vs {len(hand_indicators)} hand-written")
    api_areas = {r["area"]: (r["expected"], r["received"], r["on_time"]) for r in report.by_area}
    hand_areas = {r[0]: (r[1], r[2], r[3]) for r in hand["completeness"]}
    if api_areas != hand_areas:
        problems.append(f"completeness: {api_areas} vs {hand_areas}")
    api_missing = {(r["node_id"], r["department"], r["region"]) for r in report.missing}
    if api_missing != set(hand["missing"]):
        problems.append(f"missing régies: {len(api_missing)} vs {len(hand['missing'])} hand-written")
    return problems


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> list[str]:
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            result = await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            return [row[0] for row in result]
        result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        depth: dict[int, int] = {0: -1}
        lines = []
        for node_id, parent, _, detail in result:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return lines


@dataclass
class ReportTiming:
    backend: str
    report: float
    hand: float
    parts: dict[str, float]
    hand_parts: dict[str, float]
    slowest: tuple[str, Any, float]
    detail: str


async def time_national_report(backend: Backend, registry: Registry, runs: int, verbose: bool) -> ReportTiming:
    """Median national report and hand-written baseline over `runs` runs after a warm-up, interleaved."""
    period = parse_period_key(PERIOD_KEY)
    deadline = period_bounds(period)[1] + dt.timedelta(days=HubSettings().report_deadline_days)
    if backend.timer is None:
        backend.timer = StatementTimer(backend.engine)
    timer = backend.timer
    timer.times.clear()
    totals: list[float] = []
    hand_totals: list[float] = []
    parts: dict[str, list[float]] = {}
    hand_parts: dict[str, float] = {}
    detail = ""
    for run in range(runs + 1):
        timer.active = run > 0
        started = time.perf_counter()
        report = await national_report(backend.engine, registry, period, deadline)
        report_seconds = time.perf_counter() - started
        timer.active = False
        started = time.perf_counter()
        hand = await hand_written(backend.engine, period, deadline)
        hand_seconds = time.perf_counter() - started
        if run == 0:
            problems = compare(report, hand, registry)
            if problems:
                raise AssertionError(f"{backend.label}: hand-written results differ: " + "; ".join(problems))
            details = [r for r in report.activities if r["area"] is not None and r["service_type"] is not None]
            grand = report.activities[-1]
            detail = (
                f"results equal: {len(details)} activity detail rows (national total {grand['activities']:,} "
                f"activities, {grand['regies']} régies), {sum(1 for r in report.indicators if r['area'])} "
                f"indicator detail rows, completeness of {len(report.by_area)} regions, "
                f"{len(report.missing)} régies missing"
            )
            if verbose:
                out(f"  {backend.label}: warm-up {report_seconds:.2f} s, hand-written {hand_seconds:.2f} s; {detail}")
            continue
        totals.append(report_seconds)
        hand_totals.append(hand_seconds)
        for name, seconds in report.seconds.items():
            parts.setdefault(name, []).append(seconds)
        if verbose:
            out(
                f"  {backend.label}: run {run}: national report {report_seconds:.2f} s, "
                f"hand-written {hand_seconds:.2f} s"
            )
    if verbose:
        # The hand-written statements one by one (after the runs, so that they do not disturb them).
        for name, sql in hand_sql(backend.engine.dialect.name).items():
            hand_parts[name] = await time_hand_statement(backend.engine, sql, period, deadline)
    return ReportTiming(
        backend.name,
        statistics.median(totals),
        statistics.median(hand_totals),
        {name: statistics.median(values) for name, values in parts.items()},
        hand_parts,
        timer.slowest(),
        detail,
    )


async def time_hand_statement(engine: AsyncEngine, sql: str, period: Period, deadline: dt.date) -> float:
    start, end = period_bounds(period)
    params = {"start": start.isoformat(), "end": end.isoformat(), "period": period.key}
    params["deadline"] = deadline.isoformat() + "T23:59:59.999999Z"
    wanted = {key: value for key, value in params.items() if f":{key}" in sql}
    runs = []
    async with engine.connect() as connection:
        for _ in range(3):
            started = time.perf_counter()
            (await connection.execute(text(sql), wanted)).all()
            runs.append(time.perf_counter() - started)
    return statistics.median(runs)


# --- What would help ----------------------------------------------------------------------------------------

# The activity table's filter and grouping columns, behind the leading columns of the existing
# ix_records_kind_origin_category_service_type: the table can be computed from the index alone.
SUGGESTED_INDEX = "bench_ix_records_activity_cover"
SUGGESTED_COLUMNS = "kind, origin, category, service_type, deleted, start_date, end_date"
EXPERIMENT_RUNS = 3


def origin_first_sql(dialect: str) -> str:
    """The national activity table, aggregating activities by origin × service type first (about 1,100 rows),
    then joining those with the members and rolling them up: the same rows as `aggregates.activity_table`."""
    materialized = "" if dialect == "postgresql" else " MATERIALIZED"
    base = (
        f"base AS{materialized} (SELECT a.origin, a.category, a.service_type, COUNT(*) AS n FROM records a "
        "WHERE a.kind = 'activity' AND NOT a.deleted AND (a.start_date IS NULL OR a.start_date <= :end) "
        "AND (a.end_date IS NULL OR a.end_date >= :start) GROUP BY a.origin, a.category, a.service_type), "
        f"j AS{materialized} (SELECT g.region AS area, b.category, b.service_type, b.origin, b.n "
        "FROM base b JOIN geo g ON g.origin = b.origin)"
    )
    aggregates_sql = "SUM(n) AS activities, COUNT(DISTINCT origin) AS regies FROM j"
    if dialect == "postgresql":
        body = f"SELECT area, category, service_type, {aggregates_sql} GROUP BY ROLLUP(area, category, service_type)"
    else:
        body = " UNION ALL ".join(
            (
                f"SELECT area, category, service_type, {aggregates_sql} GROUP BY area, category, service_type",
                f"SELECT area, category, NULL, {aggregates_sql} GROUP BY area, category",
                f"SELECT area, NULL, NULL, {aggregates_sql} GROUP BY area",
                f"SELECT NULL, NULL, NULL, {aggregates_sql}",
            )
        )
    order = "area IS NULL, area, category IS NULL, category, service_type IS NULL, service_type"
    return f"WITH {aggregates.MEMBERS_CTE}, {base} SELECT * FROM ({body}) AS t ORDER BY {order}"


def table_rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]


async def origin_first_table(engine: AsyncEngine, period: Period) -> list[tuple[Any, ...]]:
    start, end = period_bounds(period)
    async with engine.connect() as connection:
        result = await connection.execute(
            text(origin_first_sql(engine.dialect.name)), {"start": start.isoformat(), "end": end.isoformat()}
        )
        return table_rows(list(result))


async def median_seconds(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, Any]:
    result = await call()  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


async def index_size_mb(backend: Backend, name: str | None) -> float:
    async with backend.engine.connect() as connection:
        if backend.name == "postgresql":
            if name is None:
                return 0.0
            return float(await connection.scalar(text("SELECT pg_relation_size(:name)"), {"name": name})) / 1e6
        pages = await connection.scalar(text("PRAGMA page_count"))
        size = await connection.scalar(text("PRAGMA page_size"))
        return float(pages * size) / 1e6


async def experiments(backend: Backend, registry: Registry, timing: ReportTiming) -> list[str]:
    """Re-time the national report with the suggested index, and the activity table rewritten to aggregate by
    origin first, on the same data; the index is dropped again afterwards."""
    engine, label = backend.engine, backend.label
    period = parse_period_key(PERIOD_KEY)
    expected = table_rows([tuple(r.values()) for r in await aggregates.activity_table(engine, period, Scope())])
    rewritten, rows = await median_seconds(lambda: origin_first_table(engine, period), EXPERIMENT_RUNS)
    if sorted(map(repr, rows)) != sorted(map(repr, expected)):
        raise AssertionError(f"{label}: the origin-first activity table differs from aggregates.activity_table")
    out(
        f"  {label}: activity table aggregated by origin first, then joined and rolled up (same {len(rows)} rows as "
        f"activity_table): {rewritten:.2f} s, against {timing.parts['activities']:.2f} s"
    )
    before = await index_size_mb(backend, None)
    started = time.perf_counter()
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE INDEX {SUGGESTED_INDEX} ON records ({SUGGESTED_COLUMNS})"))
    if backend.name == "postgresql":
        # Index-only scans need the visibility map, which autovacuum keeps up to date on a live hub.
        connection = await asyncpg.connect(pg_dsn(backend.url))
        try:
            await connection.execute("VACUUM (ANALYZE) records")
        finally:
            await connection.close()
        size = await index_size_mb(backend, SUGGESTED_INDEX)
    else:
        size = await index_size_mb(backend, None) - before
    out(
        f"  {label}: CREATE INDEX {SUGGESTED_INDEX} ON records ({SUGGESTED_COLUMNS}) "
        f"in {time.perf_counter() - started:.1f} s, {size:.0f} MB"
    )
    try:
        indexed = await time_national_report(backend, registry, EXPERIMENT_RUNS, verbose=False)
        both, _ = await median_seconds(lambda: origin_first_table(engine, period), EXPERIMENT_RUNS)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP INDEX {SUGGESTED_INDEX}"))
    parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in indexed.parts.items())
    out(
        f"  {label}: with the index: national report {indexed.report:.2f} s ({parts}), hand-written "
        f"{indexed.hand:.2f} s; origin-first activity table {both:.2f} s"
    )
    rest = timing.parts["indicators"] + timing.parts["completeness"]
    indexed_rest = indexed.parts["indicators"] + indexed.parts["completeness"]
    return [
        f"  {label}, what would help: activity table aggregated by origin first {rewritten:.2f} s (national report "
        f"≈ {rewritten + rest:.2f} s); index ({SUGGESTED_COLUMNS}): national report {indexed.report:.2f} s, "
        f"hand-written {indexed.hand:.2f} s, ratio {indexed.report / indexed.hand:.2f}; both: national report "
        f"≈ {both + indexed_rest:.2f} s, ratio ≈ {(both + indexed_rest) / indexed.hand:.2f}"
    ]


# --- Ingest ---------------------------------------------------------------------------------------------------


def batch_bytes(origin: str, rows: list[dict[str, Any]]) -> bytes:
    """An inbox batch exactly as the sender builds it: feed items splicing the stored bodies."""
    items = [
        persistence.feed_item(
            json.dumps(origin), row["kind"], row["id"], row["version"], row["updated_at_us"], False, row["body"]
        )
        for row in rows
    ]
    batch_id = str(uuid.uuid4())
    return (f'{{"origin":{json.dumps(origin)},"batch_id":"{batch_id}","records":[' + ",".join(items) + "]}").encode()


def ingest_batches(
    factory: ActivityFactory, origins: list[Member], count: int
) -> tuple[list[tuple[str, bytes]], list[tuple]]:
    """`count` new activities as 1,000-record (sender, batch) pairs from `origins` in turn, and the same rows."""
    raws, tuples = [], []
    for n, first in enumerate(range(0, count, INGEST_BATCH)):
        origin = origins[n % len(origins)]
        rows = [factory.row(origin) for _ in range(min(INGEST_BATCH, count - first))]
        raws.append((origin.node_id, batch_bytes(origin.node_id, rows)))
        tuples.extend(tuple(row[column] for column in COLUMNS) for row in rows)
    return raws, tuples


async def apply_batch(
    store: RecordService, parser: BatchParser, sender: str, raw: bytes, stages: dict[str, float]
) -> int:
    """The inbox's path for one pushed batch (without the HTTP signature check), timing its stages."""
    t0 = time.perf_counter()
    parsed = await parser.parse(raw, sender)  # as the inbox handler does
    rows = parsed.rows
    t2 = t3 = t4 = time.perf_counter()
    async with store.engine.begin() as connection:
        if await persistence.claim_inbox_batch(connection, parsed.origin, parsed.batch_id, len(rows)):
            t3 = time.perf_counter()
            await apply_rows(store, connection, rows)
            t4 = time.perf_counter()
    t5 = time.perf_counter()
    for name, seconds in (
        ("parse_batch + wire_rows", t2 - t0),
        ("begin + claim_inbox_batch", t3 - t2),
        ("apply_rows", t4 - t3),
        ("commit", t5 - t4),
    ):
        stages[name] = stages.get(name, 0.0) + seconds
    return len(rows)


async def run_appliers(
    engine: AsyncEngine, parser: BatchParser, raws: list[tuple[str, bytes]], appliers: int, stages: dict[str, float]
) -> float:
    queue = list(reversed(raws))
    # The hub's record service, where the inbox handler applies batches (no plugin listens to replicas here).
    store = record_service(engine, "hub-national", build_plugins(load_entry_points=False))

    async def applier() -> None:
        while queue:
            sender, raw = queue.pop()
            await apply_batch(store, parser, sender, raw, stages)

    started = time.perf_counter()
    await asyncio.gather(*(applier() for _ in range(appliers)))
    return time.perf_counter() - started


async def clone_table(connection: asyncpg.Connection, name: str) -> None:
    """`records` with the same columns, defaults, rows and indexes (built after the copy, as a bulk load would)."""
    await connection.execute(f"CREATE TABLE {name} (LIKE records INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    await connection.execute(f"INSERT INTO {name} SELECT * FROM records")
    for (definition,) in await connection.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'records'"):
        await connection.execute(
            re.sub(r"INDEX (\S+) ON public\.records ", rf"INDEX {name}_\1 ON public.{name} ", definition)
        )
    await connection.execute(f"VACUUM (ANALYZE) {name}")


async def baseline_ingest(dsn: str, tuples: list[tuple], table: str, copy: bool) -> float:
    assignments = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("id", "origin"))
    upsert = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))}) "
        f"ON CONFLICT (id, origin) DO UPDATE SET {assignments} "
        f"WHERE {table}.version < excluded.version"
    )
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for first in range(0, len(tuples), INGEST_BATCH):
            chunk = tuples[first : first + INGEST_BATCH]
            async with connection.transaction():
                if copy:
                    await connection.copy_records_to_table(table, records=chunk, columns=COLUMNS)
                else:
                    await connection.executemany(upsert, chunk)
        return time.perf_counter() - started
    finally:
        await connection.close()


@dataclass
class IngestResult:
    rates: dict[int, float]
    executemany: float
    copy: float


async def time_ingest(
    backend: Backend, registry: Registry, members: list[Member], args: argparse.Namespace
) -> IngestResult:
    dsn = pg_dsn(backend.url)
    rng = random.Random(args.seed + 2)
    origins = rng.sample(members, k=min(INGEST_ORIGINS, len(members)))
    factory = ActivityFactory(registry, members, args.seed + 3)
    factory.index = 10_000_000
    variants = (1, 2, 3, 4)
    started = time.perf_counter()
    sets = {n: ingest_batches(factory, origins, args.ingest) for n in variants}
    sample = parse_batch(sets[1][0][0][1])
    sample_rows = wire_rows(sample.records, sample.origin)
    # Replicated rows carry the body as UTF-8 bytes (mapping.replica_values).
    if sample_rows != [(*row[:-1], row[-1].encode()) for row in sets[1][1][: len(sample_rows)]]:
        raise AssertionError("wire_rows of a generated batch differ from the generated rows")
    mb = sum(len(raw) for _, raw in sets[1][0]) / 1e6
    out(
        f"  built {len(variants)} × {args.ingest:,} new activities from {len(origins)} origins as "
        f"{len(sets[1][0])} batches of {INGEST_BATCH:,} ({mb:.1f} MB each set) in {time.perf_counter() - started:.1f} s"
    )
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for table in ("bench_records_em", "bench_records_copy"):
            await clone_table(connection, table)
        out(
            "  baseline tables: 2 copies of records (same columns, rows, indexes) made in "
            f"{time.perf_counter() - started:.1f} s"
        )
        before = await connection.fetchval("SELECT count(*) FROM records")
    finally:
        await connection.close()
    rates = {}
    parser = BatchParser(args.parse_workers)
    where = f"in {args.parse_workers} worker process(es)" if args.parse_workers else "in the benchmark process"
    out(f"  batches validated {where} (inbox_parse_workers = {args.parse_workers})")
    try:
        await parser.parse(sets[1][0][0][1], sets[1][0][0][0])  # workers started before the timing
        for n in variants:
            raws, _ = sets[n]
            stages: dict[str, float] = {}
            seconds = await run_appliers(backend.engine, parser, raws, n, stages)
            rates[n] = args.ingest / seconds
            out(f"  apply: {args.ingest:,} records with {n} applier(s) in {seconds:.2f} s = {rates[n]:,.0f} rec/s")
            if n == 1:
                out(
                    "    stages (µs per record): "
                    + ", ".join(f"{name} {s / args.ingest * 1e6:.0f}" for name, s in stages.items())
                )
            if n == 1:
                tuples = sets[1][1]
                em = await baseline_ingest(dsn, tuples, "bench_records_em", copy=False)
                out(
                    f"  baseline: asyncpg executemany of the same upsert, same rows: {em:.2f} s "
                    f"= {len(tuples) / em:,.0f} rec/s"
                )
                cp = await baseline_ingest(dsn, tuples, "bench_records_copy", copy=True)
                out(f"  baseline: asyncpg copy_records_to_table, same rows: {cp:.2f} s = {len(tuples) / cp:,.0f} rec/s")
    finally:
        parser.close()
    connection = await asyncpg.connect(dsn)
    try:
        after = await connection.fetchval("SELECT count(*) FROM records")
        batches = await connection.fetchval("SELECT count(*) FROM inbox_batches")
    finally:
        await connection.close()
    expected = args.ingest * len(variants)
    if after - before != expected:
        raise AssertionError(f"ingest stored {after - before:,} new records, expected {expected:,}")
    out(f"  check: {after - before:,} new rows in records, {batches} inbox batches recorded")
    return IngestResult(rates, args.ingest / em, args.ingest / cp)


# --- Main -------------------------------------------------------------------------------------------------------


def header(args: argparse.Namespace) -> str:
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("SQLAlchemy", "aiosqlite", "asyncpg", "pydantic")
    )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"bench/hub.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  {os.cpu_count()} CPUs  "
        f"Python {platform.python_version()}  SQLite {sqlite3.sqlite_version}  {versions}\n"
        f"nodes={args.nodes} activities={args.activities} reports={args.reports} ingest={args.ingest} "
        f"parse-workers={args.parse_workers} "
        f"seed={args.seed}  load average {load}"
    )


async def with_cleanup(args: argparse.Namespace) -> list[str]:
    registry = build_plugins(settings={"hub": {"enabled": True}}).registry  # a hub's plugins and indexes
    backends: list[Backend] = []
    temp_dir = None
    database = f"bench_hub_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    created = False
    summary: list[str] = []
    try:
        if not args.skip_sqlite:
            temp_dir = Path(tempfile.mkdtemp(prefix="regies-bench-hub-"))
            url = f"sqlite+aiosqlite:///{temp_dir / 'hub.db'}"
            backends.append(Backend("sqlite", url, create_engine(url)))
        if not args.skip_postgres:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await admin.execute(f"CREATE DATABASE {database}")
                created = True
                version = await admin.fetchval("SHOW server_version")
            finally:
                await admin.close()
            url = PG_URL.format(database=database)
            backends.append(Backend("postgresql", url, create_engine(url)))
            out(f"PostgreSQL {version}: throwaway database {database}")
        if not backends:
            raise SystemExit("nothing to do: both --skip-sqlite and --skip-postgres")
        out(f"[1] hub data: {args.nodes} members, {args.activities:,} activities, {args.reports:,} reports")
        members = await load(backends, registry, args)
        out(
            f"[2] national report, period {PERIOD_KEY}: median of {RUNS} runs after a warm-up, "
            "interleaved with the baseline"
        )
        missed = []
        for backend in backends:
            timing = await time_national_report(backend, registry, RUNS, verbose=True)
            summary.append(report_summary(timing))
            parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timing.parts.items())
            hand_parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timing.hand_parts.items())
            out(f"  {backend.label}: aggregates {parts}; hand-written {hand_parts}")
            if timing.report > TARGETS[backend.name] or timing.report / timing.hand > RATIO_TARGET:
                missed.append((backend, timing))
                statement, parameters, seconds = timing.slowest
                out(f"  {backend.label}: target missed; slowest statement ({seconds:.2f} s median), with {parameters}:")
                out("    " + " ".join(statement.split()))
                how = "EXPLAIN (ANALYZE, BUFFERS)" if backend.name == "postgresql" else "EXPLAIN QUERY PLAN"
                out(f"  {backend.label}: its plan ({how}):")
                for line in await explain(backend.engine, statement, parameters):
                    out("    " + line)
        if missed and not args.no_experiments:
            out(f"[3] what would help, on the same data (median of {EXPERIMENT_RUNS} runs after a warm-up)")
            for backend, timing in missed:
                summary.extend(await experiments(backend, registry, timing))
        postgres = next((b for b in backends if b.name == "postgresql"), None)
        if postgres is not None and args.ingest > 0:
            out("[4] ingest into the PostgreSQL hub: parse_batch → wire_rows → claim_inbox_batch + apply_rows")
            result = await time_ingest(postgres, registry, members, args)
            best = max(result.rates, key=lambda n: result.rates[n])
            rate = result.rates[best]
            verdict = "ok" if rate >= INGEST_TARGET else "BELOW TARGET"
            summary.append(
                f"ingest PostgreSQL: {rate:,.0f} rec/s with {best} applier(s) (target >= {INGEST_TARGET:,}: "
                f"{verdict}), 1 applier {result.rates[1]:,.0f} rec/s; asyncpg executemany {result.executemany:,.0f} "
                f"rec/s, ratio {rate / result.executemany:.2f}; COPY {result.copy:,.0f} rec/s, ratio "
                f"{rate / result.copy:.2f}"
            )
    finally:
        for backend in backends:
            await backend.engine.dispose()
        if created and not args.keep:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            finally:
                await admin.close()
        if args.keep:
            out(f"kept: {', '.join(b.url for b in backends)}")
        elif temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return summary


def report_summary(timing: ReportTiming) -> str:
    target = TARGETS[timing.backend]
    ratio = timing.report / timing.hand
    verdicts = "ok" if timing.report <= target else "MISSED"
    ratio_verdict = "ok" if ratio <= RATIO_TARGET else "MISSED"
    return (
        f"national report {BACKEND_NAMES[timing.backend]}: {timing.report:.2f} s (target <= {target:g} s: {verdicts}), "
        f"hand-written SQL {timing.hand:.2f} s, ratio {ratio:.2f} (target <= {RATIO_TARGET}: {ratio_verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=130, help="approved member régies (default 130)")
    parser.add_argument("--activities", type=int, default=1_000_000, help="activities on the hub (default 1,000,000)")
    parser.add_argument("--reports", type=int, default=10_000, help="period reports on the hub (default 10,000)")
    parser.add_argument(
        "--ingest", type=int, default=100_000, help="records pushed per ingest variant (default 100,000)"
    )
    parser.add_argument(
        "--parse-workers",
        type=int,
        default=2,
        help="worker processes validating pushed batches, as the hub's inbox_parse_workers (default 2, as in "
        "config/hub.example.toml; 0: in the benchmark process)",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the databases (for EXPLAIN by hand)")
    parser.add_argument("--no-experiments", action="store_true", help="do not try the suggested index and rewrite")
    args = parser.parse_args()
    out(header(args))
    started = time.perf_counter()
    summary = asyncio.run(with_cleanup(args))
    out()
    for line in summary:
        out(line)
    out(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
