"""Schemathesis against the node's and the hub's OpenAPI documents: every check, every phase, a fixed seed.

Phases: examples, coverage and fuzzing per operation (`test_node_api`, `test_hub_api`; on PostgreSQL, for the
hub's open-data routes and for a `PUT` taking the body its collection's `POST` takes, examples and fuzzing, their
coverage cases running on the node or on the `POST`), and stateful chains
create → get → replace → delete through the document's links (`test_node_stateful`). Bearer endpoints get the
node's admin token; signed endpoints (change feed, inbox, the hub's join requests and member status) are signed
by a peer the node trusts, so their authenticated paths are fuzzed too.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import CHECKS, is_check_class
from schemathesis.config import SchemathesisConfig
from sqlalchemy import delete

from federation import appkeys
from federation.app import create_app
from federation.config import load_settings
from federation.storage.tables import changes, records
from tests.conftest import _empty_postgres
from tests.security.contract_rules import keep_contract_rules, register_formats
from tests.security.served import PeerSigner, ServedNode, served_node

SEED = 20261127
# Bounds the run on two cores (node on SQLite and PostgreSQL, hub, stateful chains): with the plugins' ~27
# operations, 75, 40 and then 25 random examples per operation took the suite past its 15-minute budget. The
# coverage phase's boundary cases do not count against it.
MAX_EXAMPLES = 15
STATEFUL_SCENARIOS = 30
POSTGRES_MAX_EXAMPLES = 10
CONFIG: dict[str, Any] = {
    "seed": SEED,
    # Credentials are the test's: a generated Authorization header would only replace the admin token.
    # No example database: every run generates the same cases from the seed, and writes nothing to the tree.
    "generation": {"max-examples": MAX_EXAMPLES, "with-security-parameters": False, "database": "none"},
    # Answers about the server's state, not the request's shape: a record already deleted (410), an If-Match
    # naming another version (412).
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "410", "412", "429"]
        }
    },
}
# Chains check what a sequence of valid calls may break (deleted records, links); invalid inputs are the other
# phases' work, and a chained call may legitimately echo a derived field that a previous response carried.
STATEFUL_CONFIG = {**CONFIG, "generation": {**CONFIG["generation"], "mode": "positive"}}

register_formats()


def _document(hub: bool) -> dict[str, Any]:
    """The document the app serves at /openapi.json (it depends on the plugins, not on the database)."""
    settings = load_settings(data_dir=Path(tempfile.gettempdir()), overrides={"plugins": {"hub": {"enabled": hub}}})
    document: dict[str, Any] = json.loads(create_app(settings)[appkeys.OPENAPI]())
    return document


def _schema(document: dict[str, Any], config: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(config))


def _replacements_of_created_records(document: dict[str, Any]) -> list[str]:
    """`PUT <collection>/{id}` operations whose body is the one `POST <collection>` takes.

    The coverage phase's boundary cases of a body are the same for both (one model validates them), and a record's
    body is most of the node's cases (activities: ~1,550 per operation, 2026-12-07): those bodies' boundaries run on
    the POST; the PUT keeps its examples and random cases, which exercise its path and `If-Match` too."""
    labels = []
    for path, operations in document["paths"].items():
        collection = document["paths"].get(path.rsplit("/", 1)[0], {})
        if (
            "put" in operations
            and "post" in collection
            and operations["put"].get("requestBody") == collection["post"].get("requestBody")
        ):
            labels.append(f"PUT {path}")
    return labels


NODE_DOCUMENT = _document(hub=False)
NODE_CONFIG = {
    **CONFIG,
    "operations": [
        {
            "include-name": _replacements_of_created_records(NODE_DOCUMENT),
            "phases": {"coverage": {"enabled": False}},
        }
    ],
}
node_schema = _schema(NODE_DOCUMENT, NODE_CONFIG)
# PostgreSQL meets other edge cases (types, ranges, text): fewer random cases per operation, same seed, and not the
# coverage phase's boundary cases, which run on SQLite: on PostgreSQL they took 213 s of the suite's workers
# (2026-12-07), the largest single share of its 15-minute budget.
POSTGRES_CONFIG = {
    **CONFIG,
    "generation": {**CONFIG["generation"], "max-examples": POSTGRES_MAX_EXAMPLES},
    "phases": {"coverage": {"enabled": False}},
}
node_postgres_schema = _schema(NODE_DOCUMENT, POSTGRES_CONFIG)
node_stateful_schema = _schema(NODE_DOCUMENT, STATEFUL_CONFIG)
# The hub's own routes, and those whose answer differs on a hub (every member's data·inclusion lists and HSDS
# services, the open-data catalogue): the node API it also serves is fuzzed on the node.
HUB_DOCUMENT = _document(hub=True)
hub_schema = _schema(HUB_DOCUMENT, CONFIG).include(path_regex="^/plugins/hub/|^/catalog\\.jsonld$")
# data·inclusion and HSDS read the same parameters on the node, where the coverage phase's boundary cases run: on the
# hub, random cases only (schemathesis builds coverage cases while pytest collects, in every xdist worker).
HUB_OPEN_DATA_CONFIG = {**CONFIG, "phases": {"coverage": {"enabled": False}}}
hub_open_data_schema = _schema(HUB_DOCUMENT, HUB_OPEN_DATA_CONFIG).include(path_regex="^/api/v1/datainclusion/|^/hsds/")
ALL_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]  # `--checks all`


def _credentials(case: schemathesis.Case, served: ServedNode, signer: PeerSigner) -> dict[str, Any]:
    if {"httpSignature": []} in case.operation.definition.raw.get("security", []):
        return {"auth": signer}
    return {"headers": served.auth()}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedNode, PeerSigner]]:
    with served_node(tmp_path_factory.mktemp("fuzz-node"), "rq-fuzz") as served:
        yield served, served.pin_peer("rq-fuzz-peer")


@pytest.fixture(scope="module")
def node_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[ServedNode, PeerSigner]]:
    asyncio.run(_empty_postgres(postgres_url))
    with served_node(tmp_path_factory.mktemp("fuzz-pg"), "rq-fuzz-pg", database_url=postgres_url) as served:
        yield served, served.pin_peer("rq-fuzz-peer")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedNode, PeerSigner]]:
    with served_node(tmp_path_factory.mktemp("fuzz-hub"), "hub-fuzz", hub=True) as served:
        yield served, served.pin_peer("rq-fuzz-member")


@node_schema.parametrize()
def test_node_api(case: schemathesis.Case, node: tuple[ServedNode, PeerSigner]) -> None:
    served, signer = node
    keep_contract_rules(case, signer)
    case.call_and_validate(base_url=served.url, checks=ALL_CHECKS, **_credentials(case, served, signer))


@node_postgres_schema.parametrize()
def test_node_api_on_postgresql(case: schemathesis.Case, node_on_postgres: tuple[ServedNode, PeerSigner]) -> None:
    served, signer = node_on_postgres
    keep_contract_rules(case, signer)
    case.call_and_validate(base_url=served.url, checks=ALL_CHECKS, **_credentials(case, served, signer))


@hub_schema.parametrize()
def test_hub_api(case: schemathesis.Case, hub: tuple[ServedNode, PeerSigner]) -> None:
    served, signer = hub
    keep_contract_rules(case, signer)
    case.call_and_validate(base_url=served.url, checks=ALL_CHECKS, **_credentials(case, served, signer))


@hub_open_data_schema.parametrize()
def test_hub_open_data_api(case: schemathesis.Case, hub: tuple[ServedNode, PeerSigner]) -> None:
    served, signer = hub
    keep_contract_rules(case, signer)
    case.call_and_validate(base_url=served.url, checks=ALL_CHECKS, **_credentials(case, served, signer))


async def _forget_records(served: ServedNode) -> None:
    async with served.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(delete(records).where(records.c.kind != "node"))
        await connection.execute(delete(changes).where(changes.c.kind != "node"))


def test_node_stateful(node: tuple[ServedNode, PeerSigner]) -> None:
    served, signer = node

    class Scenario(node_stateful_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts from the same records, so that Hypothesis can replay and shrink it.
            served.run(_forget_records(served))

        def before_call(self, case: schemathesis.Case) -> None:
            keep_contract_rules(case, signer)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": served.url, **_credentials(case, served, signer)}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            kwargs.pop("additional_checks", None)
            case.validate_response(response, checks=ALL_CHECKS, transport_kwargs=kwargs, recorder=self.recorder)

    settings = hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS, stateful_step_count=6, deadline=None, derandomize=True, database=None
    )
    Scenario.run(settings=settings)
