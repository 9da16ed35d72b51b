"""Benchmark of what a pulling node does with one feed page, stage by stage, against json.loads of the same page.

The pull's bottleneck is the pulling process (bench/sync.py): this measures its per-page work alone, on one
core and without the other processes of a sync, so a change to parsing or row building shows up without the
noise of a whole run. The page is built exactly as a serving node sends it (`persistence.feed_item` envelopes
around canonical bodies of the activities bench/sync.py generates).

With `--instructions` each stage is counted in CPU instructions instead of timed, by valgrind's callgrind: one
run of the stage's process with the stage repeated, one without, the difference divided by the records. Why:
this machine's speed drifts by a fifth or more within an hour, even between the runs of a best-of-N timing, while
an instruction count moves by under half a percent between runs (string hashing is randomised per process); a
change of a few hundred instructions per record shows.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import marshal
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import SOURCE_ID, activity_document

from federation.protocol.apply import page_rows, parse_page, wire_rows
from federation.protocol.persistence import feed_item
from federation.schema.records import Activity
from federation.storage.mapping import canonical_json, encode_body, to_micros


def build_page(count: int, seed: int, tombstone_every: int = 0) -> bytes:
    """A feed page of `count` activities; with `tombstone_every`, one record in that many is a deletion."""
    rng = random.Random(seed)
    quoted = json.dumps(SOURCE_ID)
    items = []
    for index in range(count):
        record = Activity.model_validate(activity_document(rng, index))
        if tombstone_every and index % tombstone_every == tombstone_every - 1:
            items.append(feed_item(quoted, "activity", str(record.id), 2, to_micros(record.updated_at), True, ""))
            continue
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


def stages(records: int, seed: int) -> dict[str, tuple[str, Callable[[], Any]]]:
    """The stages, by key: (what it is, a call doing it once on the page). json.loads comes first: the baseline."""
    raw = build_page(records, seed)
    mixed = build_page(records, seed, tombstone_every=100)
    page = parse_page(raw)
    payloads = [envelope.payload for envelope in page.records]
    rows = wire_rows(page.records, SOURCE_ID)
    frame = marshal.dumps(rows)

    def parse_and_free() -> None:
        parsed = parse_page(raw)
        del parsed

    return {
        "loads": ("baseline json.loads of the page", lambda: json.loads(raw)),
        "page_rows": (
            "page_rows (what a pull does with the page: the fast path here)",
            lambda: page_rows(raw, SOURCE_ID),
        ),
        "page_rows_mixed": (
            "page_rows of the page with a deletion in every 100 records (left to the models one by one)",
            lambda: page_rows(mixed, SOURCE_ID),
        ),
        "parse": ("parse_page (pydantic validation of the page)", lambda: parse_page(raw)),
        "parse_free": ("parse_page and freeing its models", parse_and_free),
        "rows": ("wire_rows (checks, row tuples, canonical bodies)", lambda: wire_rows(page.records, SOURCE_ID)),
        "bodies": ("of which canonical bodies (canonical_json)", lambda: [canonical_json(p) for p in payloads]),
        "dumps": ("marshal.dumps of the rows (to the writer process)", lambda: marshal.dumps(rows)),
        "loads_rows": ("marshal.loads of the rows (in the writer process)", lambda: marshal.loads(frame)),
    }


def run_stage(key: str, times: int, records: int, seed: int) -> int:
    """The process valgrind counts: the stage once (caches warm, as in a long pull), then `times` more."""
    stage = stages(records, seed)[key][1]
    gc.disable()  # as during a pull (apply.gc_paused)
    stage()
    for _ in range(times):
        stage()
    return 0


COLLECTED = re.compile(r"Collected\s*:\s*([0-9,]+)")


def counted_instructions(key: str, times: int, records: int, seed: int) -> int:
    """Instructions callgrind counts for a process running the stage `times` times after its warm-up."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--count-stage",
        key,
        "--times",
        str(times),
        "--records",
        str(records),
        "--seed",
        str(seed),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run of stage {key} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def instructions(records: int, seed: int, times: int) -> int:
    if shutil.which("valgrind") is None:
        print("--instructions needs valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    labels = {key: label for key, (label, _) in stages(1, seed).items()}
    keys = list(labels)
    print(
        f"bench/pull_page.py --instructions  page of {records:,} activities; callgrind, each stage run {times} times "
        f"against 0 times after a warm-up ({2 * len(keys)} valgrind runs of about 30 s, {os.cpu_count()} at a time)",
        flush=True,
    )
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        counts = {
            (key, n): pool.submit(counted_instructions, key, n, records, seed) for key in keys for n in (0, times)
        }
        per_record = {
            key: (counts[(key, times)].result() - counts[(key, 0)].result()) / times / records for key in keys
        }
    baseline = per_record.pop("loads")
    print(f"  {labels['loads']}: {baseline:,.0f} instructions/record")
    for key, count in per_record.items():
        print(f"  {labels[key]}: {count:,.0f} instructions/record, ratio {count / baseline:.2f} of json.loads")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000, help="activities in the page (default 1000)")
    parser.add_argument("--repeats", type=int, default=30, help="runs of each stage; the fastest counts")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count each stage's CPU instructions with valgrind instead of timing it (a few minutes)",
    )
    parser.add_argument("--times", type=int, default=4, help="with --instructions: runs of each counted stage")
    parser.add_argument("--count-stage", help=argparse.SUPPRESS)  # the process valgrind counts
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.records < 1 or args.repeats < 1:
        parser.error("--records and --repeats must be >= 1")
    if args.count_stage:
        return run_stage(args.count_stage, args.times, args.records, args.seed)
    if args.times < 1:
        parser.error("--times must be >= 1")
    if args.instructions:
        return instructions(args.records, args.seed, args.times)

    by_key = stages(args.records, args.seed)
    raw_size = len(build_page(args.records, args.seed))
    print(f"bench/pull_page.py  page of {args.records:,} activities, {raw_size:,} bytes; best of {args.repeats} runs")
    gc.disable()  # as during a pull (apply.gc_paused)
    try:
        timed = {key: best_of(args.repeats, stage) for key, (_, stage) in by_key.items()}
    finally:
        gc.enable()
    per_record = 1e6 / args.records
    baseline = timed.pop("loads")
    print(f"  {by_key['loads'][0]}: {baseline * 1e3:.2f} ms ({baseline * per_record:.2f} µs/record)")
    for key, seconds in timed.items():
        print(
            f"  {by_key[key][0]}: {seconds * 1e3:.2f} ms ({seconds * per_record:.2f} µs/record), "
            f"ratio {seconds / baseline:.2f} of json.loads"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
