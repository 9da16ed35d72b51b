"""The tables the hub opens to everyone (`[plugins.hub.open_data]`), served without a token at
/plugins/hub/opendata/<dataset>, with the small-cell rule applied: no published figure lets anyone single out
one or two régies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from federation.plugin_api import Problem, appkeys

from . import aggregates, enrolment, labels
from .aggregates import Scope
from .exports import ACTIVITY_COLUMNS, AREA, DIRECTORY_COLUMNS, INDICATOR_COLUMNS, Table, stream_table, with_labels
from .labels import member_label
from .settings import HubSettings, OpenDataSettings


def suppress_small_cells(
    rows: list[dict[str, Any]],
    hierarchy: Sequence[str],
    contributors: str,
    hidden: Sequence[str],
    threshold: int,
) -> int:
    """Empty the `hidden` cells of each row fewer than `threshold` régies (`contributors`) contributed to, then of
    as many neighbours as needed so that no emptied cell can be recomputed from its subtotal; returns how many
    rows were emptied.

    `hierarchy` names the ROLLUP keys from the outermost: a row whose keys are set up to position n is a part of
    the row with the same first n-1 keys and the others empty (its subtotal). Where one part of a subtotal is
    emptied and the subtotal is shown, the smallest other part is emptied too, and a subtotal of a single part is
    emptied with it (secondary suppression), until nothing changes.
    """

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(name) for name in hierarchy)

    def level(row_key: tuple[Any, ...]) -> int:
        return next((n for n, value in enumerate(row_key) if value is None), len(row_key))

    emptied = {id(row) for row in rows if (row.get(contributors) or 0) < threshold}
    by_key = {key(row): row for row in rows}
    siblings: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        row_key = key(row)
        depth = level(row_key)
        if depth == 0:
            continue
        parent = (*row_key[: depth - 1], *(None,) * (len(hierarchy) - depth + 1))
        siblings.setdefault(parent, []).append(row)
    # Outer subtotals first: an emptied subtotal needs no neighbour emptied among its parts.
    groups = sorted(siblings.items(), key=lambda group: level(group[0]))
    changed = True
    while changed:
        changed = False
        for parent, parts in groups:
            subtotal = by_key.get(parent)
            if subtotal is None:
                continue
            if len(parts) == 1:  # a subtotal of one part is that part: both shown or both empty
                if (id(subtotal) in emptied) != (id(parts[0]) in emptied):
                    emptied.update((id(subtotal), id(parts[0])))
                    changed = True
                continue
            shown = [row for row in parts if id(row) not in emptied]
            if id(subtotal) in emptied or len(parts) - len(shown) != 1:
                continue
            smallest = min(shown, key=lambda row: row.get(contributors) or 0)
            emptied.add(id(smallest))
            changed = True
    for row in rows:
        if id(row) in emptied:
            for name in hidden:
                row[name] = None
    return len(emptied)


def _open(settings: OpenDataSettings, dataset: str, period_key: str | None) -> None:
    if dataset not in settings.datasets:
        raise Problem(404, f"the hub does not publish {dataset}", slug="not-found")
    if dataset != "directory" and period_key not in settings.periods:
        opened = ", ".join(settings.periods) or "none"
        raise Problem(404, f"the hub publishes {dataset} for these periods only: {opened}", slug="not-found")


async def directory_table(request: web.Request, _open_data: OpenDataSettings) -> Table:
    engine = request.config_dict[appkeys.ENGINE]
    members = await enrolment.list_enrolments(engine, "approved")
    granted = await labels.grants(engine)
    rows = [{**m.describe(), **member_label(granted.get(m.node_id), m.label_status)} for m in members]
    return Table("annuaire-des-regies", DIRECTORY_COLUMNS, rows)


async def activity_table(request: web.Request, open_data: OpenDataSettings) -> Table:
    period = _period(request)
    rows = with_labels(request, await aggregates.activity_table(request.config_dict[appkeys.ENGINE], period, Scope()))
    suppressed = suppress_small_cells(
        rows, ("area", "category", "service_type"), "regies", ("activities", "regies"), open_data.min_regies
    )
    extra = {"period": period.key, "min_regies": open_data.min_regies, "suppressed_rows": suppressed}
    return Table(f"activites-{period.key}-national", (AREA, *ACTIVITY_COLUMNS), rows, extra)


async def indicator_table(request: web.Request, open_data: OpenDataSettings) -> Table:
    period = _period(request)
    engine, registry = request.config_dict[appkeys.ENGINE], request.config_dict[appkeys.PLUGINS].registry
    # Open figures come from reports the network accepted at national level only.
    figures = await aggregates.indicator_table(engine, registry, period, Scope(), national_only=True)
    rows = with_labels(request, figures)
    suppressed = suppress_small_cells(
        rows, ("indicator", "area"), "reports", ("total", "reports", "set_aside"), open_data.min_regies
    )
    extra = {"period": period.key, "min_regies": open_data.min_regies, "suppressed_rows": suppressed}
    return Table(f"indicateurs-{period.key}-national", (AREA, *INDICATOR_COLUMNS), rows, extra)


def _period(request: web.Request) -> Any:
    from .coordination import parse_period

    return parse_period(request.query)


OpenBuilder = Callable[[web.Request, OpenDataSettings], Any]
BUILDERS: dict[str, OpenBuilder] = {
    "directory": directory_table,
    "activities": activity_table,
    "indicators": indicator_table,
}


def build_routes(settings: HubSettings) -> list[web.AbstractRouteDef]:
    """/opendata/<dataset>?period=&format=: the opened datasets, anyone may read them."""
    open_data = settings.open_data

    async def serve(request: web.Request) -> web.StreamResponse:
        dataset = request.match_info["dataset"]
        if dataset not in BUILDERS:
            raise Problem(404, f"no open dataset '{dataset}'", slug="not-found")
        # A table without a period is not one of the published datasets (each is one period's): 404 like any other.
        period_key = request.query.get("period") if dataset != "directory" else None
        _open(open_data, dataset, period_key)
        return await stream_table(request, await BUILDERS[dataset](request, open_data))

    return [web.get("/opendata/{dataset}", serve, allow_head=False)]
