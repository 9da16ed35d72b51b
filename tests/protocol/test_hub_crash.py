"""The short CI version of `bench/crash.py --target hub`: the hub SIGKILLed while régies push to it."""

from __future__ import annotations

import random
from pathlib import Path

from devtools.hubcrash import run_hub_crashes


def test_hub_killed_while_regies_push_ends_with_each_record_once(tmp_path: Path, database_url: str) -> None:
    """The hub's database is SQLite, then PostgreSQL; 2 kill -9 of the hub mid-ingest, then a clean finish."""
    result = run_hub_crashes(
        tmp_path,
        origins=["rq-crash-a", "rq-crash-b"],
        records=1500,
        kills=2,
        batch=100,
        rng=random.Random(20261127),
        database_url=database_url,
    )
    assert result.kills == 2
    assert result.mid_push >= 1, "no kill left the hub half-way: the data set is too small for this machine"
    for origin, check in result.checks.items():
        assert check["expected"] >= 1500, (origin, check)
        assert (check["lost"], check["duplicated"], check["unexpected"]) == (0, 0, 0), (origin, check)
