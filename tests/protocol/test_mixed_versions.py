"""Two real releases federating: the previous release (found through CHANGELOG.md, installed from this
repository's history) and the current code, as two `regies serve` processes paired both ways
(docs/operations.md, "Upgrading a network node by node")."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import regies_lending

from devtools.loadgen import NodeProcess, run_regies
from devtools.releases import InstalledRelease, install_release, previous_release
from federation.plugins import Plugins, build_plugins
from federation.protocol.older_peers import PROTOCOL_1_0_KINDS
from federation.protocol.persistence import decode_feed_cursor
from federation.record_rules import record_service
from federation.storage.engine import create_engine
from tests.plugins.lending_helpers import loan_body, next_weekday


@pytest.fixture(scope="module")
def old_release() -> InstalledRelease:
    release = previous_release()
    assert release.version == "0.1.0" and release.commit.startswith("3863ed89")
    return install_release(release)


def current(data_dir: Path, *args: str) -> str:
    """`regies ARGS…` of the current code on `data_dir`: its output."""
    return run_regies(data_dir, *args, timeout=120).stdout


def previous(release: InstalledRelease, data_dir: Path, *args: str) -> str:
    """`regies ARGS…` of the previous release on `data_dir` (no setting of later releases): its output."""
    return run_regies(data_dir, *args, timeout=120, command=release.regies, private_addresses=False).stdout


def api(url: str, token: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def activities(node: NodeProcess, token: str, origin: str) -> dict[str, dict[str, Any]]:
    page = api(f"{node.url}/api/v1/activities?origin={origin}&limit=500", token)
    return {item["id"]: item for item in page["items"]}


def stored(data_dir: Path, kind: str) -> dict[str, dict[str, Any]]:
    """The documents of `kind` a node's SQLite database holds, by id (what it stored, served or not)."""
    with sqlite3.connect(data_dir / "regies.db") as connection:
        rows = connection.execute("SELECT id, version, body FROM records WHERE kind = ?", (kind,)).fetchall()
    return {str(row[0]): {"version": row[1], **json.loads(row[2])} for row in rows}


def write(data_dir: Path, origin: str, kind: str, document: dict[str, Any], plugins: Plugins) -> str:
    """Store `document` as a new record of `kind` (declared by `plugins`) through the record service of the node
    `origin` at `data_dir` (current code, not serving yet): its id."""
    model = plugins.registry.kinds[kind].record_model

    async def create() -> str:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'regies.db'}")
        try:
            build = lambda _previous, envelope: model.model_validate(document | envelope)  # noqa: E731
            return str((await record_service(engine, origin, plugins).create_built(kind, build)).id)
        finally:
            await engine.dispose()

    return asyncio.run(create())


def write_review(data_dir: Path, hub: str, member: str) -> str:
    """A two-level review by the hub `hub` on a report of `member`: it carries `level` and `reviewer_role`,
    members that schema 1.1 added."""
    review = {
        "report_origin": member,
        "report_id": str(uuid.uuid4()),
        "report_version": 2,
        "decision": "validated",
        "reviewer": "Coordination régionale",
        "level": "regional",
        "reviewer_role": "regional",
    }
    return write(data_dir, hub, "review", review, build_plugins(load_entry_points=False))


def write_loan_request(data_dir: Path, borrower: str, lender: str) -> str:
    """A loan request of the lending plugin's kind `loan_request` by `borrower`, addressed to `lender` alone.

    Written through the record service, not the lending API: the API first has the lender's node check the
    request, which a 0.1.0 node, without the lending plugin, cannot do. The record stands for any record of a kind
    a plugin adds that an older peer does not read."""
    resource = {"origin": lender, "id": str(uuid.uuid4()), "version": 1}
    plugins = build_plugins(load_entry_points=False, extra=[("lending", regies_lending)])
    return write(data_dir, borrower, "loan_request", loan_body(resource, next_weekday(2), lender=lender), plugins)


def pull_state(data_dir: Path, peer: str) -> tuple[str | None, str | None, int, int | None]:
    """A node's pull checkpoint of `peer` as its database holds it: cursor, last error, failures in a row, lag."""
    with sqlite3.connect(data_dir / "regies.db") as connection:
        row = connection.execute(
            "SELECT cursor, last_error, consecutive_failures, lag FROM peers WHERE node_id = ?", (peer,)
        ).fetchone()
    return row[0], row[1], row[2], row[3]


def change_seqs(data_dir: Path, origin: str) -> dict[str, int]:
    """The newest change-log sequence number of each record kind `origin` wrote, from a node's database."""
    with sqlite3.connect(data_dir / "regies.db") as connection:
        rows = connection.execute("SELECT kind, max(seq) FROM changes WHERE origin = ? GROUP BY kind", (origin,))
        return {str(kind): int(seq) for kind, seq in rows}


def pushed_kinds(data_dir: Path, destination: str) -> set[str]:
    """The kinds of the records a node put in its batches for `destination` (pending, failed or delivered)."""
    with sqlite3.connect(data_dir / "regies.db") as connection:
        rows = connection.execute("SELECT payload FROM outbox_batches WHERE destination = ?", (destination,))
        return {record["kind"] for (payload,) in rows for record in json.loads(payload)["records"]}


def test_the_previous_release_and_the_current_code_federate_both_ways(
    tmp_path: Path, servers: list[NodeProcess], old_release: InstalledRelease
) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_token = previous(old_release, old_dir, "init", "--node-id", "rq-old", "--name", "Régie 0.1.0")
    new_token = current(new_dir, "init", "--node-id", "rq-new", "--name", "Régie 0.2.0")
    old_token_value, new_token_value = (output.strip().splitlines()[-1] for output in (old_token, new_token))
    assert "0.1.0" in previous(old_release, old_dir, "version")
    review_id = write_review(new_dir, "rq-new", "rq-old")
    # A record of a plugin's kind addressed to rq-old, which 0.1.0 does not read: it would fail the old node's
    # whole page or batch, so it is never served nor pushed to it (docs/protocol.md §14.4).
    loan_id = write_loan_request(new_dir, "rq-new", "rq-old")
    loan = stored(new_dir, "loan_request")[loan_id]

    old = NodeProcess(old_dir, command=old_release.regies, private_addresses=False, REGIES_FEDERATION__WORKER="false")
    servers.append(old)
    new = NodeProcess(new_dir, REGIES_FEDERATION__WORKER="false")
    servers.append(new)
    with urllib.request.urlopen(f"{new.url}/.well-known/regies-node", timeout=30) as answer:
        assert "loan_request" in json.loads(answer.read())["record_kinds"]  # the served node has the kind
    # Paired both ways by their operators, fingerprints shown; rq-new is rq-old's hub (reviews come from a hub).
    added = current(new_dir, "peer", "add", old.url, "--yes", "--push")
    assert "rq-old" in added and added.count(":") > 31
    previous(old_release, old_dir, "peer", "add", new.url, "--yes", "--push", "--hub")

    # Each pushes to the other: one activity each, then `regies sync --push-only`.
    green = {
        "category": "urban_management",
        "service_type": "green_spaces",
        "title": "Espaces verts de la cité",
        "place": {"commune": "93066"},
        "details": {"surface_m2": 4200.0, "zero_pesticide": True},
    }
    pushed_old = api(f"{old.url}/api/v1/activities", old_token_value, "POST", green)
    # A service type 0.1.0 does not know (added in 0.2.0), with its details.
    digital = {
        "category": "new_services",
        "service_type": "digital_inclusion",
        "title": "Aide aux démarches en ligne",
        "place": {"commune": "93066"},
        "details": {"people_helped": 42},
    }
    pushed_new = api(f"{new.url}/api/v1/activities", new_token_value, "POST", digital)
    previous(old_release, old_dir, "sync", "--push-only")
    current(new_dir, "sync", "--push-only")
    assert activities(new, new_token_value, "rq-old")[pushed_old["id"]] == pushed_old
    assert activities(old, old_token_value, "rq-new")[pushed_new["id"]] == pushed_new

    # Each pulls from the other: one more activity each, then `regies sync --pull-only`.
    pulled_old = api(f"{old.url}/api/v1/activities", old_token_value, "POST", {**green, "title": "Deuxième"})
    pulled_new = api(f"{new.url}/api/v1/activities", new_token_value, "POST", {**digital, "title": "Atelier"})
    previous(old_release, old_dir, "sync", "--pull-only")
    current(new_dir, "sync", "--pull-only")
    assert activities(new, new_token_value, "rq-old") == {pushed_old["id"]: pushed_old, pulled_old["id"]: pulled_old}
    assert activities(old, old_token_value, "rq-new") == {pushed_new["id"]: pushed_new, pulled_new["id"]: pulled_new}

    # The review with members of schema 1.1 reached the 1.0 node without them: a valid record for it, stored.
    review = stored(old_dir, "review")[review_id]
    assert (review["decision"], review["report_origin"]) == ("validated", "rq-old")
    assert "level" not in review and "reviewer_role" not in review
    # rq-new keeps its own record whole, after pulling from and pushing to rq-old once more.
    current(new_dir, "sync")
    previous(old_release, old_dir, "sync")
    mine = stored(new_dir, "review")[review_id]
    assert (mine["version"], mine["level"], mine["reviewer_role"]) == (1, "regional", "regional")

    # The loan request stayed on rq-new, whole; rq-old never got it, nor failed a page: its checkpoint of rq-new's
    # feed is past the request, at rq-new's newest change of a kind it reads, with nothing left to pull.
    assert stored(new_dir, "loan_request") == {loan_id: loan}
    assert stored(old_dir, "loan_request") == {}
    cursor, error, failures, lag = pull_state(old_dir, "rq-new")
    seqs = change_seqs(new_dir, "rq-new")
    read = max(seq for kind, seq in seqs.items() if kind in PROTOCOL_1_0_KINDS)
    assert (error, failures, lag) == (None, 0, 0) and cursor is not None
    assert decode_feed_cursor(cursor) == read > seqs["loan_request"]
    # Nor was it pushed: rq-new's batches for rq-old carry only kinds 0.1.0 reads.
    assert pushed_kinds(new_dir, "peer:rq-old") == {"node", "review", "activity"}

    # Nothing failed or waits in either outbox (rq-old's inbox took every batch); `regies peers` on rq-new shows
    # rq-old's versions.
    for outbox in (previous(old_release, old_dir, "outbox"), current(new_dir, "outbox")):
        assert "failed" not in outbox and "pending" not in outbox, outbox
    peers = current(new_dir, "peers")
    assert "1.0, 1.0 (protocol: older minor)" in peers, peers
    (described,) = json.loads(current(new_dir, "peers", "--json"))
    assert described["speaks"]["protocol_version"] == "1.0" and described["last_error"] is None


def test_the_release_is_installed_from_the_cache_the_second_time(old_release: InstalledRelease) -> None:
    started = time.monotonic()
    again = install_release(old_release.release)
    assert (again.venv, again.install_seconds) == (old_release.venv, 0.0)
    assert time.monotonic() - started < 5
