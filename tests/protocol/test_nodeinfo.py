"""NodeInfo as a strict crawler sees this node: no document it would reject (the official 2.1 schema, vendored in
tests/protocol/nodeinfo/), because the only documents that schema accepts claim a protocol this node does not speak."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.protocol.conftest import NodeFactory

SCHEMA = json.loads((Path(__file__).parent / "nodeinfo" / "schema-2.1.json").read_text())


def nodeinfo(protocols: list[str]) -> dict[str, Any]:
    """The NodeInfo 2.1 document this node served until it stopped, with `protocols`."""
    return {
        "version": "2.1",
        "software": {"name": "regies-federation", "version": "0.1.0"},
        "protocols": protocols,
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {}},
        "metadata": {"nodeId": "rq-a", "protocol": "regies-federation/1"},
    }


async def test_a_crawler_following_nodeinfo_discovery_is_told_the_node_serves_none(make_node: NodeFactory) -> None:
    a = await make_node("rq-a")

    # NodeInfo's discovery: a client abandons on 404 and may mark the host as not supporting NodeInfo.
    for path in ("/.well-known/nodeinfo", "/nodeinfo/2.1", "/nodeinfo/2.0"):
        async with a.session.get(f"{a.url}{path}") as answer:
            assert answer.status == 404, path
    status, document = await a.get("/.well-known/regies-node")
    assert status == 200 and document["node_id"] == "rq-a"  # this protocol's own discovery is unaffected


@pytest.mark.parametrize("protocols", [[], ["regies-federation"], ["regies-federation/1"]])
def test_the_official_schema_refuses_every_document_naming_only_this_nodes_protocol(protocols: list[str]) -> None:
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.Draft4Validator(SCHEMA).validate(nodeinfo(protocols))

    assert refused.value.absolute_path[0] == "protocols"


def test_the_official_schema_accepts_that_document_only_with_a_protocol_of_its_closed_list() -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(nodeinfo(["activitypub"]))
    assert "regies-federation" not in SCHEMA["properties"]["protocols"]["items"]["enum"]
