"""Lending between three real `regies serve` processes on 127.0.0.1: request → accept → picked up → returned with
the same states on both sides, nothing at the third régie nor on public pages, a conflict refused, a borrower
killed with SIGKILL mid-exchange that converges once restarted, and a cancellation crossing an accept, then the
same signed decision delivered twice and a stale request delivered late, ending in one state on both nodes."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools.loadgen import NodeProcess, run_regies
from federation.protocol.signing import sign_request
from tests.plugins.lending_helpers import loan_body, next_weekday, van

FAST = {"REGIES_FEDERATION__PUSH_INTERVAL_S": "0.2", "REGIES_FEDERATION__PULL_INTERVAL_S": "0.5"}


def wait_for(what: str, check: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def loan_rows(data_dir: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(data_dir / "regies.db") as connection:
        return connection.execute("SELECT kind, version, body FROM records WHERE kind LIKE 'loan_%'").fetchall()


def set_delivery(data_dir: Path, peer: str, on: bool) -> None:
    """Switch this node's push to and pull from `peer` (its `peers` row, which the running sync worker reads at
    every round): off, what either node writes stays with it until switched on again."""
    with sqlite3.connect(data_dir / "regies.db", timeout=30) as connection:
        connection.execute("UPDATE peers SET push = ?, pull = ? WHERE node_id = ?", (on, on, peer))


def deliver(
    sender_dir: Path, sender: str, receiver_url: str, batch_id: str, kind: str, document: Any
) -> tuple[int, str, int]:
    """Push one record to a node's inbox as `sender` would, in a batch signed with `sender`'s own key: the answer's
    status, and the batch's fate (applied or duplicate) and number of records applied."""
    (pem,) = (sender_dir / "keys").glob("*.pem")
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    envelope = {name: document[name] for name in ("origin", "id", "version", "updated_at")}
    record = {**envelope, "kind": kind, "deleted": False, "payload": document}
    body = json.dumps({"origin": sender, "batch_id": batch_id, "records": [record]}).encode()
    url = f"{receiver_url}/federation/v1/inbox"
    headers = dict(sign_request("POST", url, body, node_id=sender, kid=pem.stem, private_key=key))
    answer = requests.post(url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=30)
    fate = answer.json()
    return answer.status_code, fate.get("status", fate.get("detail")), fate.get("applied", -1)


def test_three_regies_lend_a_van(tmp_path: Path, servers: list[NodeProcess]) -> None:
    dirs = {name: tmp_path / name for name in ("rq-lilas", "rq-voisine", "rq-tierce")}
    tokens = {
        name: run_regies(path, "init", "--node-id", name, "--name", f"Régie {name}").stdout.strip().splitlines()[-1]
        for name, path in dirs.items()
    }
    nodes = {name: NodeProcess(path, **FAST) for name, path in dirs.items()}
    servers.extend(nodes.values())
    for a, b in (("rq-lilas", "rq-voisine"), ("rq-lilas", "rq-tierce"), ("rq-voisine", "rq-tierce")):
        run_regies(dirs[a], "peer", "add", nodes[b].url, "--yes", "--push")
        run_regies(dirs[b], "peer", "add", nodes[a].url, "--yes", "--push")
    lender, borrower = nodes["rq-lilas"], nodes["rq-voisine"]

    def api(name: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        answer = requests.request(
            method,
            f"{nodes[name].url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {tokens[name]}"},
            timeout=30,
        )
        return answer.status_code, answer.json() if answer.content else None

    status, resource = api("rq-lilas", "POST", "/api/v1/resources", van())
    assert status == 201, resource
    wait_for(
        "the van's replica at the borrower",
        lambda: api("rq-voisine", "GET", "/api/v1/resources?origin=rq-lilas")[1]["items"],
    )

    tuesday = next_weekday(2)
    status, loan = api("rq-voisine", "POST", "/plugins/lending/requests", loan_body(resource, tuesday))
    assert status == 201, loan
    path = f"/plugins/lending/loans/rq-voisine/{loan['request']['id']}"

    def state(name: str) -> str | None:
        status, found = api(name, "GET", path)
        return found["state"] if status == 200 else None

    wait_for("the request in the lender's inbox", lambda: state("rq-lilas") == "requested")
    status, accepted = api("rq-lilas", "POST", f"{path}/accept", {"deposit_eur": 300})
    assert status == 200 and accepted["state"] == "accepted", accepted
    wait_for("the decision at the borrower", lambda: state("rq-voisine") == "accepted")

    # A second request over the accepted loan is refused by the lender's node, naming the field.
    status, problem = api(
        "rq-voisine", "POST", "/plugins/lending/requests", loan_body(resource, tuesday, "10:00", "12:00")
    )
    assert status == 409 and problem["type"].endswith(":loan-conflict") and problem["errors"][0]["pointer"] == "/start"

    assert api("rq-voisine", "POST", f"{path}/picked-up")[1]["state"] == "picked_up"
    # The borrower is killed right after its next write, before it could have pushed it: after a restart its
    # outbox (and the lender's pulls) deliver it.
    assert api("rq-voisine", "POST", f"{path}/returned")[1]["state"] == "returned"
    borrower.kill()
    restarted = NodeProcess(dirs["rq-voisine"], port=borrower.port, **FAST)
    servers.append(restarted)
    nodes["rq-voisine"] = restarted
    wait_for("the return at the lender", lambda: state("rq-lilas") == "returned")
    on_lender, on_borrower = api("rq-lilas", "GET", path)[1], api("rq-voisine", "GET", path)[1]
    assert on_lender["state"] == on_borrower["state"] == "returned"
    assert on_lender["request"] == on_borrower["request"] and on_lender["decision"] == on_borrower["decision"]

    # The third régie, a peer of both, got their public records and none of the loan's.
    wait_for(
        "the third régie's replica of the van",
        lambda: api("rq-tierce", "GET", "/api/v1/resources?origin=rq-lilas")[1]["items"],
    )
    assert loan_rows(dirs["rq-tierce"]) == []
    assert api("rq-tierce", "GET", "/plugins/lending/loans")[1] == {"items": []}
    assert {kind for kind, _version, _body in loan_rows(dirs["rq-lilas"])} == {"loan_request", "loan_decision"}
    # The public sees nothing: no token, no loan; the public page does not mention it.
    assert requests.get(f"{lender.url}/plugins/lending/loans", timeout=10).status_code == 401
    public = requests.get(f"{lender.url}/", headers={"Accept": "text/html"}, timeout=10).text
    assert "Déménagement de la ressourcerie" not in public and "RC-2026-0042" not in public
    assert all("loan" not in json.dumps(item) for item in api("rq-tierce", "GET", "/api/v1/resources")[1]["items"])

    # A cancellation crosses an accept: with delivery between the two switched off, the lender accepts a new
    # request while the borrower cancels it, each without news of the other.
    wednesday = next_weekday(3)
    status, loan = api("rq-voisine", "POST", "/plugins/lending/requests", loan_body(resource, wednesday))
    assert status == 201, loan
    first_version = loan["request"]
    path = f"/plugins/lending/loans/rq-voisine/{first_version['id']}"
    wait_for("the new request in the lender's inbox", lambda: state("rq-lilas") == "requested")
    set_delivery(dirs["rq-lilas"], "rq-voisine", False)
    set_delivery(dirs["rq-voisine"], "rq-lilas", False)
    time.sleep(1.5)  # a worker round that read the switches before they changed ends well within this
    assert api("rq-lilas", "POST", f"{path}/accept", {})[1]["state"] == "accepted"
    cancelled = api("rq-voisine", "POST", f"{path}/cancel")[1]
    assert cancelled["state"] == "cancelled" and cancelled["decision"] is None  # the accept has not arrived
    assert api("rq-lilas", "GET", path)[1]["state"] == "accepted"  # nor the cancellation
    set_delivery(dirs["rq-lilas"], "rq-voisine", True)
    set_delivery(dirs["rq-voisine"], "rq-lilas", True)

    def both_cancelled() -> bool:
        on_lender, on_borrower = api("rq-lilas", "GET", path)[1], api("rq-voisine", "GET", path)[1]
        return on_lender["state"] == on_borrower["state"] == "cancelled" and on_borrower["decision"] is not None

    wait_for("the cancellation and the accept on both nodes", both_cancelled)
    on_lender, on_borrower = api("rq-lilas", "GET", path)[1], api("rq-voisine", "GET", path)[1]
    assert on_lender["request"] == on_borrower["request"] and on_lender["decision"] == on_borrower["decision"]
    assert on_lender["decision"]["decision"] == "accepted"

    # The same signed decision delivered twice more (two batches, then the first batch id again) and the request's
    # first version delivered after its cancellation change nothing on either side.
    decision = on_lender["decision"]
    voisine = nodes["rq-voisine"].url
    for batch_id, fate in (("again-0001", "applied"), ("again-0002", "applied"), ("again-0001", "duplicate")):
        answer = deliver(dirs["rq-lilas"], "rq-lilas", voisine, batch_id, "loan_decision", decision)
        assert answer == (202, fate, 0)  # accepted, and nothing applied: the borrower holds that version already
    answer = deliver(dirs["rq-voisine"], "rq-voisine", lender.url, "late-0001", "loan_request", first_version)
    assert answer == (202, "applied", 0)  # an older version than the lender's cancelled one
    assert api("rq-lilas", "GET", path)[1] == on_lender and api("rq-voisine", "GET", path)[1] == on_borrower
    decisions = [version for kind, version, _body in loan_rows(dirs["rq-voisine"]) if kind == "loan_decision"]
    assert decisions == [1, 1]  # the first loan's and this one's, each stored once at its first version
    assert loan_rows(dirs["rq-tierce"]) == []
