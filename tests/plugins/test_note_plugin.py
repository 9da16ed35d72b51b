"""A record kind, a command and a page added by a plugin through the plugin API alone (issue 21): the test plugin
`tests/plugins/note_kind.py` federates a note from one régie to another, and the receiving régie lists it with
`regies notes` and on its staff page `/notes`, in French. Real nodes, a real pull, the real command line."""

from __future__ import annotations

import ast
import asyncio
import html
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from federation.cli import INTERNAL_PLUGINS, build_parser, run_command
from federation.cli_setup import Preloaded
from federation.plugins import build_plugins
from federation.protocol import persistence
from federation.protocol.puller import pull_peer
from tests.plugins.note_kind import NotePlugin
from tests.protocol.conftest import Node, NodeFactory

NOTES = [("notes", NotePlugin())]
HTML = {"Accept": "text/html", "Accept-Language": "fr"}


async def _received_and_sent(make_node: NodeFactory) -> tuple[Node, Node, dict[str, Any]]:
    """rq-a and rq-b with the plugin; rq-a sends rq-b two notes and rq-c one, rq-b sends rq-a one; rq-b pulls."""
    a = await make_node("rq-a", extra_plugins=NOTES)
    b = await make_node("rq-b", extra_plugins=NOTES)
    await b.add_peer(a)
    await a.add_peer(b, pull=False)  # rq-a serves its feed to rq-b
    minibus = await a.create("notes", {"to": "rq-b", "subject": "Prêt du minibus", "body": "Libre samedi ?"})
    await a.create("notes", {"to": "rq-b", "subject": "Chantier \x1b[31mrue Voltaire", "status": "answered"})
    await a.create("notes", {"to": "rq-c", "subject": "Pour C seulement"})
    await b.create("notes", {"to": "rq-a", "subject": "Notre réponse"})
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    await pull_peer(b.context, peer)
    return a, b, minibus


def _regies(node: Node, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`regies --data-dir <node's> <argv>` through the command line's parser and runner, with the node's
    settings and the note plugin registered as an installed plugin would be; its exit status and output."""
    plugins = build_plugins(extra=NOTES, load_entry_points=False, internal=INTERNAL_PLUGINS)
    data_dir = str(node.settings.data_dir)
    args = build_parser(plugins.registry).parse_args(["--data-dir", data_dir, *argv])
    args.preloaded = Preloaded(data_dir, None, node.settings, plugins)
    status = run_command(args)
    return status, capsys.readouterr().out


async def test_regies_notes_lists_the_notes_other_regies_sent_this_node(
    make_node: NodeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    _a, b, _minibus = await _received_and_sent(make_node)
    capsys.readouterr()
    # The command opens the node itself, in its own event loop: run it beside the test's, as a terminal would.
    status, out = await asyncio.to_thread(_regies, b, capsys, "notes")
    assert status == 0
    # Its own note to rq-a and rq-a's note to rq-c are not listed; another node's text is printed escaped.
    assert out.splitlines() == [
        "rq-a\topen\tPrêt du minibus",
        "rq-a\tanswered\tChantier \\x1b[31mrue Voltaire",
    ]
    status, out = await asyncio.to_thread(_regies, b, capsys, "notes", "--status", "answered")
    assert (status, out) == (0, "rq-a\tanswered\tChantier \\x1b[31mrue Voltaire\n")


async def test_regies_notes_on_a_node_that_received_none(
    make_node: NodeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _b, _minibus = await _received_and_sent(make_node)  # rq-a pulls nothing from rq-b
    capsys.readouterr()
    assert await asyncio.to_thread(_regies, a, capsys, "notes") == (0, "no notes for rq-a\n")


def _visible(page: str) -> str:
    """The page's text, tags removed and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def test_staff_read_the_notes_received_on_their_page_in_french(make_node: NodeFactory, regies_login: Any) -> None:
    a, b, minibus = await _received_and_sent(make_node)
    for node, received in ((b, True), (a, False)):
        client: TestClient[Any, Any] = TestClient(node.server)
        await client.start_server()
        try:
            response = await client.get("/notes", headers=HTML, allow_redirects=False)
            assert response.status == 303 and response.headers["Location"].startswith("/login")
            assert (await regies_login(client, "staff", username=f"equipe-{node.node_id}")).status == 303
            response = await client.get("/notes", headers=HTML)
            page = await response.text()
            assert response.status == 200, page[:2000]
            text = _visible(page)
            assert '<a href="/notes"' in page and "Notes reçues" in text  # in the navigation bar
            if received:
                assert "Les notes que d’autres régies ont adressées à la vôtre." in text
                assert "Envoyée par Objet Message État" in text
                assert "rq-a Prêt du minibus Libre samedi ? en attente de réponse" in text
                assert "rq-a Chantier \x1b[31mrue Voltaire répondue" in text
                assert f'id="note-{minibus["id"]}"' in page
                assert "Pour C seulement" not in text and "Notre réponse" not in text
            else:
                assert "Aucune note reçue pour l’instant." in text and "Notre réponse" not in text
        finally:
            await client.session.close()  # the node, its server included, is the fixture's to close


def _federation_imports(source: str) -> dict[str, set[str]]:
    """The names each `from federation… import` of Python source imports, by module."""
    found: dict[str, set[str]] = {}
    for statement in ast.walk(ast.parse(source)):
        if isinstance(statement, ast.Import):
            assert not any(alias.name.startswith("federation") for alias in statement.names), ast.unparse(statement)
        if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("federation"):
            found.setdefault(statement.module or "", set()).update(alias.name for alias in statement.names)
    return found


def test_the_plugin_and_its_walkthrough_import_only_the_plugin_api() -> None:
    """The test plugin, and every Python excerpt of docs/plugins.md's walk-through of it, reach the core through
    names of the plugin API only."""
    root = Path(__file__).resolve().parents[2]
    guide = (root / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = guide.split("\n## A plugin from scratch: a kind, a command and a page\n", 1)[1].split("\n## ", 1)[0]
    excerpts = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(excerpts) == 5
    for source in [(root / "tests" / "plugins" / "note_kind.py").read_text(encoding="utf-8"), *excerpts]:
        for module_name, names in _federation_imports(source).items():
            assert module_name in ("federation.plugin_api", "federation.plugin_api.web"), module_name
            assert names <= set(importlib.import_module(module_name).__all__), names
