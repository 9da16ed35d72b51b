"""The built-in plugins are declared through the same entry-point group as third-party plugins."""

from __future__ import annotations

import importlib.metadata

from federation.plugins import ENTRY_POINT_GROUP, build_plugins

EXPECTED = {
    "datainclusion": "regies_datainclusion",
    "democracy": "regies_democracy",
    "exports": "regies_exports",
    "feeds": "regies_feeds",
    "hsds": "regies_hsds",
    "hub": "regies_hub",
    "hubclient": "regies_hubclient",
    "insertion": "regies_insertion",
    "lending": "regies_lending",
    "mediation": "regies_mediation",
    "mobility": "regies_mobility",
    "services": "regies_services",
    "urban": "regies_urban",
}


def test_installed_entry_points_are_exactly_the_built_ins() -> None:
    ours = {
        entry_point.name: entry_point.value
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if entry_point.dist is not None and entry_point.dist.name == "regies-federation"
    }
    assert ours == EXPECTED


def test_built_ins_load_and_can_be_disabled() -> None:
    assert set(build_plugins().infos) >= set(EXPECTED)
    without = build_plugins(disabled=["mobility", "exports"])
    assert "mobility" not in without.infos and "exports" not in without.infos
    assert "social_driving_school" not in without.registry.service_types
    assert "csv" not in without.registry.exporters


def test_no_generic_top_level_packages_are_installed() -> None:
    files = importlib.metadata.distribution("regies-federation").read_text("top_level.txt") or ""
    top_level = set(files.split()) if files else set()
    assert "plugins" not in top_level and "schemas" not in top_level and "tests" not in top_level
    # The development tools (demo, load generator, fault proxy, crash harness) are not part of the product.
    assert "devtools" not in top_level and "federation" in top_level
