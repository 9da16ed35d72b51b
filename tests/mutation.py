"""`make mutation`: cosmic-ray over the trust modules, each against the test files mapped to it in pyproject.toml.

The mapping lives in `[tool.regies-mutation]` of pyproject.toml: for each module the test files that exercise it and
an optional `-k` expression, combined with the default selection (SQLite only, to stay fast). Every module is
mutated in a scratch copy of the working tree under build/mutation/ (the tree you edit is never touched), one mutant
at a time (a single worker: the machine is shared), each test run bounded by a timeout derived from the unmutated
run, and each module by a wall-clock budget. The run ends with one score line per module and every survivor's diff;
build/mutation/report.txt keeps the same text.

    python -m tests.mutation                      # every module in the mapping
    python -m tests.mutation federation/terminal.py --minutes 10
    python -m tests.mutation federation/web/auth.py --resume   # unreached mutants and survivors
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "build" / "mutation"


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    selection: str


@dataclass(frozen=True)
class Settings:
    targets: tuple[Target, ...]
    minutes_per_module: float
    exclude_operators: tuple[str, ...]


@dataclass
class Score:
    module: str
    total: int
    run: int
    killed: int
    survivors: list[str]
    note: str = ""

    def line(self) -> str:
        rate = f"{100 * self.killed / self.run:.0f}%" if self.run else "-"
        unfinished = f", {self.total - self.run} not run (time budget)" if self.run < self.total else ""
        note = f" — {self.note}" if self.note else ""
        survived = self.run - self.killed
        return f"{self.module}: {self.killed}/{self.run} killed ({rate}), {survived} survived{unfinished}{note}"


def load_settings(pyproject: Path = ROOT / "pyproject.toml") -> Settings:
    """Read the mapping; a typo in it stops the run naming the key."""
    section = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["regies-mutation"]
    known = {"selection", "minutes-per-module", "exclude-operators", "modules"}
    if unknown := set(section) - known:
        raise SystemExit(f"[tool.regies-mutation]: unknown key(s) {sorted(unknown)}")
    default_selection = section.get("selection", "")
    targets = []
    for module, entry in section["modules"].items():
        if unknown := set(entry) - {"tests", "k"}:
            raise SystemExit(f"[tool.regies-mutation.modules.{module!r}]: unknown key(s) {sorted(unknown)}")
        for path in (module, *entry["tests"]):
            if not (ROOT / path.split("::")[0]).is_file():  # a test file, or one test in it (`file::name`)
                raise SystemExit(f"[tool.regies-mutation.modules.{module!r}]: no file {path}")
        selection = " and ".join(f"({k})" for k in (default_selection, entry.get("k", "")) if k)
        targets.append(Target(module, tuple(entry["tests"]), selection))
    return Settings(
        tuple(targets), float(section.get("minutes-per-module", 30)), tuple(section.get("exclude-operators", ()))
    )


def test_command(target: Target) -> list[str]:
    # -x: a killed mutant stops at its first failing test; -p no:xdist: one process, whatever addopts say.
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:xdist", *target.tests]
    return [*command, "-k", target.selection] if target.selection else command


def copy_tree(destination: Path) -> None:
    """Copy the tracked and untracked-but-not-ignored files, so the run sees the tree as it is being edited."""
    if destination.exists():
        shutil.rmtree(destination)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def scratch_environment(tree: Path) -> dict[str, str]:
    # The copy comes first on sys.path, before the editable install's finder that points at the edited tree.
    return {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'plugins'}", "PYTHONDONTWRITEBYTECODE": "1"}


def mutate(target: Target, settings: Settings, minutes: float, resume: bool = False) -> Score:
    slug = target.module.replace("/", "_").removesuffix(".py")
    tree = SCRATCH / slug / "tree"
    copy_tree(tree)
    env = scratch_environment(tree)
    started = time.monotonic()
    baseline = subprocess.run(test_command(target), cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if baseline.returncode != 0:
        return Score(target.module, 0, 0, 0, [], f"the unmutated tests fail:\n{baseline.stdout[-3000:]}")
    config = SCRATCH / slug / "cosmic-ray.toml"
    session = SCRATCH / slug / "session.sqlite"
    resuming = resume and session.exists()
    if resuming:
        # The survivors are tried again too: a resumed session measures the tests as they are now.
        with contextlib.closing(sqlite3.connect(session)) as db, db:
            db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
    else:
        session.unlink(missing_ok=True)
    # A mutant that makes the tests hang (a loop that never ends) counts as killed after three unmutated runs' time.
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {str(target.module)!r}\n"
        f"timeout = {max(3 * elapsed, 30.0):.0f}.0\n"
        "excluded-modules = []\n"
        f"test-command = {shlex.join(test_command(target))!r}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{', '.join(repr(o) for o in settings.exclude_operators)}]\n",
        encoding="utf-8",
    )
    tools = Path(sys.executable).parent
    if not resuming:
        subprocess.run([tools / "cosmic-ray", "init", config, session], cwd=tree, env=env, check=True)
        subprocess.run([tools / "cr-filter-operators", session, config], cwd=tree, env=env, check=True)
    print(f"{target.module}: unmutated tests pass in {elapsed:.0f} s; mutating (budget {minutes:.0f} min)", flush=True)
    command = [tools / "cosmic-ray", "exec", config, session]
    runner = subprocess.Popen(command, cwd=tree, env=env, start_new_session=True)
    try:
        runner.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        # Results are stored as each mutant finishes: stopping keeps them, and the score says how many were not run.
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait()
    return read_score(target.module, session)


def read_score(module: str, session: Path) -> Score:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    with use_db(str(session), WorkDB.Mode.open) as db:
        results = [
            (item, result) for item, result in db.completed_work_items if result.worker_outcome != WorkerOutcome.SKIPPED
        ]
        skipped = db.num_results - len(results)
        total = db.num_work_items - skipped
    survivors = []
    for item, result in results:
        if result.test_outcome == TestOutcome.SURVIVED:
            mutation = item.mutations[0]
            where = f"{mutation.module_path}:{mutation.start_pos[0]} {mutation.operator_name}"
            survivors.append(f"{where}\n{result.diff}")
    killed = sum(1 for _, result in results if result.is_killed)
    return Score(module, total, len(results), killed, survivors)


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: every module in the mapping)")
    parser.add_argument("--minutes", type=float, default=settings.minutes_per_module, help="budget per module")
    parser.add_argument(
        "--resume", action="store_true", help="run a stopped session's unreached mutants and its survivors again"
    )
    args = parser.parse_args(argv)
    chosen = [t for t in settings.targets if not args.modules or t.module in args.modules]
    if missing := set(args.modules) - {t.module for t in chosen}:
        parser.error(f"not in [tool.regies-mutation.modules]: {sorted(missing)}")
    scores = [mutate(target, settings, args.minutes, args.resume) for target in chosen]
    report = "\n".join(
        [*(f"--- survived: {s}" for score in scores for s in score.survivors), "", *(s.line() for s in scores)]
    )
    SCRATCH.mkdir(parents=True, exist_ok=True)
    (SCRATCH / "report.txt").write_text(report + "\n", encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
