"""Inputs whose checking could cost more than the request: they are bounded before the costly part runs."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from federation.protocol.transport import TransportError
from federation.schema.records import RECORD_KINDS
from federation.storage.tables import inbox_batches
from tests.protocol.conftest import NodeFactory

HUGE_EMAIL = "a" * 1_000_000 + "@" + "b." * 10 + "fr"  # 1 MB: the e-mail validator alone took 0.6 s on it


async def test_a_megabyte_email_is_refused_before_the_validator_runs(make_node: NodeFactory) -> None:
    node = await make_node("rq-emails")
    profile = {"name": "Régie des Lilas", "contact": {"email": HUGE_EMAIL}}
    async with node.session.put(f"{node.url}/api/v1/node", json=profile, headers=node.auth) as response:
        assert response.status == 422
        problem = await response.json()
    [error] = [error for error in problem["errors"] if error["pointer"] == "/contact/email"]
    assert error["pointer"] == "/contact/email"
    assert "more than 254 characters" in error["detail"]
    async with node.session.get(f"{node.url}/api/v1/node") as response:
        assert "aaaaaaaaaa" not in await response.text()  # nothing stored

    model = RECORD_KINDS["node"].data_model
    started = time.perf_counter()
    for _ in range(10):
        with pytest.raises(ValidationError, match="more than 254 characters"):
            model.model_validate({"name": "Régie des Lilas", "contact": {"email": HUGE_EMAIL}})
    assert time.perf_counter() - started < 1.0  # uncapped, the ten checks took 6 s


async def test_a_huge_batch_id_is_a_422_problem_not_a_500(make_node: NodeFactory) -> None:
    receiver, sender = await make_node("rq-receveuse"), await make_node("rq-envoyeuse")
    await receiver.add_peer(sender)
    for batch_id in ("b" * 100_000, 10**400, "9" * 64 + "0"):
        batch = {"origin": "rq-envoyeuse", "batch_id": batch_id, "records": []}
        with pytest.raises(TransportError) as refused:
            await sender.context.client.request(
                "POST", f"{receiver.url}/federation/v1/inbox", json.dumps(batch).encode()
            )
        assert refused.value.status == 422  # the sender keeps only the status and the problem's type
        assert "validation" in str(refused.value)
    async with receiver.context.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(inbox_batches))).scalar_one() == 0
