"""The label the hub grants: a régie's own "labellisee" is only ever shown as its claim, in the signed directory,
the exports and the pages, until a national coordinator records the grant (API, page or command line)."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from federation.cli import main
from federation.protocol.directory import verify_directory
from tests.plugins.test_hub import Network, _approve_all, network  # noqa: F401
from tests.plugins.test_hub_web import HTML, browse, csrf, hub, text  # noqa: F401
from tests.protocol.conftest import NodeFactory
from tests.security.enrolment_helpers import enrolment_rows, make_hub, make_regie, node_fingerprints


async def _directory_entries(net: Network) -> dict[str, dict[str, Any]]:
    """The signed directory's members, checked with the hub's key as a member node checks it."""
    async with net.hub.session.get(f"{net.hub.url}/plugins/hub/directory") as response:
        document = await response.json()
    hub_keys = {key.kid: key for key in net.hub.context.identity.keys.published}
    return {node["node_id"]: node for node in verify_directory(document, hub_keys)}


def _label_fields(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["label_status"], entry["label_since"], entry["label_until"], entry["label_claimed"]


async def _exported(net: Network) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
    """(the directory export as CSV rows by node, the GeoJSON properties by node)."""
    _status, raw = await net.hub_get("/directory/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    by_node = {row["Identifiant"]: row for row in rows if row.get("Identifiant", "").startswith("rq-")}
    async with net.hub.session.get(f"{net.hub.url}/plugins/hub/directory.geojson") as response:
        collection = await response.json(content_type=None)
    features = {feature["properties"]["node_id"]: feature["properties"] for feature in collection["features"]}
    return by_node, features


async def test_a_claimed_label_is_only_a_claim_until_the_hub_grants_it(network: Network) -> None:  # noqa: F811
    await _approve_all(network)
    # rq-paris declares itself "labellisee" in its profile; the network has granted nothing yet.
    entries = await _directory_entries(network)
    assert _label_fields(entries["rq-paris"]) == (None, None, None, "labellisee")
    rows, features = await _exported(network)
    assert rows["rq-paris"]["Label accordé par le réseau"] == ""
    assert rows["rq-paris"]["Label déclaré par la régie"] == "labellisee"
    assert (features["rq-paris"]["label_status"], features["rq-paris"]["label_claimed"]) == (None, "labellisee")

    grant = {"status": "labellisee", "since": "2024-03-01"}
    async with network.hub.session.put(
        f"{network.hub.url}/plugins/hub/members/rq-paris/label", json=grant, headers=network.auth("national")
    ) as response:
        assert response.status == 200
        assert (await response.json())["label_since"] == "2024-03-01"

    entries = await _directory_entries(network)
    assert _label_fields(entries["rq-paris"]) == ("labellisee", "2024-03-01", None, "labellisee")
    assert _label_fields(entries["rq-lyon"]) == (None, None, None, "en_projet")
    rows, features = await _exported(network)
    assert rows["rq-paris"]["Label accordé par le réseau"] == "labellisee"
    assert rows["rq-paris"]["Label depuis le"] == "2024-03-01"
    assert features["rq-paris"]["label_status"] == "labellisee"


async def _put_label(net: Network, role: str, node_id: str, body: Any) -> tuple[int, Any]:
    url = f"{net.hub.url}/plugins/hub/members/{node_id}/label"
    headers = net.auth(role) if role != "anonymous" else {}
    async with net.hub.session.put(url, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("role", "node_id", "body", "status", "pointers"),
    [
        ("anonymous", "rq-paris", {"status": "labellisee", "since": "2024-03-01"}, 401, []),
        ("regional", "rq-paris", {"status": "labellisee", "since": "2024-03-01"}, 403, []),
        ("other-region", "rq-lyon", {"status": "labellisee", "since": "2024-03-01"}, 403, []),
        ("national", "rq-nowhere", {"status": "labellisee", "since": "2024-03-01"}, 404, []),
        ("national", "rq-paris", {"status": "labellisee"}, 422, ["/since"]),
        ("national", "rq-paris", {"status": "gold", "since": "2024-13-01"}, 422, ["/status", "/since"]),
        (
            "national",
            "rq-paris",
            {"status": "en_projet", "since": "2024-03-01", "until": "2023-01-01"},
            422,
            ["/until"],
        ),
        ("national", "rq-paris", {"status": "labellisee", "since": "2024-03-01", "by": "x"}, 422, ["/by"]),
    ],
)
async def test_only_national_coordinators_grant_a_valid_label(
    network: Network,  # noqa: F811
    role: str,
    node_id: str,
    body: dict[str, Any],
    status: int,
    pointers: list[str],
) -> None:
    await _approve_all(network)
    got, answer = await _put_label(network, role, node_id, body)
    assert got == status
    assert sorted(error["pointer"] for error in answer.get("errors", [])) == sorted(pointers)
    entries = await _directory_entries(network)
    assert all(entry["label_status"] is None for entry in entries.values())  # nothing recorded


async def test_label_from_the_command_line(make_node: NodeFactory, capsys: pytest.CaptureFixture[str]) -> None:
    hub_node = await make_hub(make_node)  # on SQLite in its data directory, which the command finds
    regie = await make_regie(make_node, hub_node)  # claims "labellisee" in its profile
    data_dir = str(hub_node.settings.data_dir)
    label = ["--data-dir", data_dir, "hub", "label", "rq-paris", "--status", "labellisee"]
    assert await asyncio.to_thread(main, [*label, "--since", "2025-01-15"]) == 1
    assert "not a member" in capsys.readouterr().err
    (pending,) = await enrolment_rows(hub_node)
    confirmed = [arg for value in node_fingerprints(regie) for arg in ("--fingerprint", value)]
    assert (
        await asyncio.to_thread(main, ["--data-dir", data_dir, "hub", "approve", str(pending["id"]), *confirmed]) == 0
    )
    assert await asyncio.to_thread(main, label) == 1  # a granted label needs its date
    assert "--since" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*label, "--since", "2025-01-15", "--until", "2028-01-14"]) == 0
    assert "labellisee from 2025-01-15 until 2028-01-14" in capsys.readouterr().out
    async with hub_node.session.get(f"{hub_node.url}/plugins/hub/directory") as response:
        document = await response.json()
    hub_keys = {key.kid: key for key in hub_node.context.identity.keys.published}
    (entry,) = verify_directory(document, hub_keys)
    assert _label_fields(entry) == ("labellisee", "2025-01-15", "2028-01-14", "labellisee")


async def test_label_form_on_the_enrolments_page(hub: Network, browse: Any) -> None:  # noqa: F811
    national = await browse("national")
    page = await text(national, "/hub/enrolments")
    assert "Aucun label accordé" in page and "Labellisée (déclaré par la régie)" in page
    form = {"_csrf": csrf(page), "status": "labellisee", "since": "2024-03-01", "until": ""}
    recorded = await national.post("/hub/members/rq-paris/label", data=form, headers=HTML)
    after = await recorded.text()
    assert "Label enregistré" in after and "Labellisée depuis le 1 mars 2024" in after
    missing_date = {**form, "since": ""}
    refused = await national.post("/hub/members/rq-paris/label", data=missing_date, headers=HTML)
    assert refused.status == 422 and "Indiquez le statut du label" in await refused.text()

    regional = await browse("regional", region="11")
    page = await text(regional, "/hub/enrolments")
    assert "Labellisée depuis le 1 mars 2024" in page and "Enregistrer le label" not in page
    forbidden = await regional.post("/hub/members/rq-paris/label", data={**form, "_csrf": csrf(page)}, headers=HTML)
    assert forbidden.status == 403
