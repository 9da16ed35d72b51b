"""Schemathesis against the node's and the hub's OpenAPI documents: every check, every phase, a fixed seed."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, is_check_class
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from federation import appkeys
from federation.app import create_app
from federation.config import load_settings
from federation.schema.identifiers import luhn_ok
from tests.security.served import ServedNode, served_node

SEED = 20261127
MAX_EXAMPLES = 100


def _with_luhn_key(stem: str) -> str:
    return next(stem + key for key in "0123456789" if luhn_ok(stem + key))


# Formats the contract names but JSON Schema cannot express (a Luhn key): taught to the generator.
schemathesis.openapi.format("siren", st.from_regex(r"\A[0-9]{8}\Z").map(_with_luhn_key))
schemathesis.openapi.format(
    "siret",
    st.tuples(st.from_regex(r"\A[0-9]{8}\Z"), st.from_regex(r"\A[0-9]{4}\Z")).map(
        lambda parts: _with_luhn_key(_with_luhn_key(parts[0]) + parts[1])
    ),
)

CONFIG = {
    "seed": SEED,
    # The bearer token is sent by the test; generated Authorization headers would overwrite nothing useful.
    "generation": {"max-examples": MAX_EXAMPLES, "with-security-parameters": False},
    # Answers about the server's state, not the request's shape: a record already deleted (410), an If-Match
    # naming another version (412).
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "410", "412", "429"]
        }
    },
}


def _document(hub: bool) -> dict[str, Any]:
    overrides = {"plugins": {"hub": {"enabled": hub}}}
    settings = load_settings(data_dir=Path(tempfile.gettempdir()) / "unused", overrides=overrides)
    document: dict[str, Any] = json.loads(create_app(settings)[appkeys.OPENAPI])
    return document


def _keep_cross_field_rules(body: Any) -> None:
    """Make a generated valid body obey the rules its schema states in prose (JSON Schema cannot compare fields)."""
    if not isinstance(body, dict):
        return
    if body.get("start_date") and body.get("end_date") and body["end_date"] < body["start_date"]:
        body["start_date"], body["end_date"] = body["end_date"], body["start_date"]
    for derived in (body, body.get("place")):
        if isinstance(derived, dict):
            for key in ("department", "region"):
                derived.pop(key, None)
    period = body.get("period")
    if isinstance(period, dict):
        period["key"] = None
        kind = period.get("type")
        if kind == "year":
            period.update(quarter=None, end_year=None)
        elif kind == "quarter":
            period.update(quarter=period.get("quarter") or 1, end_year=None)
        elif kind == "survey":
            period["year"] = min(period["year"], 2099)
            period.update(quarter=None, end_year=max(period.get("end_year") or 0, period["year"] + 1))
    for slot in (body.get("availability") or {}).get("slots") or []:
        if dt.time.fromisoformat(slot["end"]) <= dt.time.fromisoformat(slot["start"]):
            slot["start"], slot["end"] = "08:00:00", "18:00:00"
    if body.get("siret") and body.get("siren"):
        body["siren"] = None
    details = body.get("details")
    if isinstance(details, dict) and any(key.startswith("exits_") for key in details):
        # Insertion contracts: the total of exits is computed from the split, and bounded by the employees.
        details["exits_to_employment"] = None
        details["employees_cddi"] = None


def _keep_cross_parameter_rules(query: dict[str, Any]) -> None:
    """The hub's tables: a regional table names its region, a departmental one its department."""
    if query.get("level") == "regional" and not query.get("region"):
        query["region"] = "11"
    if query.get("level") == "departmental" and not query.get("department"):
        query["department"] = "75"
    period = query.get("period")
    if isinstance(period, str) and len(period) == 9 and period[4] == "-" and period[5:] <= period[:4]:
        query["period"] = f"{period[:4]}-{min(int(period[:4]) + 1, 2100)}" if period[:4] < "2100" else "2100"


def _prepare(case: schemathesis.Case) -> None:
    if case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        _keep_cross_field_rules(case.body)
        if isinstance(case.query, dict):
            _keep_cross_parameter_rules(case.query)


node_schema = schemathesis.openapi.from_dict(_document(False), config=SchemathesisConfig.from_dict(CONFIG))
# Chains of calls check what a sequence may break (deleted records, links); invalid inputs are the other phases'
# work, and a chained call may legitimately echo a derived field a previous response carried.
STATEFUL = {**CONFIG, "generation": {**CONFIG["generation"], "mode": "positive"}}
node_stateful_schema = schemathesis.openapi.from_dict(_document(False), config=SchemathesisConfig.from_dict(STATEFUL))
ALL_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    with served_node(tmp_path_factory.mktemp("fuzz-node"), "rq-fuzz") as served:
        yield served


@node_schema.parametrize()
def test_node_api(case: schemathesis.Case, node: ServedNode) -> None:
    _prepare(case)
    case.call_and_validate(base_url=node.url, headers=node.auth(), checks=ALL_CHECKS)


async def _forget_records(node: ServedNode) -> None:
    from sqlalchemy import delete

    from federation.storage.tables import changes, records

    async with node.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(delete(records).where(records.c.kind != "node"))
        await connection.execute(delete(changes).where(changes.c.kind != "node"))


def test_node_stateful(node: ServedNode) -> None:
    class Machine(node_stateful_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts from the same records, so that Hypothesis can replay it.
            node.run(_forget_records(node))

        def before_call(self, case):
            _prepare(case)

        def get_call_kwargs(self, case):
            return {"base_url": node.url, "headers": node.auth()}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=ALL_CHECKS, transport_kwargs=kwargs, recorder=self.recorder)

    Machine.run(settings=hypothesis.settings(max_examples=50, stateful_step_count=6, deadline=None, derandomize=True))


# The hub's own routes (the node API it also serves is fuzzed above).
hub_schema = schemathesis.openapi.from_dict(_document(True), config=SchemathesisConfig.from_dict(CONFIG)).include(
    path_regex="^/plugins/hub/"
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    with served_node(tmp_path_factory.mktemp("fuzz-hub"), "hub-fuzz", hub=True) as served:
        yield served


@hub_schema.parametrize()
def test_hub_api(case: schemathesis.Case, hub: ServedNode) -> None:
    _prepare(case)
    case.call_and_validate(base_url=hub.url, headers=hub.auth(), checks=ALL_CHECKS)
