"""What one read API request costs the node server in CPU instructions (callgrind), which machine load does not move.

`bench/api.py` times req/s against a bare aiohttp endpoint; on a busy machine its ratio moves by a fifth from run to
run. This script counts instead: it loads a node as `bench/api.py` does, starts `regies serve` under
`valgrind --tool=callgrind --instr-atstart=no`, sends requests one after another on one keep-alive connection, and
counts only while they run (`callgrind_control -i on/off`). It also counts the idle server over the same time, the
background worker's share to subtract. Compare two checkouts by running it in each: counts do not depend on the load.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import api

READY_TIMEOUT_S = 900  # the server starts under valgrind: imports run 20-50 times slower


def start_under_callgrind(data_dir: Path, work_dir: Path) -> api.Server:
    """`regies serve` under callgrind, counting nothing until switched on, once it answers /readyz."""
    argv = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work_dir}/callgrind.out",
        sys.executable, "-m", "federation", "--data-dir", str(data_dir), "serve", "--port",
    ]  # fmt: skip
    return api.start_server("node under callgrind", argv, work_dir, ready_timeout_s=READY_TIMEOUT_S)


def counted(server: api.Server, out_dir: Path, name: str, work: Callable[[], None]) -> tuple[int, float]:
    """(instructions the server ran during `work`, its seconds): counters zeroed, switched on, dumped after."""

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(server.process.pid)], check=True, capture_output=True)

    control("-z")
    control("-i", "on")
    started = time.monotonic()
    work()
    seconds = time.monotonic() - started
    control("-i", "off")
    before = set(out_dir.glob("callgrind.out*"))
    control("-d", name)
    for _ in range(300):
        dumped = set(out_dir.glob("callgrind.out*")) - before
        if dumped:
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"callgrind wrote no dump for {name}")
    time.sleep(0.5)  # the dump file is complete once its totals line is written
    for line in next(iter(dumped)).read_text().splitlines():
        if line.startswith("totals:"):  # what ran since the counters were zeroed ("summary:" reads 0 after -z)
            return int(line.split()[1]), seconds
    raise SystemExit(f"no totals in the {name} dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="activities to load (default 20,000)")
    parser.add_argument("--by-id", type=int, default=1_000, help="GET by id requests counted (default 1,000)")
    parser.add_argument("--lists", type=int, default=200, help="GET list requests counted (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    service_types, _broken, _note = api.usable_service_types()
    work_dir = Path(tempfile.mkdtemp(prefix="regies-bench-instructions-"))
    server = None
    try:
        data_dir = work_dir / "node"
        api.init_node(data_dir)
        data = api.bulk_load(data_dir, args.records, service_types, args.seed)
        server = start_under_callgrind(data_dir, work_dir)
        rng = random.Random(args.seed + 1)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)

        def get_all(paths: list[str]) -> Callable[[], None]:
            def run() -> None:
                for path in paths:
                    connection.request("GET", path)
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        raise SystemExit(f"GET {path}: HTTP {response.status}")

            return run

        by_id = [f"/api/v1/activities/{rng.choice(data.ids)}" for _ in range(args.by_id)]
        lists = [f"/api/v1/activities?limit=50&category={rng.choice(data.categories)}" for _ in range(args.lists)]
        get_all(by_id[:100] + lists[:20])()  # warm-up, not counted
        by_id_total, by_id_s = counted(server, work_dir, "by-id", get_all(by_id))
        list_total, list_s = counted(server, work_dir, "list", get_all(lists))
        idle_total, idle_s = counted(server, work_dir, "idle", lambda: time.sleep((by_id_s + list_s) / 2))
        idle_rate = idle_total / idle_s
        print(f"bench/api_instructions.py  {os.getcwd()}  records={args.records}")
        for name, total, seconds, count in (
            ("GET by id", by_id_total, by_id_s, args.by_id),
            ("GET list limit=50&category=…", list_total, list_s, args.lists),
        ):
            print(
                f"{name}: {total / count:,.0f} instructions per request ({count} requests in {seconds:.0f} s); "
                f"less the idle server's: {(total - idle_rate * seconds) / count:,.0f}"
            )
        print(f"idle server: {idle_rate:,.0f} instructions per second")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
