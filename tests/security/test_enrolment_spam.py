"""Enrolment spam against a real hub: oversized requests and key lists, pending requests capped per source and in
all, join requests rate-limited per address, and approvals paged, so that anonymous requests cannot fill the hub."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.protocol.conftest import Node, NodeFactory
from tests.security.enrolment_helpers import (
    HTML,
    ForgedNode,
    coordinator,
    dashboard,
    enrolment_rows,
    hub_call,
    make_hub,
)

# --- Spam -------------------------------------------------------------------------------------------------


async def test_oversized_requests_and_key_lists_are_refused_before_storing(hub: Node) -> None:
    forged = ForgedNode("rq-spam")
    huge = json.dumps({**forged.join_body(), "padding": "x" * 70_000}).encode()
    status, _headers, problem = await forged.join(hub, huge)
    assert status == 413 and problem["type"].endswith("too-large")
    many = ForgedNode("rq-spam", private_keys={f"k{n}": Ed25519PrivateKey.generate() for n in range(5)})
    status, _headers, problem = await many.join(hub, signing_kid="k0")
    assert status == 422 and problem["errors"][0]["pointer"] == "/discovery/keys"
    long_kid = ForgedNode("rq-spam", private_keys={"k" * 101: Ed25519PrivateKey.generate()})
    assert (await long_kid.join(hub))[0] in (401, 422)
    long_url = ForgedNode("rq-spam", base_url="https://example.org/" + "a" * 500)
    status, _headers, problem = await long_url.join(hub)
    assert status == 422 and problem["errors"][0]["pointer"] == "/discovery/base_url"
    assert await enrolment_rows(hub) == []
    no_name, foreign = forged.join_body(), forged.join_body()
    del no_name["profile"]["name"]
    foreign["profile"]["origin"] = "rq-paris"
    for body, pointer in ((no_name, "/profile/name"), (foreign, "/profile/origin")):
        status, _headers, problem = await forged.join(hub, body)
        assert status == 422 and problem["errors"][0]["pointer"] == pointer, problem
    assert await enrolment_rows(hub) == []
    # The largest allowed is stored like any other: the longest key id, four keys, the longest address.
    longest_kid = ForgedNode("rq-spam", private_keys={"k" * 100: Ed25519PrivateKey.generate()})
    assert (await longest_kid.join(hub))[0] == 202
    four_keys = ForgedNode("rq-four", private_keys={f"k{n}": Ed25519PrivateKey.generate() for n in range(4)})
    assert (await four_keys.join(hub, signing_kid="k0"))[0] == 202
    longest_url = "http://127.0.0.1:9/" + "a" * (500 - len("http://127.0.0.1:9/"))
    assert (await ForgedNode("rq-long", base_url=longest_url).join(hub))[0] == 202
    assert [row["node_id"] for row in await enrolment_rows(hub)] == ["rq-spam", "rq-four", "rq-long"]


async def test_pending_requests_are_capped_per_source_and_in_all(make_node: NodeFactory) -> None:
    hub = await make_hub(make_node, enrolment_max_pending=4, enrolment_max_pending_per_source=2)
    # Behind the hub's reverse proxy the client's address is the one the proxy appended last.
    spammer = "attacker-chosen, 198.51.100.7"
    for n in range(2):
        assert (await ForgedNode(f"rq-spam-{n}").join(hub, forwarded_for=spammer))[0] == 202
    status, headers, problem = await ForgedNode("rq-spam-2").join(hub, forwarded_for="192.0.2.1, 198.51.100.7")
    assert status == 429 and "from this address" in problem["detail"] and headers["Retry-After"] == "3600"
    # Other addresses fill the rest: the total cap holds whoever asks.
    for n in range(3, 5):
        assert (await ForgedNode(f"rq-spam-{n}").join(hub, forwarded_for=f"203.0.113.{n}"))[0] == 202
    status, headers, problem = await ForgedNode("rq-spam-5").join(hub, forwarded_for="203.0.113.99")
    assert status == 429 and "too many join requests awaiting a decision" in problem["detail"]
    assert headers["Retry-After"] == "3600"  # an hour: the time a coordinator may take to decide
    rows = await enrolment_rows(hub)
    assert [(row["node_id"], row["source"]) for row in rows] == [
        ("rq-spam-0", "198.51.100.7"),
        ("rq-spam-1", "198.51.100.7"),
        ("rq-spam-3", "203.0.113.3"),
        ("rq-spam-4", "203.0.113.4"),
    ]


async def test_a_proxys_name_for_a_client_is_kept_to_the_columns_width(hub: Node) -> None:
    """A proxy that hides its clients names them with an obfuscated identifier, not an address: coordinators see
    it as given, up to the 64 characters of the column, and the per-address cap counts it as one address."""
    hidden = "_" + "h" * 63 + "-tail-cut-off"
    assert (await ForgedNode("rq-hidden").join(hub, forwarded_for=hidden))[0] == 202
    status, listing = await hub_call(hub, "GET", "/enrolments", await coordinator(hub))
    assert status == 200 and [item["source"] for item in listing["items"]] == [hidden[:64]]


async def test_join_requests_are_rate_limited_per_address(make_node: NodeFactory) -> None:
    hub = await make_hub(make_node, enrolment_requests_per_hour=3, enrolment_max_pending_per_source=100)
    for n in range(3):
        assert (await ForgedNode(f"rq-flood-{n}").join(hub))[0] == 202
    status, headers, problem = await ForgedNode("rq-flood-3").join(hub)
    assert status == 429 and problem["type"].endswith("too-many-requests")
    assert 0 < int(headers["Retry-After"]) <= 3600
    # Unsigned garbage counts as well: flooding cannot go around the limit.
    async with hub.session.post(f"{hub.url}/plugins/hub/enrolments", data=b"{}") as response:
        assert response.status == 429
    assert len(await enrolment_rows(hub)) == 3


async def test_approvals_are_paged_in_the_api_and_on_the_page(make_node: NodeFactory, regies_login: Any) -> None:
    hub = await make_hub(make_node, enrolment_max_pending_per_source=100, enrolment_requests_per_hour=100)
    for n in range(30):
        assert (await ForgedNode(f"rq-page-{n:02}").join(hub))[0] == 202
    auth = await coordinator(hub)
    seen: list[str] = []
    path: str | None = "/enrolments?state=pending&limit=12"
    while path:
        status, page = await hub_call(hub, "GET", path, auth)
        assert status == 200 and len(page["items"]) <= 12
        seen += [item["node_id"] for item in page["items"]]
        path = page["next"] and page["next"].removeprefix("/plugins/hub")
    assert seen == [f"rq-page-{n:02}" for n in range(30)]
    for bad in ("limit=0", "limit=100000", "after=-1", "limit=abc"):
        status, problem = await hub_call(hub, "GET", f"/enrolments?{bad}", auth)
        assert status == 400 and problem["errors"][0]["pointer"] in ("/limit", "/after")
    async with dashboard(hub, regies_login) as browser:
        first = await (await browser.get("/hub/enrolments", headers=HTML)).text()
        second = await (await browser.get("/hub/enrolments?page=2", headers=HTML)).text()
    assert first.count('action="/hub/enrolments/') == 2 * 25 and "rq-page-24" in first and "rq-page-25" not in first
    assert second.count('action="/hub/enrolments/') == 2 * 5 and "rq-page-29" in second and 'rel="prev"' in second
