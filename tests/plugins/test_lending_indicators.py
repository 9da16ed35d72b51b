"""Loans between régies as indicators of cooperation: a régie's report form counts its agreed loans of the period
(as lender, by kind of resource, and as borrower), and the hub's national table sums the régies' reports."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

from regies_hub import aggregates
from regies_hub.aggregates import Scope
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.bootstrap import init_node
from federation.config import Settings
from federation.indicators import parse_period_key
from federation.plugins import build_plugins
from federation.storage.engine import create_engine
from federation.storage.tables import enrolments, records
from tests.plugins.lending_helpers import call, loan_body, next_weekday, pull, van
from tests.protocol.conftest import Node, NodeFactory, make_node

__all__ = ["make_node"]

LENDING_KEYS = (
    "loans_lent_to_regies",
    "loans_borrowed_from_regies",
    "loans_lent_vehicle",
    "loans_lent_room",
    "loans_lent_tool",
    "loans_lent_equipment",
    "loans_lent_garden",
    "loans_lent_other",
)


async def report_form(node: Node, period: str) -> dict[str, Any]:
    async with node.session.get(f"{node.url}/api/v1/report-form?period={period}", headers=node.auth) as response:
        assert response.status == 200
        form = await response.json()
    return {item["key"]: item["value"] for item in form["indicators"] if item["key"] in LENDING_KEYS}


@contextlib.contextmanager
def loan_reads(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the node runs meanwhile that read its loan records (their kinds are bound parameters)."""
    statements: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "loan_request" in repr(parameters):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


async def request_loan(borrower: Node, resource: dict[str, Any], day: dt.date, start: str, end: str) -> str:
    status, loan = await call(borrower, "POST", "/requests", loan_body(resource, day, start, end))
    assert status == 201, loan
    path = f"/loans/{borrower.node_id}/{loan['request']['id']}"
    return path


async def test_agreed_loans_of_the_period_fill_the_report_and_the_hub_sums_them(
    make_node: NodeFactory, settings: Settings
) -> None:
    lender, borrower = await make_node("rq-lilas"), await make_node("rq-voisine")
    await lender.add_peer(borrower)
    await borrower.add_peer(lender)
    the_van = await lender.create("resources", van())
    the_room = await lender.create("resources", van(kind="room", name="Salle polyvalente"))
    await pull(borrower, "rq-lilas")
    # All on one Monday, at hours that do not overlap: one period holds them whatever today's date.
    monday = next_weekday(1)
    returned = await request_loan(borrower, the_van, monday, "08:00", "09:00")
    accepted = await request_loan(borrower, the_van, monday, "09:00", "10:00")
    room = await request_loan(borrower, the_room, monday, "10:00", "11:00")
    declined = await request_loan(borrower, the_van, monday, "11:00", "12:00")
    cancelled = await request_loan(borrower, the_van, monday, "13:00", "14:00")
    await request_loan(borrower, the_van, monday, "14:00", "15:00")  # still to be decided
    await pull(lender, "rq-voisine")
    for path in (returned, accepted, room, cancelled):
        assert (await call(lender, "POST", f"{path}/accept", {}))[0] == 200
    assert (await call(lender, "POST", f"{declined}/decline", {"comment": "Déjà prêté"}))[0] == 200
    await pull(borrower, "rq-lilas")
    assert (await call(borrower, "POST", f"{returned}/picked-up"))[1]["state"] == "picked_up"
    assert (await call(borrower, "POST", f"{returned}/returned"))[1]["state"] == "returned"
    assert (await call(borrower, "POST", f"{cancelled}/cancel"))[1]["state"] == "cancelled"
    await pull(lender, "rq-voisine")

    year = str(monday.year)
    # The eight figures come from one read of the loans, not one each (indicators.py's `compute_many`).
    with loan_reads(lender.context.engine) as reads:
        lent = await report_form(lender, year)
    assert len(reads) == 1, reads
    # Returned, accepted and the room: 3 agreed loans; declined, cancelled and pending ones do not count.
    assert lent == {
        "loans_lent_to_regies": 3,
        "loans_borrowed_from_regies": 0,
        "loans_lent_vehicle": 2,
        "loans_lent_room": 1,
        "loans_lent_tool": 0,
        "loans_lent_equipment": 0,
        "loans_lent_garden": 0,
        "loans_lent_other": 0,
    }
    borrowed = await report_form(borrower, year)
    assert borrowed["loans_borrowed_from_regies"] == 3 and borrowed["loans_lent_to_regies"] == 0
    assert (await report_form(lender, str(monday.year - 1)))["loans_lent_to_regies"] == 0
    # A régie that never took part in a loan has nothing to report (and its form does not show these lines).
    outsider = await make_node("rq-tierce")
    assert set((await report_form(outsider, year)).values()) == {None}

    # Each régie saves its report with the pre-filled figures (the node checks them like any value)…
    reports = []
    for node, values in ((lender, lent), (borrower, borrowed)):
        body = {"period": {"type": "year", "year": monday.year}, "indicators": values}
        saved = await node.create("reports", body)
        async with node.context.engine.connect() as connection:
            stored = (
                await connection.execute(
                    select(records.c.body).where(records.c.kind == "report", records.c.id == saved["id"])
                )
            ).scalar_one()
        reports.append((node.node_id, json.loads(stored)))
    # … and the hub, holding both reports as submitted, sums them in its national table.
    await init_node(settings, name="Hub", node_id="hub-national")
    engine = create_engine(settings.database.url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(enrolments),
                [
                    {
                        "node_id": node_id,
                        "name": node_id,
                        "base_url": "http://127.0.0.1:9",
                        "keys": "[]",
                        "department": "93",
                        "region": "11",
                        "state": "approved",
                        "requested_at_us": 1,
                    }
                    for node_id, _report in reports
                ],
            )
            await connection.execute(
                insert(records),
                [
                    {
                        "kind": "report",
                        "origin": node_id,
                        "id": str(uuid.uuid4()),
                        "version": 1,
                        "updated_at_us": 1,
                        "deleted": False,
                        "status": "submitted",
                        "period": year,
                        "body": json.dumps({**report, "state": "submitted"}),
                    }
                    for node_id, report in reports
                ],
            )
        registry = build_plugins().registry
        rows = await aggregates.indicator_table(engine, registry, parse_period_key(year), Scope())
    finally:
        await engine.dispose()
    national = {row["indicator"]: (row["total"], row["reports"]) for row in rows if row.get("area") is None}
    assert national["loans_lent_to_regies"] == (3, 2)
    assert national["loans_borrowed_from_regies"] == (3, 2)
    assert national["loans_lent_vehicle"] == (2, 2)
    assert national["loans_lent_room"] == (1, 2)
    lending_row = next(row for row in rows if row["indicator"] == "loans_lent_to_regies" and row["area"] is None)
    assert (lending_row["unit"], lending_row["aggregation"]) == ("count", "sum")
