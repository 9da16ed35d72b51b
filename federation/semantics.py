"""What an indicator's figures mean: how they aggregate across régies, their plausible bounds and precision.

An `Indicator` (federation/registrations.py) may declare its `aggregation`, `minimum`, `maximum` and `decimals`; what
it leaves out follows from its unit (`defaults_for`): counts, money, hours and quantities are summed, a
percentage is never summed (with no declared rule it is not aggregated at all). The plugin manager checks the
declarations at start-up (`check_indicator_semantics`), the node refuses report values outside the bounds or
more precise than allowed (`value_errors`), and the hub's tables aggregate by the rule in SQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from federation.registrations import Indicator
    from federation.registry import Registry


class AggregationKind(StrEnum):
    """How the values of several régies combine into one figure (national, regional, departmental)."""

    SUM = "sum"
    WEIGHTED_MEAN = "weighted_mean"  # sum(value × weight) / sum(weight), weight another indicator of the report
    RATIO = "ratio"  # sum(numerator) / sum(denominator) × scale, over the reports carrying both
    COUNT = "count"  # number of régies reporting a non-zero value (e.g. a yes/no indicator as 1/0)
    NONE = "none"  # no figure above the régie: shown per régie only


@dataclass(frozen=True)
class Aggregation:
    """An indicator's aggregation rule; build it with the class methods (`Aggregation.weighted_mean("x")`)."""

    kind: AggregationKind = AggregationKind.SUM
    weight: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    scale: float = 1.0

    @classmethod
    def sum(cls) -> Aggregation:
        return cls(AggregationKind.SUM)

    @classmethod
    def weighted_mean(cls, weight: str) -> Aggregation:
        """The mean of the régies' values, each counting as much as its value of indicator `weight`."""
        return cls(AggregationKind.WEIGHTED_MEAN, weight=weight)

    @classmethod
    def ratio(cls, numerator: str, denominator: str, scale: float = 1.0) -> Aggregation:
        """sum(numerator) / sum(denominator) × `scale` (100 for a percentage)."""
        return cls(AggregationKind.RATIO, numerator=numerator, denominator=denominator, scale=scale)

    @classmethod
    def count(cls) -> Aggregation:
        return cls(AggregationKind.COUNT)

    @classmethod
    def none(cls) -> Aggregation:
        return cls(AggregationKind.NONE)

    def references(self) -> tuple[str, ...]:
        """The other indicators this rule reads."""
        return tuple(key for key in (self.weight, self.numerator, self.denominator) if key)


@dataclass(frozen=True)
class Semantics:
    """An indicator's resolved rules: its declarations, with its unit's defaults for what it left out."""

    unit: str
    aggregation: Aggregation
    minimum: float
    maximum: float
    decimals: int


# Per unit: (aggregation, minimum, maximum, decimals). People and things are counted in whole numbers.
_UNIT_DEFAULTS: dict[str, tuple[Aggregation, float, float, int]] = {
    "count": (Aggregation.sum(), 0, 1_000_000, 0),
    "percent": (Aggregation.none(), 0, 100, 1),
    "euros": (Aggregation.sum(), 0, 10_000_000_000, 2),
    "fte": (Aggregation.sum(), 0, 100_000, 2),
    "hours": (Aggregation.sum(), 0, 100_000_000, 1),
}
_OTHER_UNIT = (Aggregation.sum(), 0.0, 1_000_000_000.0, 2)
MAX_DECIMALS = 6


def defaults_for(unit: str) -> tuple[Aggregation, float, float, int]:
    return _UNIT_DEFAULTS.get(unit, _OTHER_UNIT)


def semantics_of(indicator: Indicator) -> Semantics:
    aggregation, minimum, maximum, decimals = defaults_for(indicator.unit)
    return Semantics(
        unit=indicator.unit,
        aggregation=indicator.aggregation or aggregation,
        minimum=minimum if indicator.minimum is None else indicator.minimum,
        maximum=maximum if indicator.maximum is None else indicator.maximum,
        decimals=decimals if indicator.decimals is None else indicator.decimals,
    )


def check_indicator_semantics(registry: Registry) -> None:
    """Stop start-up, naming the plugin, on a rule that cannot hold (unknown weight, summed percentage…)."""
    from federation.registry import PluginError

    for indicator in registry.indicators.values():
        owner = registry.owners.get(("indicator", indicator.key), "<core>")

        def fail(reason: str, key: str = indicator.key, plugin: str = owner) -> PluginError:
            return PluginError(f"plugin '{plugin}': indicator '{key}' {reason}")

        if indicator.aggregation is not None and not isinstance(indicator.aggregation, Aggregation):
            raise fail("has an aggregation that is not a federation.plugin_api.Aggregation")
        rules = semantics_of(indicator)
        aggregation = rules.aggregation
        if not math.isfinite(rules.minimum) or not math.isfinite(rules.maximum) or rules.minimum > rules.maximum:
            raise fail(f"has bounds {rules.minimum}..{rules.maximum}; minimum must not exceed maximum")
        if rules.minimum < 0:
            raise fail("has a negative minimum; report values are never negative")
        if not 0 <= rules.decimals <= MAX_DECIMALS:
            raise fail(f"has decimals={rules.decimals}; use 0 to {MAX_DECIMALS}")
        if rules.unit == "count" and rules.decimals != 0:
            raise fail("counts people or things: its decimals must be 0")
        if rules.unit == "percent" and aggregation.kind is AggregationKind.SUM:
            raise fail("is a percentage and cannot be summed; aggregate it as a weighted mean, a ratio or none")
        required = {
            AggregationKind.WEIGHTED_MEAN: ("weight",),
            AggregationKind.RATIO: ("numerator", "denominator"),
        }.get(aggregation.kind, ())
        for role in required:
            if not getattr(aggregation, role):
                raise fail(f"aggregates as {aggregation.kind} but names no {role} indicator")
        for key in aggregation.references():
            if key == indicator.key:
                raise fail(f"aggregates as {aggregation.kind} over itself")
            other = registry.indicators.get(key)
            if other is None:
                raise fail(f"aggregates as {aggregation.kind} over indicator '{key}', which no plugin registers")
            if semantics_of(other).aggregation.kind is not AggregationKind.SUM:
                raise fail(f"aggregates over indicator '{key}', which is not summed")
        if aggregation.kind is AggregationKind.RATIO and not (math.isfinite(aggregation.scale) and aggregation.scale):
            raise fail("has a ratio scale that is not a non-zero number")


@dataclass(frozen=True)
class IndicatorValueError:
    """A report value its indicator's rules refuse: where, why (English), and the limits for the form."""

    pointer: str
    code: str
    detail: str
    limits: Mapping[str, str]

    def as_problem_error(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail, "code": self.code, **self.limits}


# How far a value may be from its rounding to the allowed decimals, relative to the value: binary floats write
# 0.1 + 0.2 as 0.30000000000000004, which is 0.3 to anyone reading it (the hub's SQL uses the same tolerance).
PRECISION_TOLERANCE = 1e-12


def too_precise(value: float, decimals: int) -> bool:
    """Whether `value` carries more than `decimals` meaningful decimals (2.5 employees for 0 decimals)."""
    return abs(value - round(value, decimals)) > PRECISION_TOLERANCE * max(1.0, abs(value))


def value_schema(indicator: Indicator) -> dict[str, object]:
    """The JSON Schema of the indicator's values, as the node's OpenAPI document publishes it."""
    rules = semantics_of(indicator)
    schema: dict[str, object] = {"type": "number", "minimum": rules.minimum, "maximum": rules.maximum}
    if rules.decimals == 0:
        schema["multipleOf"] = 1
    else:  # JSON Schema's multipleOf with 0.1 refuses 0.3 (0.3 / 0.1 = 2.9999999999999996): stated as an extension
        schema["x-regies-decimals"] = rules.decimals
    return schema


def plain_number(value: float) -> str:
    """`value` written out in full with a "." decimal point, never in scientific notation: 1e12 → "1000000000000"."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_errors(registry: Registry, values: Mapping[str, float]) -> list[IndicatorValueError]:
    """The values of a report that fall outside their indicator's bounds or carry more decimals than it allows.

    Unknown indicators are left to the caller (a node refuses them, a hub keeps them verbatim)."""
    errors = []
    for key, value in values.items():
        indicator = registry.indicators.get(key)
        if indicator is None:
            continue
        rules = semantics_of(indicator)
        pointer = f"/indicators/{key}"
        limits = {
            "minimum": plain_number(rules.minimum),
            "maximum": plain_number(rules.maximum),
            "decimals": str(rules.decimals),
        }
        if not math.isfinite(value) or not rules.minimum <= value <= rules.maximum:
            detail = f"must be between {limits['minimum']} and {limits['maximum']} ({rules.unit})"
            errors.append(IndicatorValueError(pointer, "indicator_bounds", detail, limits))
        elif too_precise(value, rules.decimals):
            detail = (
                "must be a whole number"
                if rules.decimals == 0
                else f"must have at most {rules.decimals} decimal places"
            )
            errors.append(IndicatorValueError(pointer, "indicator_precision", detail, limits))
    return errors


def describe(indicator: Indicator) -> dict[str, object]:
    """An indicator's rules as JSON, for /api/v1/indicators and the report form."""
    rules = semantics_of(indicator)
    aggregation: dict[str, object] = {"kind": str(rules.aggregation.kind)}
    for role in ("weight", "numerator", "denominator"):
        if getattr(rules.aggregation, role):
            aggregation[role] = getattr(rules.aggregation, role)
    if rules.aggregation.kind is AggregationKind.RATIO:
        aggregation["scale"] = rules.aggregation.scale
    return {"aggregation": aggregation, "minimum": rules.minimum, "maximum": rules.maximum, "decimals": rules.decimals}


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class ValidationRule:
    """Σ `left` ≤ Σ `right` over one report's values; `message_fr` tells the régie what is wrong.

    A rule is checked only when every indicator it names is registered on the node and the report carries a
    value for at least one indicator of each side (missing ones count as 0); a finding points at the first
    indicator of `left` the report carries."""

    key: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    severity: Severity
    message_fr: str
    message_en: str

    def indicators(self) -> tuple[str, ...]:
        return (*self.left, *self.right)
