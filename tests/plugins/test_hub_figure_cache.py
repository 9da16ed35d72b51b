"""The hub's figure cache as a coordinator meets it: a figure changes on the tables and the dashboard as soon as a
report is pushed, a review is written or a member is revoked (by another process too), and a push of activities
does not make the hub compute its figures again (the `Server-Timing` header counts computations). On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from regies_hub import enrolment
from regies_hub.figure_cache import FigureCache

from federation.protocol import sender
from federation.storage.engine import create_engine
from tests.plugins.test_hub import REPORT, Network, _approve_all
from tests.plugins.test_hub import network as network
from tests.plugins.test_hub_web import browse as browse
from tests.plugins.test_hub_web import text as text
from tests.protocol.conftest import activity

INDICATORS = "/plugins/hub/tables/indicators?period=2025"


def cache_use(response: Any) -> tuple[int, int]:
    """(figures computed, figures served from the cache) for this answer, from its Server-Timing header."""
    match = re.fullmatch(r'figures;dur=[0-9.]+;desc="computed (\d+), cached (\d+)"', response.headers["Server-Timing"])
    assert match, response.headers.get("Server-Timing")
    return int(match.group(1)), int(match.group(2))


async def indicators(network: Network, query: str = "") -> tuple[float | None, tuple[int, int]]:
    """The national volunteers figure of 2025 and how the answer used the cache."""
    async with network.hub.session.get(f"{network.hub.url}{INDICATORS}{query}", headers=network.auth("national")) as r:
        assert r.status == 200, await r.text()
        rows = (await r.json())["rows"]
        totals = [row["total"] for row in rows if row["indicator"] == "volunteers" and row["area"] is None]
        return (totals[0] if totals else None), cache_use(r)


async def push_report(network: Network, node_id: str, volunteers: int) -> str:
    node = network.nodes[node_id]
    indicators = {**REPORT["indicators"], "volunteers": volunteers}  # type: ignore[dict-item]
    report = await node.create("reports", {**REPORT, "indicators": indicators, "state": "submitted"})
    assert await sender.push_all(node.context) == {"target:hub": 1}
    return str(report["id"])


async def test_tables_follow_reports_reviews_and_members_not_activities(network: Network, database_url: str) -> None:
    await _approve_all(network)
    paris_report = await push_report(network, "rq-paris", 12)
    assert await indicators(network) == (12, (1, 0))
    assert await indicators(network) == (12, (0, 1))  # same data: served from the cache

    # Activities pushed: the activity table counts them at once, the figures are not computed again.
    paris = network.nodes["rq-paris"]
    for n in range(3):
        await paris.create("activities", activity(n, start_date="2025-02-01"))
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    status, table = await network.hub_get("/tables/activities?period=2025")
    assert status == 200
    assert [row["activities"] for row in table["rows"] if row["area"] is None and row["category"] is None] == [3]
    assert await indicators(network) == (12, (0, 1))

    # A report pushed: the figure includes it on the next read.
    await push_report(network, "rq-lyon", 30)
    assert await indicators(network) == (42, (1, 0))

    # A review written: the nationally accepted figures change at once.
    assert await indicators(network, "&approved=national") == (None, (1, 0))
    validated = await network.hub_post(f"/reports/rq-paris/{paris_report}/validate", role="national")
    assert validated[0] == 201
    assert await indicators(network, "&approved=national") == (12, (1, 0))

    # A member revoked by another hub process (its own engine on the same database): no longer counted.
    other = create_engine(database_url)
    try:
        await enrolment.revoke(other, "rq-lyon", "coordination nationale", "Clé compromise")
    finally:
        await other.dispose()
    assert await indicators(network) == (12, (1, 0))
    status, complete = await network.hub_get("/tables/completeness?period=2025")
    assert {row["area"]: row["expected"] for row in complete["rows"]} == {"11": 1}


async def test_dashboard_shows_a_pushed_report_at_once(network: Network, browse: Any) -> None:
    await _approve_all(network)
    await push_report(network, "rq-paris", 12)
    national = await browse("national")

    async def dashboard() -> tuple[str, tuple[int, int]]:
        response = await national.get("/hub?period=2025&indicator=volunteers", headers={"Accept": "text/html"})
        page = await response.text()
        assert response.status == 200, page[:2000]
        match = re.search(r'<th scope="row">Bénévoles</th><td class="figure">([^<]+)</td>', page)
        assert match, page
        return match.group(1), cache_use(response)

    figure, (computed, cached) = await dashboard()
    assert figure == "12" and computed > 0 and cached == 0
    figure, (computed_again, served) = await dashboard()
    assert figure == "12" and computed_again == 0 and served > 0  # every figure and the map served again

    paris = network.nodes["rq-paris"]
    await paris.create("activities", activity(0, start_date="2025-02-01"))
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    page = await text(national, "/hub?period=2025&indicator=volunteers")
    assert "1 activité en cours pendant la période." in page
    assert await dashboard() == ("12", (0, served))

    await push_report(network, "rq-lyon", 1_000)
    figure, (recomputed, _) = await dashboard()
    assert spaced(figure) == "1 012" and recomputed == computed


async def test_the_dashboard_and_the_api_share_one_cache(network: Network, browse: Any) -> None:
    await _approve_all(network)
    await push_report(network, "rq-paris", 12)
    national = await browse("national")
    response = await national.get("/hub?period=2025", headers={"Accept": "text/html"})
    assert response.status == 200
    assert cache_use(response)[0] > 0  # the dashboard computed the national indicator table of 2025
    # The API's table of the same figures: served from that computation, not computed a second time.
    figure, (computed, cached) = await indicators(network)
    assert (figure, computed) == (12, 0) and cached == 1


def spaced(value: str) -> str:
    return value.replace("\u202f", " ").replace("\u00a0", " ")


async def test_the_cache_keeps_a_bounded_number_of_entries_and_shares_one_computation() -> None:
    cache = FigureCache(max_entries=2)
    calls: list[str] = []

    async def compute(key: str) -> str:
        calls.append(key)
        await asyncio.sleep(0)  # the other requests arrive while it computes
        return key.upper()

    assert await asyncio.gather(*(cache.get("a", lambda: compute("a")) for _ in range(3))) == ["A", "A", "A"]
    assert calls == ["a"] and (cache.computed, cache.served) == (1, 2)
    await cache.get("b", lambda: compute("b"))
    await cache.get("c", lambda: compute("c"))
    assert len(cache) == 2
    await cache.get("a", lambda: compute("a"))  # the least recently used was forgotten: computed again
    assert calls == ["a", "b", "c", "a"]


async def test_a_failed_computation_is_not_kept_and_a_request_gone_does_not_cancel_it() -> None:
    cache = FigureCache()

    async def failing() -> str:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        await cache.get("a", failing)
    assert len(cache) == 0

    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "figures"

    first = asyncio.ensure_future(cache.get("b", slow))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.get("b", slow))
    await asyncio.sleep(0)
    first.cancel()  # the request that started it went away
    release.set()
    assert await second == "figures"
    assert await cache.get("b", slow) == "figures" and cache.computed == 2
