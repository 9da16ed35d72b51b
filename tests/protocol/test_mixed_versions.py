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

from devtools.loadgen import NodeProcess, run_regies
from devtools.releases import InstalledRelease, install_release, previous_release
from federation.plugins import build_plugins
from federation.record_rules import record_service
from federation.schema.records import ReportReview
from federation.storage.engine import create_engine


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


def write_review(data_dir: Path, hub: str, member: str) -> str:
    """A two-level review by the hub `hub` (current code, not serving yet) on a report of `member`: it carries
    `level` and `reviewer_role`, members that schema 1.1 added."""
    review = {
        "report_origin": member,
        "report_id": str(uuid.uuid4()),
        "report_version": 2,
        "decision": "validated",
        "reviewer": "Coordination régionale",
        "level": "regional",
        "reviewer_role": "regional",
    }

    async def write() -> str:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'regies.db'}")
        try:
            build = lambda _previous, envelope: ReportReview.model_validate(review | envelope)  # noqa: E731
            store = record_service(engine, hub, build_plugins(load_entry_points=False))
            return str((await store.create_built("review", build)).id)
        finally:
            await engine.dispose()

    return asyncio.run(write())


def test_the_previous_release_and_the_current_code_federate_both_ways(
    tmp_path: Path, servers: list[NodeProcess], old_release: InstalledRelease
) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_token = previous(old_release, old_dir, "init", "--node-id", "rq-old", "--name", "Régie 0.1.0")
    new_token = current(new_dir, "init", "--node-id", "rq-new", "--name", "Régie 0.2.0")
    old_token_value, new_token_value = (output.strip().splitlines()[-1] for output in (old_token, new_token))
    assert "0.1.0" in previous(old_release, old_dir, "version")
    review_id = write_review(new_dir, "rq-new", "rq-old")

    old = NodeProcess(old_dir, command=old_release.regies, private_addresses=False, REGIES_FEDERATION__WORKER="false")
    servers.append(old)
    new = NodeProcess(new_dir, REGIES_FEDERATION__WORKER="false")
    servers.append(new)
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

    # Nothing failed or waits in either outbox; `regies peers` on rq-new shows rq-old's versions.
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
