"""Benchmark of what a pulling node does with one feed page, stage by stage, against json.loads of the same page.

The pull's bottleneck is the pulling process (bench/sync.py): this measures its per-page work alone, on one
core and without the other processes of a sync, so a change to parsing or row building shows up without the
noise of a whole run. The page is built exactly as a serving node sends it (`persistence.feed_item` envelopes
around canonical bodies of the activities bench/sync.py generates).
"""

from __future__ import annotations

import argparse
import gc
import json
import marshal
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import SOURCE_ID, activity_document

from federation.protocol.apply import parse_page, wire_rows
from federation.protocol.persistence import feed_item
from federation.schema.records import Activity
from federation.storage.mapping import encode_body, to_micros


def build_page(count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    quoted = json.dumps(SOURCE_ID)
    items = []
    for index in range(count):
        record = Activity.model_validate(activity_document(rng, index))
        items.append(
            feed_item(
                quoted,
                "activity",
                str(record.id),
                record.version,
                to_micros(record.updated_at),
                False,
                encode_body(record),
            )
        )
    return (
        f'{{"origin":{quoted},"records":[' + ",".join(items) + '],"next_cursor":"Yzox","more":true,"remaining":1}'
    ).encode()


def best_of(repeats: int, stage: Callable[[], Any]) -> float:
    """The fastest of `repeats` runs, in seconds (the others include other processes' interference)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        stage()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000, help="activities in the page (default 1000)")
    parser.add_argument("--repeats", type=int, default=30, help="runs of each stage; the fastest counts")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.records < 1 or args.repeats < 1:
        parser.error("--records and --repeats must be >= 1")

    raw = build_page(args.records, args.seed)
    page = parse_page(raw)
    rows = wire_rows(page.records, SOURCE_ID)
    frame = marshal.dumps(rows)
    print(f"bench/pull_page.py  page of {args.records:,} activities, {len(raw):,} bytes; best of {args.repeats} runs")

    def parse_and_free() -> None:
        parsed = parse_page(raw)
        del parsed

    gc.disable()  # as during a pull (apply.gc_paused)
    try:
        baseline = best_of(args.repeats, lambda: json.loads(raw))
        stages = [
            ("parse_page (pydantic validation of the page)", best_of(args.repeats, lambda: parse_page(raw))),
            ("parse_page and freeing its models", best_of(args.repeats, parse_and_free)),
            (
                "wire_rows (checks, row tuples, canonical bodies)",
                best_of(args.repeats, lambda: wire_rows(page.records, SOURCE_ID)),
            ),
            ("marshal.dumps of the rows (to the writer process)", best_of(args.repeats, lambda: marshal.dumps(rows))),
            ("marshal.loads of the rows (in the writer process)", best_of(args.repeats, lambda: marshal.loads(frame))),
        ]
    finally:
        gc.enable()
    per_record = 1e6 / args.records
    print(f"  baseline json.loads of the page: {baseline * 1e3:.2f} ms ({baseline * per_record:.2f} µs/record)")
    for name, seconds in stages:
        print(
            f"  {name}: {seconds * 1e3:.2f} ms ({seconds * per_record:.2f} µs/record), "
            f"ratio {seconds / baseline:.2f} of json.loads"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
