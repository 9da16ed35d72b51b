"""Indicator semantics: each indicator's aggregation rule, bounds and precision, checked at start-up and on values."""

from __future__ import annotations

import types
from typing import Any

import pytest

from federation import hookimpl
from federation.indicators import CORE_INDICATORS
from federation.plugins import build_plugins
from federation.registrations import Indicator
from federation.registry import PluginError
from federation.semantics import Aggregation, AggregationKind, describe, semantics_of, too_precise, value_errors


def _plugin(*indicators: Indicator) -> Any:
    @hookimpl
    def register_indicators(registry: Any) -> None:
        for indicator in indicators:
            registry.add_indicator(indicator)

    return types.SimpleNamespace(register_indicators=register_indicators)


def _start(*indicators: Indicator) -> Any:
    return build_plugins(load_entry_points=False, extra=[("jardins", _plugin(*indicators))]).registry


def test_a_weighted_mean_over_an_unknown_indicator_stops_the_node_naming_the_plugin() -> None:
    share = Indicator("plots_share", "Part", "Share", "percent", aggregation=Aggregation.weighted_mean("plots"))
    with pytest.raises(PluginError, match=r"plugin 'jardins': indicator 'plots_share' .* 'plots', which no plugin"):
        _start(share)
    registry = _start(Indicator("plots", "Parcelles", "Plots"), share)
    assert semantics_of(registry.indicators["plots_share"]).aggregation.weight == "plots"


@pytest.mark.parametrize(
    ("indicator", "message"),
    [
        (Indicator("share", "Part", "Share", "percent", aggregation=Aggregation.sum()), "cannot be summed"),
        (Indicator("people", "Personnes", "People", "count", decimals=1), "decimals must be 0"),
        (Indicator("people", "Personnes", "People", minimum=10, maximum=5), "minimum must not exceed maximum"),
        (Indicator("people", "Personnes", "People", minimum=-1), "negative minimum"),
        (Indicator("rate", "Taux", "Rate", "percent", aggregation=Aggregation.ratio("a", "")), "names no denominator"),
        (Indicator("self", "Soi", "Self", "percent", aggregation=Aggregation.weighted_mean("self")), "over itself"),
        (
            Indicator(
                "share", "Part", "Share", "percent", aggregation=Aggregation.weighted_mean("board_inhabitants_share")
            ),
            "which is not summed",
        ),
        (Indicator("odd", "Bizarre", "Odd", aggregation="sum"), "not a federation.plugin_api.Aggregation"),  # type: ignore[arg-type]
    ],
)
def test_rules_that_cannot_hold_stop_the_node(indicator: Indicator, message: str) -> None:
    with pytest.raises(PluginError, match=f"plugin 'jardins': indicator '{indicator.key}' .*{message}"):
        _start(indicator)


def test_defaults_follow_the_unit_and_a_percentage_is_never_summed() -> None:
    registry = _start(Indicator("plots", "Parcelles", "Plots"), Indicator("share", "Part", "Share", "percent"))
    plots, share = semantics_of(registry.indicators["plots"]), semantics_of(registry.indicators["share"])
    assert (plots.aggregation.kind, plots.minimum, plots.decimals) == (AggregationKind.SUM, 0, 0)
    assert (share.aggregation.kind, share.maximum, share.decimals) == (AggregationKind.NONE, 100, 1)
    for indicator in CORE_INDICATORS:
        rules = semantics_of(indicator)
        if rules.unit == "percent":
            assert rules.aggregation.kind is AggregationKind.WEIGHTED_MEAN, indicator.key
    assert describe(registry.indicators["board_inhabitants_share"])["aggregation"] == {
        "kind": "weighted_mean",
        "weight": "board_members",
    }


def test_every_built_in_indicator_has_sane_rules() -> None:
    registry = build_plugins().registry  # the built-in plugins, as a node starts them
    for key, indicator in registry.indicators.items():
        rules = semantics_of(indicator)
        assert rules.aggregation.kind is not AggregationKind.SUM or rules.unit != "percent", key
        assert 0 <= rules.minimum < rules.maximum, key


def test_values_are_checked_against_bounds_and_precision() -> None:
    registry = build_plugins(load_entry_points=False).registry
    values = {
        "board_inhabitants_share": 250.0,
        "headcount_aided": 2.5,
        "volunteers": 1e308,
        "fte_total": 12.25,
        "budget_total": 3_430_000.5,
        "adapted_contracts_share": 47.5,
        "not_registered": 1e308,
    }
    errors = {error.pointer: error.code for error in value_errors(registry, values)}
    assert errors == {
        "/indicators/board_inhabitants_share": "indicator_bounds",
        "/indicators/headcount_aided": "indicator_precision",
        "/indicators/volunteers": "indicator_bounds",
    }
    assert value_errors(registry, {"fte_total": 12.255})[0].code == "indicator_precision"


@pytest.mark.parametrize(
    ("value", "decimals", "refused"),
    [(3, 0, False), (2.5, 0, True), (2.5, 1, False), (12.25, 1, True), (0.1 + 0.2, 1, False), (1e22, 0, False)],
)
def test_too_precise(value: float, decimals: int, refused: bool) -> None:
    assert too_precise(value, decimals) is refused
