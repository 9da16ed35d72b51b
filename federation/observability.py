"""Operations visibility: request ids, structured JSON logs, and Prometheus metrics at GET /metrics.

Each app has its own metrics registry (no process-wide default registry), so tests and several apps in one
process never mix their figures.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from federation import appkeys
from federation.problems import Handler
from federation.storage.tables import outbox_batches, peers

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("regies_request_id", default="-")
log = logging.getLogger(__name__)


class Metrics:
    """The app's Prometheus metrics; federation gauges are read from the database at each scrape."""

    def __init__(self) -> None:
        # Label look-ups take a lock and build a key each time: keep the children per label set.
        self._request_children: dict[tuple[str, str, str], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "regies_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "regies_http_request_duration_seconds",
            "Time to answer HTTP requests",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.peer_lag = Gauge(
            "regies_peer_lag", "Changes a peer had that this node had not applied", ["peer"], registry=self.registry
        )
        self.peer_failures = Gauge(
            "regies_peer_consecutive_failures", "Failed pulls in a row", ["peer"], registry=self.registry
        )
        self.peer_last_sync = Gauge(
            "regies_peer_last_sync_timestamp_seconds",
            "Last successful pull from the peer",
            ["peer"],
            registry=self.registry,
        )
        self.outbox = Gauge(
            "regies_outbox_batches",
            "Outbox batches waiting or failed",
            ["destination", "state"],
            registry=self.registry,
        )
        self.last_push = Gauge(
            "regies_last_delivery_timestamp_seconds",
            "Last successful delivery to a destination (the hub is `target:hub`)",
            ["destination"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(*key)
        counter.inc()
        latency = self._latency_children.get((method, route))
        if latency is None:
            latency = self._latency_children[(method, route)] = self.latency.labels(method, route)
        latency.observe(seconds)

    async def refresh(self, app: web.Application) -> None:
        engine = app[appkeys.ENGINE]
        async with engine.connect() as connection:
            for row in await connection.execute(
                select(peers.c.node_id, peers.c.lag, peers.c.consecutive_failures, peers.c.last_success_at_us)
            ):
                self.peer_lag.labels(row[0]).set(row[1] or 0)
                self.peer_failures.labels(row[0]).set(row[2] or 0)
                if row[3]:
                    self.peer_last_sync.labels(row[0]).set(row[3] / 1_000_000)
            self.outbox.clear()
            for destination, state, count in await connection.execute(
                select(outbox_batches.c.destination, outbox_batches.c.state, func.count())
                .where(outbox_batches.c.state.in_(("pending", "failed")))
                .group_by(outbox_batches.c.destination, outbox_batches.c.state)
            ):
                self.outbox.labels(destination, state).set(count)
            for destination, delivered in await connection.execute(
                select(outbox_batches.c.destination, func.max(outbox_batches.c.delivered_at_us)).group_by(
                    outbox_batches.c.destination
                )
            ):
                if delivered:
                    self.last_push.labels(destination).set(delivered / 1_000_000)


METRICS = web.AppKey("metrics", Metrics)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (kept from X-Request-Id when sensible), time it, count it, log it."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isprintable() else os.urandom(12).hex()
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        metrics = request.config_dict.get(METRICS)
        if metrics is not None:
            metrics.observe_request(request.method, route, status, time.perf_counter() - started)
        REQUEST_ID.reset(token)


async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
    metrics = request.app[METRICS]
    await metrics.refresh(request.app)
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and exception text if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
