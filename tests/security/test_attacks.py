"""Hostile input against a hub: oversized, deeply nested, huge, non-UTF-8 bodies; SQL injection in every filter;
path traversal in export names; secrets files' permissions; tokens and passwords kept out of the logs."""

from __future__ import annotations

import io
import json
import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from federation.api.records import PAGING_PARAMS, list_filters
from federation.backup import backup
from federation.observability import JsonFormatter
from federation.schema.records import CORE_KINDS
from federation.storage.tables import changes, records
from federation.storage.tokens import create_token, digest
from tests.protocol.conftest import Node, NodeFactory, activity
from tests.security.test_roles import is_web_ui_route, router_endpoints

RECORD = "00000000-0000-4000-8000-000000000000"
SEEDED_TITLE = "Activité témoin"
SQL_INJECTIONS = (
    "' OR '1'='1",
    "1; DROP TABLE records; --",
    '") OR ("1"="1',
    "%' UNION SELECT token_hash, name FROM tokens --",
    "\\'; DELETE FROM changes; --",
)
# Query parameters of the hub's tables and lists, besides the collections' filters.
HUB_QUERY = {
    "/plugins/hub/enrolments": ("state",),
    "/plugins/hub/reports": ("period",),
    "/plugins/hub/tables/activities": ("period", "level", "region", "department", "format", "lang"),
    "/plugins/hub/tables/trends": ("indicator", "level", "region"),
    "/plugins/hub/directory/export": ("format", "lang"),
}


@pytest.fixture
async def hub(make_node: NodeFactory) -> Node:
    node = await make_node("hub-attacks", plugin_settings={"hub": {"enabled": True}})
    await node.create("activities", activity(1, title=SEEDED_TITLE))
    return node


@pytest.fixture
async def hub_on_each_database(make_node: NodeFactory, database_url: str) -> Node:
    """The same hub on SQLite, then on PostgreSQL: injected SQL would meet both dialects."""
    node = await make_node("hub-attacks", database_url, plugin_settings={"hub": {"enabled": True}})
    await node.create("activities", activity(1, title=SEEDED_TITLE))
    return node


async def _counts(node: Node) -> tuple[int, int]:
    async with node.context.engine.connect() as connection:
        n_records = await connection.scalar(select(func.count()).select_from(records))
        n_changes = await connection.scalar(select(func.count()).select_from(changes))
    return int(n_records or 0), int(n_changes or 0)


def _write_endpoints(node: Node) -> list[tuple[str, str]]:
    """Every route taking a body, with a concrete path: new write endpoints are attacked without a table edit."""
    found = []
    for method, route in sorted(router_endpoints(node.server.app)):
        if method in ("POST", "PUT") and not is_web_ui_route(node, route):
            path = route.replace("{id}", RECORD).replace("{origin}", "rq-none")
            found.append((method, path.replace(f"enrolments/{RECORD}", "enrolments/1")))
    return found


def _nested(depth: int) -> bytes:
    return b'{"title": "x", "details": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_BODIES = {
    "oversized": lambda limit: b'{"title": "' + b"x" * (limit + 1) + b'"}',
    "nested-900": lambda _limit: _nested(900),
    "nested-5000": lambda _limit: _nested(5000),
    "nested-objects": lambda _limit: b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "huge-array": lambda limit: b'{"partners": [' + b",".join([b'{"name":"p"}'] * (limit // 13)) + b"]}",
    "invalid-utf8": lambda _limit: b'{"title": "\xff\xfe\xc3\x28"}',
    "lone-surrogate": lambda _limit: b'{"title": "\\ud800"}',
    "nul-bytes": lambda _limit: b'{"title": "a\\u0000b", "description": "\x00"}',
    "not-an-object": lambda _limit: b"[1, 2, 3]",
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_BODIES))
async def test_hostile_bodies_get_a_4xx_and_write_nothing(hub_on_each_database: Node, attack: str) -> None:
    hub = hub_on_each_database
    limit = hub.settings.server.max_body_bytes
    body = HOSTILE_BODIES[attack](limit)
    before = await _counts(hub)
    answers = {}
    for method, path in _write_endpoints(hub):
        headers = {**hub.auth, "Content-Type": "application/json"}
        async with hub.session.request(method, f"{hub.url}{path}", data=body, headers=headers) as response:
            answers[f"{method} {path}"] = response.status
            # Signed endpoints check the signature first (401); the join request reads its key from the body.
            if attack == "oversized" and path.startswith("/api/"):
                assert response.status == 413, (method, path)
    assert not {call: status for call, status in answers.items() if not 400 <= status < 500}
    assert await _counts(hub) == before


def _filter_urls() -> list[str]:
    urls = []
    for kind in CORE_KINDS.with_collection():
        collection = kind.collection
        for name in (*list_filters(kind), *PAGING_PARAMS):
            urls.append(f"/api/v1/{collection}?{name}=" + "{value}")
            urls.append(f"/api/v1/export/{collection}?format=csv&{name}=" + "{value}")
    for path, names in HUB_QUERY.items():
        urls.extend(f"{path}?period=2026&{name}=" + "{value}" for name in names)
    return urls


async def test_sql_injection_in_every_filter_is_refused_or_matches_nothing(hub_on_each_database: Node) -> None:
    hub = hub_on_each_database
    from urllib.parse import quote

    before = await _counts(hub)
    for template in _filter_urls():
        for payload in SQL_INJECTIONS:
            url = hub.url + template.replace("{value}", quote(payload))
            async with hub.session.get(url, headers=hub.auth) as response:
                text = await response.text()
                # Refused, or a valid answer in which the seeded activity does not appear: nothing matched.
                assert response.status in (400, 200), (url, response.status, text[:300])
                assert response.status == 400 or SEEDED_TITLE not in text, (url, text[:300])
                assert digest(hub.token) not in text and "Traceback" not in text
    assert await _counts(hub) == before
    async with hub.session.get(f"{hub.url}/api/v1/activities", headers=hub.auth) as response:
        assert response.status == 200 and len((await response.json())["items"]) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/export/..%2F..%2Fregies.toml?format=csv",
        "/api/v1/export/%2e%2e/%2e%2e/etc/passwd?format=csv",
        "/api/v1/export/activities?format=..%2F..%2Fadmin-token",
        "/api/v1/export/activities?format=csv%00.json",
        "/docs/assets/..%2F..%2F..%2Fbootstrap.py",
        "/docs/assets/%2e%2e/%2e%2e/config.py",
        "/plugins/hub/directory/export?format=..%2F..%2Fadmin-token",
        "/plugins/hub/tables/missing?period=..%2F..%2Fadmin-token&format=csv",
        "/plugins/hub/tables/trends?indicator=..%2F..%2Fadmin-token&format=csv",
    ],
)
async def test_path_traversal_in_export_names(hub: Node, path: str) -> None:
    async with hub.session.get(f"{hub.url}{path}", headers=hub.auth) as response:
        body = await response.read()
        assert response.status in (400, 403, 404), (response.status, body[:200])
        assert b"rgs_" not in body and b"import " not in body and b"[server]" not in body


async def test_export_file_names_are_built_from_known_names_only(hub: Node) -> None:
    async with hub.session.get(f"{hub.url}/api/v1/export/activities?format=csv", headers=hub.auth) as response:
        disposition = response.headers["Content-Disposition"]
    assert response.status == 200
    assert disposition.startswith('attachment; filename="activities-') and "/" not in disposition


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_secrets_files_are_private(hub: Node, tmp_path: Path) -> None:
    settings = hub.settings
    assert _mode(settings.data_dir) == 0o700
    assert _mode(settings.keys_dir) == 0o700
    keys = list(settings.keys_dir.iterdir())
    assert keys and all(_mode(key) == 0o600 for key in keys)
    assert _mode(settings.admin_token_file) == 0o600
    assert _mode(settings.data_dir / "regies.toml") == 0o600
    assert _mode(settings.data_dir / "regies.db") == 0o600
    copy = backup(settings, tmp_path / "backup").destination
    assert _mode(copy) == 0o700
    files = [path for path in copy.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"regies.db", "admin-token"}
    assert all(_mode(path) == 0o600 for path in files), {path.name: oct(_mode(path)) for path in files}


async def test_tokens_and_passwords_never_reach_the_logs(hub: Node) -> None:
    from federation.web.auth import CSRF_COOKIE
    from federation.web.users import create_user

    national = await create_token(hub.context.engine, "coordination nationale", "national")
    password = "correct horse battery staple 7"
    await create_user(hub.context.engine, "coordinatrice", password, "national", None)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        created = await hub.create("activities", activity(2))
        await hub.put("activities", created["id"], activity(3))
        async with hub.session.get(
            f"{hub.url}/plugins/hub/enrolments", headers={"Authorization": f"Bearer {national}"}
        ):
            pass
        for wrong in (national + "x", "rgs_" + password):
            async with hub.session.get(f"{hub.url}/api/v1/reports", headers={"Authorization": f"Bearer {wrong}"}) as r:
                assert r.status == 401
        async with hub.session.get(f"{hub.url}/login") as response:
            assert response.status == 200
            csrf = response.cookies[CSRF_COOKIE].value
        for attempt in (password + "!", password):
            form = {"username": "coordinatrice", "password": attempt, "_csrf": csrf}
            cookies = {CSRF_COOKIE: csrf}
            url = f"{hub.url}/login"
            async with hub.session.post(url, data=form, cookies=cookies, allow_redirects=False) as response:
                assert response.status in (303, 401)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    logged = stream.getvalue()
    assert logged.count("\n") > 0, "the request cycle logged nothing: the capture is not working"
    for line in logged.splitlines():
        json.loads(line)
    for secret in (hub.token, national, password, "horse battery"):
        assert secret not in logged
    assert "rgs_" not in logged.replace("rgs_…", "")
