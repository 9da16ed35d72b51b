"""Replicas keep the commune codes their origin wrote: a code retired by a merger since is accepted on a pull."""

from __future__ import annotations

import logging

import pytest

from federation import appkeys
from federation.protocol import persistence
from federation.protocol.puller import pull_peer
from federation.schema.identifiers import log_retired_commune
from federation.schema.records import Activity
from federation.schema.types import insee_commune
from tests.protocol.conftest import NodeFactory, activity

RETIRED = "01039"  # Béon, merged into Culoz-Béon (01138) on 1 January 2025


async def test_a_replica_with_a_retired_commune_is_accepted_with_a_warning(
    make_node: NodeFactory, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", database_url)
    await a.add_peer(b)
    await b.add_peer(a)
    # Written on the origin before the merger (an earlier release, or before the reference data knew of it).
    fields = activity(1, place={"commune": RETIRED, "qpv": []})
    old = await a.server.app[appkeys.STORE].create_built(
        "activity", lambda _previous, envelope: Activity.model_validate({**fields, **envelope})
    )
    current = await a.create("activities", activity(2, place={"commune": "01138"}))
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    # Logged once per code and process (and validated codes are memoised): forget an earlier test's.
    insee_commune.cache_clear()
    log_retired_commune.cache_clear()
    with caplog.at_level(logging.WARNING, logger="federation.schema.identifiers"):
        progress = await pull_peer(b.context, peer)
    assert progress.received == 3  # the profile and both activities
    replicas = await b.records("rq-a")
    place = replicas[str(old.id)]["place"]
    assert (place["commune"], place["department"], place["region"]) == (RETIRED, "01", "84")
    assert replicas[current["id"]]["place"]["commune"] == "01138"
    warning = f"INSEE commune code {RETIRED} was retired (merged communes); it is now Culoz-Béon (01138)"
    assert warning in caplog.messages
