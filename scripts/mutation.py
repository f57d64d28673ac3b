"""Mutation testing of the core modules, one module at a time, each against its own tests.

mutmut maps every test to the functions it reaches, so a mutant of `analysis.stats` would also run
the report tests that happen to call it (20 s each). Here each core module is mutated in its own
copy of the tree (`.mutation/<module>/`, git-ignored) against the tests written for it: a mutant
only those heavy tests would kill counts as a survivor, which is what we want to know (no unit test
pins the property). Prints one line per module and writes `.mutation/summary.json`.

    .venv/bin/python scripts/mutation.py                      # every core module (an hour or more)
    .venv/bin/python scripts/mutation.py analysis/stats.py    # one module
    .venv/bin/python scripts/mutation.py --list               # modules and their tests
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
PACKAGES = ["analysis", "stimuli", "model_runs", "participants", "experiment", "labutil"]
MARKERS = "not display and not slurm and not gpu and not subprocess"

# Each core module and the tests that state its properties (paths relative to the repository).
MODULE_TESTS: dict[str, list[str]] = {
    "analysis/stats.py": ["tests/analysis/test_stats.py", "tests/analysis/test_stats_properties.py",
                          "tests/analysis/test_stats_mutants.py"],
    "analysis/models/consistency.py": ["tests/analysis/models/test_consistency.py",
                                       "tests/analysis/models/test_consistency_properties.py",
                                       "tests/analysis/models/test_consistency_mutants.py"],
    "analysis/models/difficulty.py": ["tests/analysis/models/test_difficulty.py",
                                      "tests/analysis/models/test_difficulty_properties.py",
                                      "tests/analysis/models/test_difficulty_mutants.py"],
    "analysis/models/agreement.py": ["tests/analysis/models/test_agreement.py",
                                     "tests/analysis/models/test_agreement_mutants.py"],
    "analysis/humans/raters.py": ["tests/analysis/humans/test_raters.py",
                                  "tests/analysis/humans/test_raters_properties.py",
                                  "tests/analysis/humans/test_raters_mutants.py"],
    "stimuli/selection.py": ["tests/stimuli/test_design_properties.py",
                             "tests/stimuli/test_stimuli_difficulty_selection.py",
                             "tests/stimuli/test_set_sizes.py", "tests/stimuli/test_selection_mutants.py"],
    "stimuli/checks.py": ["tests/stimuli/test_set_checks.py", "tests/stimuli/test_checks_mutants.py"],
    "stimuli/sets.py": ["tests/stimuli/test_stimuli_build.py", "tests/stimuli/test_stimuli_kills.py",
                        "tests/stimuli/test_set_checks.py", "tests/stimuli/test_sets_mutants.py"],
    "model_runs/store.py": ["tests/model_runs/test_store.py", "tests/model_runs/test_store_reading.py",
                            "tests/model_runs/test_store_durability.py", "tests/model_runs/test_store_v1.py",
                            "tests/model_runs/test_store_mutants.py"],
    "experiment/session.py": ["tests/experiment/test_session.py", "tests/experiment/test_session_mutants.py",
                              "tests/participants/test_session_append_durability.py"],
    "participants/registry.py": ["tests/participants"],
    "labutil/io.py": ["tests/labutil/test_io_durability.py", "tests/labutil/test_io_leftovers.py",
                      "tests/labutil/test_io_pid_alive.py", "tests/labutil/test_io_mutants.py"],
    "labutil/difficulty.py": ["tests/labutil/test_difficulty_rule.py", "tests/labutil/test_difficulty_rule_mutants.py",
                              "tests/stimuli/test_stimuli_difficulty_selection.py"],
}


def copy_tree(dest: Path) -> None:
    """Copy the tracked and untracked-but-not-ignored files (the working tree as a user has it)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def write_config(dest: Path, module: str, tests: list[str]) -> None:
    """Point [tool.mutmut] of the copy's pyproject.toml at one module and its tests."""
    text = (dest / "pyproject.toml").read_text()
    text = re.sub(r"\n\[tool\.mutmut\].*?(?=\n\[|\Z)", "", text, flags=re.DOTALL)
    text += ("\n[tool.mutmut]\n"
             f"source_paths = {json.dumps(PACKAGES)}\n"
             f"only_mutate = {json.dumps([module])}\n"
             f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
             f'pytest_add_cli_args = ["-m", "{MARKERS}", "-p", "no:cacheprovider", "-q", "-x"]\n')
    (dest / "pyproject.toml").write_text(text)


def count_results(dest: Path) -> dict[str, list[str]]:
    """Mutant names by status, from `mutmut results --all true`."""
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=dest, check=False,
                         capture_output=True, text=True).stdout
    by_status: dict[str, list[str]] = {}
    for line in out.splitlines():
        if ":" in line:
            name, status = (part.strip() for part in line.rsplit(":", 1))
            by_status.setdefault(status, []).append(name)
    return by_status


def run_module(module: str, children: int) -> dict[str, list[str]]:
    """Mutate one module in a fresh copy and return the mutants by status."""
    dest = WORK / module.replace("/", ".").removesuffix(".py")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copy_tree(dest)
    write_config(dest, module, MODULE_TESTS[module])
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", LAB_PROGRESS="off")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    with open(dest / "mutmut.log", "w") as log:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(children)],
                       cwd=dest, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    return count_results(dest)


def record_summary(module: str, entry: dict) -> None:
    """Put one module's score into .mutation/summary.json, under a lock (runs may overlap)."""
    WORK.mkdir(exist_ok=True)
    path = WORK / "summary.json"
    with open(WORK / "summary.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        summary = json.loads(path.read_text()) if path.exists() else {}
        summary[module] = entry
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="core modules to mutate (default: all of them)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="mutants tested at once (default: half the cores)")
    args = parser.parse_args(argv)
    if args.list:
        for module, tests in MODULE_TESTS.items():
            print(f"{module}: {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULE_TESTS]
    if unknown:
        print(f"error: not a core module: {unknown[0]} (see --list)", file=sys.stderr)
        return 2
    for module in args.modules or list(MODULE_TESTS):
        by_status = run_module(module, args.max_children)
        total = sum(len(v) for v in by_status.values())
        killed = len(by_status.get("killed", [])) + len(by_status.get("timeout", []))
        survivors = by_status.get("survived", []) + by_status.get("no tests", [])
        record_summary(module, {"total": total, "killed": killed,
                                "by_status": {k: len(v) for k, v in by_status.items()}, "survivors": survivors})
        score = f"{100 * killed / total:.1f} %" if total else "n/a"
        print(f"{module}: {killed} of {total} killed ({score}); survivors: {len(survivors)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
