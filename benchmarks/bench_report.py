"""Speed of `python -m analysis.report` (issue 13, item 6: the demo's report step), old against new.

Builds the same report twice in one run, each in child processes: once from a baseline revision
of this repository (`git archive REV`, default `main`) and once from this working tree, and prints
the seconds per section of each, the total and the ratio. Then compares every CSV the two reports
wrote (`report_files/**/*.csv`): a faster report must not change a number. Needs a complete store,
stimulus sets and sessions (e.g. those `make demo` leaves):

    python benchmarks/bench_report.py --runs runs --study demo --stimuli stimulus_sets \
        --data-root lab_data/demo [--baseline main] [--keep DIR]

As in `scripts/pipeline.sh`, each version first runs step 2 (`python -m analysis.ddd --image-stats`,
timed too) and then the report; the new report reuses step 2's results (`--ddd`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Tables that differ between two runs of the same code (statsmodels' variational Bayes fit of the 2AFC
# mixed model differs from run to run around the 7th digit): listed, not counted as a change.
ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
NOT_REPRODUCIBLE = {"tables/2afc_mixed_model.csv", "figures/2afc_accuracy.svg"}  # the figure draws the fit

# Run in the child: time every section builder of analysis.report.build, then build the report.
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv.pop(1))  # the code under test before the working directory
import analysis.report.build as b
times = {}
def timed(title, f):
    def g(ctx):
        t = time.perf_counter()
        try:
            return f(ctx)
        finally:
            times[title] = times.get(title, 0.0) + time.perf_counter() - t
    return g
for title, name in [("models and DDD", "section_models"), ("conditions", "section_conditions"),
                    ("learning dynamics", "section_dynamics"), ("superclasses", "section_superclasses"),
                    ("simulations", "section_simulations"), ("2AFC experiment", "section_2afc"),
                    ("questionnaire", "section_questionnaire"), ("comparison with the paper", "section_paper")]:
    setattr(b, name, timed(title, getattr(b, name)))
from analysis.report.cli import main
t = time.perf_counter()
main(sys.argv[2:])
times["total (in process)"] = time.perf_counter() - t
open(sys.argv[1], "w").write(json.dumps(times))
"""


def run_report(tree: Path, args: argparse.Namespace, out: Path, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """Seconds per section of one report built by the code in `tree` (its packages imported first)."""
    times = out.parent / f"{out.name}-times.json"
    cmd = [sys.executable, "-c", CHILD, str(tree), str(times), "--runs", str(args.runs), "--study", args.study,
           "--stimuli", *map(str, args.stimuli), "--data-root", str(args.data_root), "--out", str(out),
           "--include-simulated", *extra]
    subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)  # one .cache/ (image statistics)
    return json.loads(times.read_text())


def run_ddd(tree: Path, args: argparse.Namespace, out: Path) -> float:
    """Seconds of the pipeline's step 2 (`python -m analysis.ddd STORE --image-stats`) with the code in `tree`."""
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from analysis.models.ddd import main; "
            "from labutil.errors import run_cli; raise SystemExit(run_cli(main))")
    cmd = [sys.executable, "-c", code, str(tree), str(args.runs / args.study), "--out", str(out), "--image-stats",
           "--no-progress"]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def extract(rev: str, dest: Path) -> Path:
    """The files of revision `rev` in `dest`."""
    archive = dest / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev], check=True)
    tree = dest / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def differing(old: Path, new: Path, pattern: str = "*.csv") -> list[str]:
    """Files (relative paths) present in only one of two report folders or with other content."""
    a = {p.relative_to(old): p for p in old.rglob(pattern)}
    b = {p.relative_to(new): p for p in new.rglob(pattern)}
    diff = sorted(str(k) for k in a.keys() ^ b.keys())
    diff += sorted(str(k) for k in a.keys() & b.keys() if a[k].read_bytes() != b[k].read_bytes())
    return diff


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--study", default="demo")
    p.add_argument("--stimuli", type=Path, nargs="+", default=[Path("stimulus_sets")])
    p.add_argument("--data-root", type=Path, default=Path("lab_data/demo"))
    p.add_argument("--baseline", default="main", help="git revision of the old code (default: %(default)s)")
    p.add_argument("--keep", type=Path, help="keep both reports in this folder")
    args = p.parse_args()
    for name in ("runs", "data_root"):
        setattr(args, name, getattr(args, name).resolve())
    args.stimuli = [s.resolve() for s in args.stimuli]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        base = extract(args.baseline, Path(tmp))
        old = {"ddd step (--image-stats)": run_ddd(base, args, work / "old-ddd")}
        old |= run_report(base, args, work / "old")
        new = {"ddd step (--image-stats)": run_ddd(ROOT, args, work / "new-ddd")}
        new |= run_report(ROOT, args, work / "new", ("--ddd", str(work / "new-ddd")))
        print(f"{'step / report section':<28}{'old s':>9}{'new s':>9}{'ratio':>8}")
        for k in old:
            print(f"{k:<28}{old[k]:>9.1f}{new.get(k, float('nan')):>9.1f}{old[k] / max(new.get(k, 1e-9), 1e-9):>8.2f}")
        files = (work / "old" / "report_files", work / "new" / "report_files")
        diff = [f for f in differing(*files) if f not in NOT_REPRODUCIBLE]
        n = len(list(files[1].rglob("*.csv")))
        print(f"CSV files compared: {n}; differing: {len(diff)}" + (f" ({', '.join(diff)})" if diff else "")
              + f"; not compared (not reproducible run to run): {', '.join(sorted(NOT_REPRODUCIBLE))}")
        for ext in ("png", "svg"):
            figs = [f for f in differing(*files, f"*.{ext}") if f not in NOT_REPRODUCIBLE]
            print(f"{ext.upper()} files compared: {len(list(files[1].rglob(f'*.{ext}')))}; not byte-identical: {len(figs)}"
                  + (f" ({', '.join(figs)})" if figs else ""))
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
