"""Benchmark of packed training (model_runs.packed) on CPU against one model at a time, in one run.

    python benchmarks/bench_packed.py            # demo group (11 models x 10 epochs), Gaussian studies, `sweep demo` both ways
    python benchmarks/bench_packed.py --quick    # fewer epochs and images, no sweep (2-4 minutes on 2 shared cores)
    python benchmarks/bench_packed.py --only sweep --repeat 3   # the demo sweep three ways, three rounds, medians

1. The demo study's same-architecture conditions (the group `plan_units` forms: base, nesterov,
   init x3, lr x3, data-order x3), trained in this process one after another and packed.
2. A Gaussian study (model_runs/datasets/gaussian.py) of small CNNs that differ in init seed,
   data order and learning rate, both ways (packing forced), at 8 px and at 32 px RGB; `--pack auto`
   packs on the CPU only images of at most `CPU_MAX_INPUT_VALUES` values, which these figures set.
3. (not with --quick) `python -m model_runs sweep demo --workers 2` with `--pack off` and `--pack auto`:
   the whole demo as a user runs it (with its [store] learning-dynamics arrays), fresh processes and
   stores; and the same sweep with the earlier work-unit plan (the 11-model group whole, units in
   study order) through `run_sweep`, to show what balancing the units over the workers gains.

`--only group,gaussian,sweep` runs a subset. The demo runs as model_runs/studies/demo.toml is,
[store] table included (per-epoch validation and training probabilities, activations).

Each comparison also checks that the stored decisions of every model are identical both ways.
Wall times include everything a run does (evaluation after every epoch, checkpoints, store commits).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GAUSSIAN = """
name = "bench_packed_gaussian"
[dataset]
name = "gaussian"
image_size = {size}
train_per_class = {train}
val_per_class = 10
n_classes = 20
[recipe]
arch = "small_cnn"
epochs = {epochs}
batch_size = 64
[[conditions]]
name = "base"
[[conditions]]
name = "init"
vary = {{ init_seed = [1, 2, 3] }}
[[conditions]]
name = "data-order"
vary = {{ data_seed = [1, 2] }}
[[conditions]]
name = "lr"
vary = {{ lr = [0.04, 0.06] }}
"""


def both_ways(spec: object, ids: list[str], work: Path, threads: int) -> tuple[float, float, bool]:
    """Seconds to train `ids` one after another and packed (fresh stores), and whether all stored decisions agree."""
    import numpy as np

    from model_runs.packed import run_unit
    from model_runs.runner import run_one
    from model_runs.train import Execution, prepare_study

    execution = Execution(device="cpu", threads=threads, quiet=True)
    times = {}
    studies = {}
    for way in ("unpacked", "packed"):
        study, dataset = prepare_study(spec, work / way)  # type: ignore[arg-type]
        start = time.perf_counter()
        if way == "unpacked":
            outcomes = [run_one(spec, study, dataset, m, execution, stop_on_error=True) for m in ids]  # type: ignore[arg-type]
        else:
            outcomes = run_unit(spec, study, dataset, ids, execution)  # type: ignore[arg-type]
        times[way] = time.perf_counter() - start
        assert all(o.status == "complete" for o in outcomes), outcomes
        studies[way] = study
    same = all(np.array_equal(studies["unpacked"].epoch_decisions(m).prediction, studies["packed"].epoch_decisions(m).prediction) for m in ids)
    return times["unpacked"], times["packed"], same


def sweep_demo(pack: str, runs: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "model_runs", "sweep", "demo", "--workers", "2", "--runs-dir", str(runs), "--quiet", "--pack", pack],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def earlier_plan(spec: object, model_ids: list[str], execution: object, pack: str = "auto", max_size: int = 16, workers: int = 1) -> list[list[str]]:
    """The work units as planned before balancing: groups split only at max_size, in study order of each unit's first model."""
    from model_runs.packed import plan_units

    units = plan_units(spec, model_ids, execution, pack, max_size)  # type: ignore[arg-type]
    return sorted(units, key=lambda u: model_ids.index(u[0]))


def sweep_demo_earlier_plan(runs: Path) -> float:
    """`sweep demo --workers 2 --pack auto` through run_sweep, with the earlier plan."""
    from model_runs import sweep
    from model_runs.study_files import load_study
    from model_runs.train import Execution

    spec = load_study("demo")
    saved = sweep.plan_units
    sweep.plan_units = earlier_plan  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        outcomes = sweep.run_sweep(spec, runs / spec.name, Execution(quiet=True), workers=2, quiet=True, pack="auto", log_dir=str(runs / "logs"))
        elapsed = time.perf_counter() - start
    finally:
        sweep.plan_units = saved
    assert all(o.status == "complete" for o in outcomes), outcomes
    return elapsed


def same_demo_stores(a: Path, b: Path) -> bool:
    """Every model's decisions and learning-dynamics rows equal in two demo stores."""
    import numpy as np

    from model_runs.store import open_study

    sa, sb = open_study(a), open_study(b)
    for m in sa.model_ids():
        if not np.array_equal(sa.epoch_decisions(m).prediction, sb.epoch_decisions(m).prediction):
            return False
        for split in ("val", "train"):
            pa, pb = sa.epoch_probabilities(m, split), sb.epoch_probabilities(m, split)
            if (pa is None) != (pb is None) or (pa is not None and not np.array_equal(pa, pb, equal_nan=True)):
                return False
    return True


def report(name: str, n: int, unpacked: float, packed: float, same: bool) -> None:
    print(f"{name:<40} {n:>3} models  unpacked {unpacked:7.1f} s  packed {packed:7.1f} s  speed-up {unpacked / packed:4.2f}x  "
          f"decisions identical: {'yes' if same else 'NO'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs and images, no sweep (2-4 minutes on 2 shared cores)")
    p.add_argument("--only", default="group,gaussian,sweep", help="comma-separated parts to run: group, gaussian, sweep (default: all)")
    p.add_argument("--repeat", type=int, default=1, help="sweep rounds (off, auto, earlier plan in turn each round; medians printed): the shared machine's load varies")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a sweep worker's share with 2 workers on 2 cores)")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from model_runs.packed import plan_units
    from model_runs.study_files import load_study
    from model_runs.train import Execution

    work = Path(tempfile.mkdtemp(prefix="bench_packed_"))
    os.environ.setdefault("TRIVIAL_OR_IMPOSSIBLE_CACHE", str(work / "cache"))
    try:
        demo_epochs = 3 if args.quick else 10
        text = (ROOT / "model_runs" / "studies" / "demo.toml").read_text().replace("epochs = 10\n", f"epochs = {demo_epochs}\n", 1)
        (work / "demo.toml").write_text(text)
        demo = load_study(str(work / "demo.toml"))
        units = plan_units(demo, [m["model_id"] for m in demo.models], Execution(device="cpu"))
        group = max(units, key=len)
        parts = set(args.only.split(","))
        print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs; demo [store]: {demo.store}")
        if "group" in parts:
            report(f"demo group ({demo_epochs} epochs, small_cnn, digits)", len(group), *both_ways(demo, group, work / "demo", args.threads))
        for size in (8, 32) if "gaussian" in parts else ():
            g_epochs, g_train = (2, 20) if args.quick else ((5, 100) if size == 8 else (2, 30))
            (work / f"gaussian{size}.toml").write_text(GAUSSIAN.format(epochs=g_epochs, train=g_train, size=size))
            gauss = load_study(str(work / f"gaussian{size}.toml"))
            ids = [m["model_id"] for m in gauss.models]
            auto = "packs" if len(plan_units(gauss, ids, Execution(device="cpu"))) == 1 else "does not pack"
            report(f"gaussian {size}px RGB ({g_epochs} ep, 20x{g_train} img)", len(ids), *both_ways(gauss, ids, work / f"gaussian{size}", args.threads))
            print(f"{'':<40} (--pack auto on the CPU {auto} this study)")
        if not args.quick and "sweep" in parts:
            from model_runs.packed import plan_units

            full = load_study("demo")
            ids = [m["model_id"] for m in full.models]
            print(f"{'':<40} --pack auto units (2 workers): {plan_units(full, ids, Execution(device='cpu'), workers=2)}")
            print(f"{'':<40} earlier plan:                  {earlier_plan(full, ids, Execution(device='cpu'))}")
            rounds = []
            for r in range(max(1, args.repeat)):
                for way in ("off", "auto", "earlier"):
                    shutil.rmtree(work / f"sweep-{way}", ignore_errors=True)
                off = sweep_demo("off", work / "sweep-off")
                auto = sweep_demo("auto", work / "sweep-auto")
                earlier = sweep_demo_earlier_plan(work / "sweep-earlier")
                same = all(same_demo_stores(work / "sweep-off" / "demo", work / f"sweep-{way}" / "demo") for way in ("auto", "earlier"))
                rounds.append((off, auto, earlier))
                print(f"{f'sweep demo --workers 2, round {r + 1}':<40} {len(full.models):>3} models  --pack off {off:7.1f} s  --pack auto {auto:7.1f} s  "
                      f"speed-up {off / auto:4.2f}x  (earlier plan {earlier:7.1f} s, {off / earlier:4.2f}x)  "
                      f"decisions and dynamics identical: {'yes' if same else 'NO'}", flush=True)
            import statistics

            off, auto, earlier = (statistics.median(r[i] for r in rounds) for i in range(3))
            print(f"{'sweep demo --workers 2, median':<40} {len(full.models):>3} models  --pack off {off:7.1f} s  --pack auto {auto:7.1f} s  "
                  f"speed-up {off / auto:4.2f}x  (earlier plan {earlier:7.1f} s, {off / earlier:4.2f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
