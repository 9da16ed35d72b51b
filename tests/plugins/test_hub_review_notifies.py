"""The hub's decision on a régie's report is written like any other write: the régie's plugins hear of it."""

from __future__ import annotations

from typing import Any

from federation import hookimpl
from federation.protocol import persistence, sender
from federation.protocol.puller import pull_peer
from federation.storage.tokens import create_token
from tests.plugins.test_hub import PROFILES, REPORT, Network, _approve_all, _join_network
from tests.protocol.conftest import NodeFactory


class CommitListener:
    """A plugin noting every committed local write it hears of through `record_committed`."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, str, Any]] = []

    @hookimpl
    def record_committed(self, kind: str, record: dict[str, Any], action: str) -> None:
        self.heard.append((kind, record["id"], action, record.get("state")))


async def test_a_review_applied_to_the_nodes_report_is_told_to_its_plugins(make_node: NodeFactory) -> None:
    hub = await make_node("hub-national", plugin_settings={"hub": {"enabled": True}})
    national = await create_token(hub.context.engine, "coordination nationale", "national")
    listener = CommitListener()
    paris = await make_node(
        "rq-paris", extra_plugins=[("listener", listener)], plugin_settings={"hubclient": {"url": "http://placeholder"}}
    )
    async with paris.session.put(f"{paris.url}/api/v1/node", json=PROFILES["rq-paris"], headers=paris.auth) as answer:
        assert answer.status == 200, await answer.text()
    await _join_network(paris, hub)
    network = Network(hub, {"rq-paris": paris}, {"national": national})
    await _approve_all(network)
    report = await paris.create("reports", {**REPORT, "state": "submitted"})
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    comment = {"comment": "Le nombre de bénévoles semble inversé avec les contrats aidés."}
    assert (await network.hub_post(f"/reports/rq-paris/{report['id']}/return", comment))[0] == 201
    assert listener.heard[-1] == ("report", report["id"], "created", "submitted")

    hub_peer = await persistence.get_peer(paris.context.engine, "hub-national")
    assert hub_peer is not None
    await pull_peer(paris.context, hub_peer)
    assert listener.heard[-1] == ("report", report["id"], "updated", "returned")
    status, returned = await paris.get(f"/api/v1/reports/{report['id']}", headers=paris.auth)
    assert status == 200 and returned["state"] == "returned"
