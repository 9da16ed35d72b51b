"""Metrics in Prometheus format, request ids, and JSON log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from federation.observability import REQUEST_ID, JsonFormatter

ACTIVITY = {"category": "urban_management", "service_type": "green_spaces", "title": "Pelouses"}


async def test_metrics_count_requests_by_route_and_status(regies_client: Callable[..., Any]) -> None:
    client = await regies_client(entry_points=True)
    created = await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)
    assert created.status == 201
    assert (await client.get("/api/v1/activities/00000000-0000-4000-8000-000000000000")).status == 404
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert 'regies_http_requests_total{method="POST",route="/api/v1/activities",status="201"} 1.0' in text
    assert 'regies_http_requests_total{method="GET",route="/api/v1/activities/{id}",status="404"} 1.0' in text
    assert "regies_http_request_duration_seconds_bucket" in text


async def test_metrics_show_the_outbox(regies_client: Callable[..., Any]) -> None:
    from federation.protocol import sender
    from federation.protocol.context import FEDERATION
    from federation.protocol.persistence import save_peer

    client = await regies_client(entry_points=True)
    context = client.app[FEDERATION]
    await save_peer(
        context.engine,
        node_id="rq-voisine",
        name="Voisine",
        base_url="http://127.0.0.1:9",
        keys=list(context.identity.keys.published),
        push=True,
    )
    await client.post("/api/v1/activities", json=ACTIVITY, headers=client.regies_auth)
    await sender.push_all(context)  # nobody listens on port 9: the batch stays pending
    text = await (await client.get("/metrics")).text()
    assert 'regies_outbox_batches{destination="peer:rq-voisine",state="pending"} 1.0' in text
    assert 'regies_peer_lag{peer="rq-voisine"} 0.0' in text


async def test_request_id_is_returned_and_kept(regies_client: Callable[..., Any]) -> None:
    client = await regies_client()
    generated = (await client.get("/healthz")).headers["X-Request-Id"]
    assert len(generated) == 24
    kept = await client.get("/healthz", headers={"X-Request-Id": "demande-42-abc"})
    assert kept.headers["X-Request-Id"] == "demande-42-abc"


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("federation", logging.WARNING, __file__, 1, "outbox: %s failed", ("hub",), None)
    token = REQUEST_ID.set("abc123def456")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "outbox: hub failed"
    assert line["request_id"] == "abc123def456"
    assert line["level"] == "WARNING"
