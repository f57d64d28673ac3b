"""Benchmark of model_runs on CPU: the demo study's wall time, and the share of epoch time spent on
per-image decision logging, measured against the same training without logging in the same run.

    python benchmarks/bench_model_runs.py                 # demo sweep + logging share on the demo's base model
    python benchmarks/bench_model_runs.py --skip-sweep    # logging share only
    python benchmarks/bench_model_runs.py --workload gaussian   # logging share on larger epochs (10,000 images)

"Logging" is what the decisions store adds to an ordinary training run that evaluates on the
validation set after every epoch: gathering every image's prediction and committing it
(row files appended and fsynced, then run.json written atomically). The baseline trains and evaluates
identically but stores no per-image decisions. Runs alternate in ABBA order to share the
machine's load fairly; medians are reported. Goal: logging under 5 % of epoch time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKLOADS: dict[str, str] = {
    "demo": "",  # the demo study's base model as shipped
    "gaussian": """
name = "bench_gaussian"
[dataset]
name = "gaussian"
image_size = 32
train_per_class = 100
val_per_class = 10
n_classes = 100
[recipe]
arch = "small_cnn"
epochs = 3
batch_size = 128
[[conditions]]
name = "base"
""",
}


def sweep_demo(workers: int, runs_dir: Path) -> float:
    """Wall time of `python -m model_runs sweep demo` as a user types it (fresh processes, fresh store)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "model_runs", "sweep", "demo", "--workers", str(workers), "--runs-dir", str(runs_dir), "--quiet"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def train_once(spec: Any, runs_dir: Path, model_id: str, log: bool) -> dict[str, float]:
    """Train one model in this process; returns its timings (seconds) from run.json."""
    from model_runs.runner import run_models
    from model_runs.train import Execution

    study_dir = runs_dir / spec.name
    out = run_models(spec, study_dir, [model_id], Execution(device="cpu", threads=1, quiet=True, log_decisions=log), stop_on_error=True)
    assert out[0].status == "complete"
    info = json.loads((study_dir / "models" / model_id / "run.json").read_text())
    t = info["timings"]
    t["epochs"] = spec.model(model_id)["epochs"]
    t["loop_s"] = t["train_s"] + t["eval_s"] + t["checkpoint_s"] + t["commit_s"]
    return t


def logging_share(workload: str, repeats: int, tmp: Path) -> dict[str, float]:
    import torch

    from model_runs.study_files import load_study

    torch.set_num_threads(1)
    if WORKLOADS[workload]:
        path = tmp / f"{workload}.toml"
        path.write_text(WORKLOADS[workload])
        spec = load_study(str(path), {"cache_dir": str(tmp / "cache")})
    else:
        spec = load_study("demo")
    model_id = spec.models[0]["model_id"]
    train_once(spec, tmp / "warmup", model_id, log=True)  # imports, dataset cache, allocator warm-up
    logged, plain = [], []
    for r in range(repeats):  # ABBA order, so neither variant always runs first
        for log in ((True, False) if r % 2 == 0 else (False, True)):
            (logged if log else plain).append(train_once(spec, tmp / f"{'log' if log else 'plain'}{r}", model_id, log=log))
    epochs = logged[0]["epochs"] + 1  # epoch 0 (before training) is evaluated and committed too
    t_log = statistics.median(t["loop_s"] for t in logged) / epochs
    t_plain = statistics.median(t["loop_s"] for t in plain) / epochs
    t_commit = statistics.median(t["commit_s"] for t in logged) / epochs
    t_eval = statistics.median(t["eval_s"] for t in logged) / epochs
    return {"epoch_logged_s": t_log, "epoch_plain_s": t_plain, "commit_s": t_commit, "eval_s": t_eval,
            "share_vs_plain": (t_log - t_plain) / t_log, "share_commit": t_commit / t_log}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="local workers of the demo sweep (default: 2)")
    parser.add_argument("--repeats", type=int, default=3, help="logged/unlogged training pairs (default: 3)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="demo", help="model for the logging share (default: demo)")
    parser.add_argument("--skip-sweep", action="store_true", help="do not time the demo sweep")
    args = parser.parse_args()
    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench_model_runs_") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_sweep:
            wall = sweep_demo(args.workers, tmp / "sweep")
            print(f"demo study: `python -m model_runs sweep demo --workers {args.workers}` took {wall:.1f} s wall time")
        r = logging_share(args.workload, args.repeats, tmp)
        print(f"{args.workload} base model, per epoch (median of {args.repeats}, 1 thread):")
        print(f"  with decision logging    {r['epoch_logged_s'] * 1000:8.1f} ms  (of which validation pass {r['eval_s'] * 1000:.1f} ms, commit {r['commit_s'] * 1000:.1f} ms)")
        print(f"  without decision logging {r['epoch_plain_s'] * 1000:8.1f} ms")
        print(f"  logging share: {100 * r['share_vs_plain']:.1f} % against the unlogged run, {100 * r['share_commit']:.1f} % measured as commit time "
              f"(goal < 5 %); ratio logged/unlogged = {r['epoch_logged_s'] / r['epoch_plain_s']:.3f}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
