"""The hub's refusals are problems a program can use: a pointer at the parameter or field, no library text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.protocol.conftest import Node, NodeFactory


@pytest.fixture
async def hub(make_node: NodeFactory) -> Node:
    return await make_node("hub-problems", plugin_settings={"hub": {"enabled": True}})


async def _get(hub: Node, path: str, **headers: str) -> tuple[int, str, dict[str, Any]]:
    async with hub.session.get(f"{hub.url}/plugins/hub{path}", headers={**hub.auth, **headers}) as response:
        return response.status, response.content_type, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("query", "pointer", "words"),
    [
        ("period=2025-2023", "/period", "end_year"),
        ("period=1999", "/period", "2000"),
        ("period=2025&level=planetary", "/level", "national"),
        ("period=2025&level=regional&region=99", "/region", "99"),
        ("period=2025&format=pdf", "/format", "csv"),
    ],
)
async def test_hub_query_errors_are_problems_with_pointers(hub: Node, query: str, pointer: str, words: str) -> None:
    status, content_type, problem = await _get(hub, f"/tables/activities?{query}")
    assert (status, content_type) == (400, "application/problem+json")
    assert [error["pointer"] for error in problem["errors"]] == [pointer]
    assert words in problem["detail"]
    for leak in ("validation error", "pydantic", "input_value", "type=", "For further information"):
        assert leak not in problem["detail"] + problem["errors"][0]["detail"]
