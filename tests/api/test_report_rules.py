"""Validation rules across a report's indicators, outliers against the previous period and future periods, as an
API client meets them: 422 problems with JSON Pointers at submission, drafts saved, warnings explained in the
comment and kept in the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from federation import hookimpl
from federation.app import create_app
from federation.config import Settings
from federation.indicators import parse_period_key
from federation.plugins import build_plugins
from federation.registrations import Indicator
from federation.registry import PluginError, Registry
from federation.semantics import ValidationRule
from federation.validation_rules import previous_period

LAST_YEAR = dt.date.today().year - 1


class GardenPlugin:
    """A plugin with one indicator and two rules: one over core indicators, one over an indicator it lacks."""

    @hookimpl
    def register_indicators(self, registry: Registry) -> None:
        registry.add_indicator(Indicator("garden_plots", "Parcelles", "Garden plots"))
        registry.add_validation_rule(
            ValidationRule(
                "plots_within_inhabitants",
                ("garden_plots",),
                ("inhabitants_concerned",),
                "error",
                "Il y a plus de parcelles que d'habitants concernés.",
                "more garden plots than inhabitants concerned",
            )
        )
        registry.add_validation_rule(
            ValidationRule(
                "plots_within_orchards",
                ("garden_plots",),
                ("orchard_trees",),  # no plugin registers it here: the rule is skipped
                "error",
                "Plus de parcelles que d'arbres.",
                "more plots than trees",
            )
        )


@pytest.fixture
async def node(aiohttp_client: Any, settings: Settings, admin_token: str) -> TestClient[Any, Any]:
    """A node that joined its hub, with the insertion plugin (CDDI headcount, exits) and the garden plugin."""
    import regies_hubclient
    import regies_insertion

    plugins = build_plugins(
        extra=[("insertion", regies_insertion), ("garden", GardenPlugin()), ("hubclient", regies_hubclient)],
        load_entry_points=False,
        settings={"hubclient": {"url": "http://hub.invalid"}},
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings, plugins))
    client.regies_auth = {"Authorization": f"Bearer {admin_token}"}  # type: ignore[attr-defined]
    return client


def report(indicators: dict[str, float], state: str = "submitted", year: int = LAST_YEAR, **extra: Any) -> Any:
    return {"period": {"type": "year", "year": year}, "indicators": indicators, "state": state, **extra}


async def stored_reports(node: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await (await node.get("/api/v1/reports", headers=node.regies_auth)).json())["items"]
    return items


async def test_more_exits_than_insertion_employees_blocks_submission_not_the_draft(node: Any) -> None:
    hostile = {"exits_to_employment": 50, "employees_cddi": 3}
    refused = await node.post("/api/v1/reports", json=report(hostile), headers=node.regies_auth)
    assert refused.status == 422
    assert refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["type"].endswith(":validation-rules")
    assert problem["errors"] == [
        {
            "pointer": "/indicators/exits_to_employment",
            "detail": "exits to employment cannot exceed the employees on insertion contracts (employees_cddi) "
            "(exits_within_insertion_headcount)",
            "code": "rule_error",
            "severity": "error",
            "message_fr": "Les sorties dynamiques ne peuvent pas dépasser le nombre de salariés en CDDI.",
        }
    ]
    assert await stored_reports(node) == []  # nothing stored

    draft = await node.post("/api/v1/reports", json=report(hostile, "draft"), headers=node.regies_auth)
    assert draft.status == 201  # a draft may be incomplete or wrong: the rules are checked at submission
    location = draft.headers["Location"]
    again = await node.put(location, json=report(hostile), headers=node.regies_auth)
    assert again.status == 422
    assert [item["state"] for item in await stored_reports(node)] == ["draft"]
    fixed = await node.put(location, json=report({**hostile, "exits_to_employment": 2}), headers=node.regies_auth)
    assert fixed.status == 200 and (await fixed.json())["state"] == "submitted"


async def test_turnover_parts_above_the_budget_are_refused_with_a_pointer(node: Any) -> None:
    values = {"budget_total": 100_000, "turnover_local_authorities": 80_000, "turnover_other": 30_000}
    refused = await node.post("/api/v1/reports", json=report(values), headers=node.regies_auth)
    assert refused.status == 422
    [error] = (await refused.json())["errors"]
    assert (error["pointer"], error["code"]) == ("/indicators/turnover_local_authorities", "rule_error")
    within = {**values, "turnover_other": 20_000}
    assert (await node.post("/api/v1/reports", json=report(within), headers=node.regies_auth)).status == 201


async def test_a_warning_needs_a_comment_which_the_audit_trail_keeps(node: Any) -> None:
    values = {"budget_total": 100_000, "payroll": 120_000}
    refused = await node.post("/api/v1/reports", json=report(values), headers=node.regies_auth)
    assert refused.status == 422
    problem = await refused.json()
    assert problem["type"].endswith(":validation-warnings")
    assert [(e["pointer"], e["code"], e.get("severity")) for e in problem["errors"]] == [
        ("/indicators/payroll", "rule_warning", "warning"),
        ("/comment", "warnings_need_comment", None),
    ]
    assert await stored_reports(node) == []

    comment = "Masse salariale financée en partie par une réserve de l'an passé."
    accepted = await node.post("/api/v1/reports", json=report(values, comment=comment), headers=node.regies_auth)
    assert accepted.status == 201
    [entry] = (await accepted.json())["audit"]
    assert entry["action"] == "submitted"
    assert entry["comment"] == (
        "Avertissements : payroll : La masse salariale dépasse le budget total. — Commentaire : " + comment
    )


async def test_a_value_far_from_the_previous_period_is_an_outlier_warning(node: Any) -> None:
    before = report({"volunteers": 10}, "draft", year=LAST_YEAR - 1)
    assert (await node.post("/api/v1/reports", json=before, headers=node.regies_auth)).status == 201
    refused = await node.post("/api/v1/reports", json=report({"volunteers": 31}), headers=node.regies_auth)
    assert refused.status == 422
    outlier = (await refused.json())["errors"][0]
    where = (outlier["pointer"], outlier["code"], outlier["severity"])
    assert where == ("/indicators/volunteers", "outlier", "warning")
    assert outlier["message_fr"] == f"Valeur très éloignée de celle de la période précédente ({LAST_YEAR - 1} : 10)."
    low = await node.post("/api/v1/reports", json=report({"volunteers": 3}), headers=node.regies_auth)
    assert (await low.json())["errors"][0]["code"] == "outlier"  # less than a third: also an outlier
    plausible = await node.post("/api/v1/reports", json=report({"volunteers": 30}), headers=node.regies_auth)
    assert plausible.status == 201  # three times as many is still within the factor


@pytest.mark.parametrize("year", [dt.date.today().year, dt.date.today().year + 4, 2100])
async def test_a_period_not_over_cannot_be_submitted(node: Any, year: int) -> None:
    refused = await node.post("/api/v1/reports", json=report({"volunteers": 4}, year=year), headers=node.regies_auth)
    assert refused.status == 422
    assert refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["type"].endswith(":period-not-over")
    assert problem["detail"] == (
        "La période n'est pas terminée : un rapport ne peut être soumis qu'une fois sa période achevée."
    )
    assert [(e["pointer"], e["code"]) for e in problem["errors"]] == [("/period", "period_not_over")]
    assert await stored_reports(node) == []
    draft = report({"volunteers": 4}, "draft", year=year)
    assert (await node.post("/api/v1/reports", json=draft, headers=node.regies_auth)).status == 201


async def test_this_quarter_cannot_be_submitted_but_last_quarter_can(node: Any) -> None:
    today = dt.date.today()
    quarter = (today.month - 1) // 3 + 1
    current = {"type": "quarter", "year": today.year, "quarter": quarter}
    last = {"type": "quarter", "year": today.year - (quarter == 1), "quarter": 4 if quarter == 1 else quarter - 1}
    body = {"indicators": {"volunteers": 4}, "state": "submitted"}
    refused = await node.post("/api/v1/reports", json={**body, "period": current}, headers=node.regies_auth)
    assert refused.status == 422
    accepted = await node.post("/api/v1/reports", json={**body, "period": last}, headers=node.regies_auth)
    assert accepted.status == 201


async def test_a_plugin_rule_applies_and_a_rule_over_a_missing_indicator_is_skipped(node: Any) -> None:
    values = {"garden_plots": 40, "inhabitants_concerned": 12}
    refused = await node.post("/api/v1/reports", json=report(values), headers=node.regies_auth)
    assert [(e["pointer"], e["code"]) for e in (await refused.json())["errors"]] == [
        ("/indicators/garden_plots", "rule_error")
    ]
    within = {"garden_plots": 10, "inhabitants_concerned": 12}  # `plots_within_orchards` names no known indicator
    assert (await node.post("/api/v1/reports", json=report(within), headers=node.regies_auth)).status == 201


def test_a_rule_registered_twice_or_without_a_severity_stops_start_up() -> None:
    class Twice:
        @hookimpl
        def register_indicators(self, registry: Registry) -> None:
            rule = ValidationRule("turnover_within_budget", ("payroll",), ("budget_total",), "error", "x", "x")
            registry.add_validation_rule(rule)

    with pytest.raises(PluginError, match="validation rule 'turnover_within_budget' is registered twice"):
        build_plugins(extra=[("twice", Twice())], load_entry_points=False)

    class Vague:
        @hookimpl
        def register_indicators(self, registry: Registry) -> None:
            rule = ValidationRule("vague", ("payroll",), ("budget_total",), "fatal", "x", "x")  # type: ignore[arg-type]
            registry.add_validation_rule(rule)

    with pytest.raises(PluginError, match="plugin 'vague': validation rule 'vague' needs a severity"):
        build_plugins(extra=[("vague", Vague())], load_entry_points=False)


@pytest.mark.parametrize(
    ("period", "previous"),
    [("2025", "2024"), ("2025-Q1", "2024-Q4"), ("2025-Q3", "2025-Q2"), ("2023-2025", "2020-2022")],
)
def test_outliers_compare_with_the_previous_period_of_the_same_type(period: str, previous: str) -> None:
    assert previous_period(parse_period_key(period)).key == previous
