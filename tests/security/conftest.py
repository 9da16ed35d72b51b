"""Fixtures of the attack tests."""

from __future__ import annotations

import pytest

from tests.protocol.conftest import Node, NodeFactory
from tests.security.enrolment_helpers import make_hub


@pytest.fixture
async def hub(make_node: NodeFactory, database_url: str) -> Node:
    """A hub on SQLite, then on PostgreSQL."""
    return await make_hub(make_node, database_url)
