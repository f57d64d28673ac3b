"""Speed of the DDD analysis (issue 3), on the machine it runs on.

1. The error-consistency matrix of 100 models x 50,000 images (goal < 1 s), against a loop over
   pairs calling scikit-learn's `cohen_kappa_score`, measured in the same run. The sklearn loop over
   all 4,950 pairs takes minutes, so a subset of pairs is timed and extrapolated (said in the output).
2. The whole analysis (without image statistics) of a synthetic store of 13 models x 91 epochs
   x 50,000 images written with ModelWriter into a temporary folder (goal < 20 s, < 4 GB peak
   memory). It runs as `python -m analysis.ddd` in a child process, so the time includes start-up
   and imports, and the peak RSS is the child's own (resource.getrusage(RUSAGE_CHILDREN)).

    python benchmarks/bench_analysis.py [--models 13 --epochs 91 --images 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.models.consistency import error_consistency, error_consistency_matrix  # noqa: E402

CONDITIONS = ["base", "base", "base", "seed", "seed", "lr", "lr", "batch", "batch", "optimizer", "optimizer", "arch", "arch"]


def structured(rng: np.random.Generator, n_models: int, n_images: int) -> np.ndarray:
    """Correctness with shared image difficulty (dichotomous, like real models)."""
    d = rng.normal(0, 2.5, n_images)
    z = rng.normal(0, 0.3, n_models)[:, None] + rng.normal(0, 0.8, (n_models, n_images))
    return z > d[None, :] - 0.8


def bench_matrix(n_models: int = 100, n_images: int = 50_000, sk_pairs: int = 60) -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    d = structured(rng, n_models, n_images)
    error_consistency_matrix(d[:4])  # warm-up (BLAS threads)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        k = error_consistency_matrix(d)
        times.append(time.perf_counter() - t)
    ours = min(times)
    n_pairs = n_models * (n_models - 1) // 2
    pairs = [(i, j) for i in range(n_models) for j in range(i + 1, n_models)]
    sel = [pairs[p] for p in rng.choice(len(pairs), size=min(sk_pairs, len(pairs)), replace=False)]
    t = time.perf_counter()
    sk = [cohen_kappa_score(d[i], d[j]) for i, j in sel]
    per_pair = (time.perf_counter() - t) / len(sel)
    worst = max(abs(k[i, j] - s) for (i, j), s in zip(sel, sk))
    worst_formula = max(abs(k[i, j] - error_consistency(d[i], d[j])) for i, j in sel)
    sk_total = per_pair * n_pairs
    print(f"[matrix] {n_models} models x {n_images} images, {n_pairs} pairs")
    print(f"  error_consistency_matrix: {ours:.3f} s (best of 5; goal < 1 s)")
    print(f"  sklearn cohen_kappa_score loop: {per_pair * 1e3:.2f} ms/pair on {len(sel)} random pairs, "
          f"extrapolated to all {n_pairs} pairs: {sk_total:.1f} s")
    print(f"  ratio sklearn loop / matrix: {sk_total / ours:.0f}x")
    print(f"  max |difference| on the timed pairs: sklearn {worst:.1e}, scalar formula {worst_formula:.1e}")


def write_store(path: Path, n_models: int, n_epochs: int, n_images: int, n_classes: int = 1000) -> None:
    """A synthetic study written with model_runs.store.ModelWriter, as a training sweep would."""
    from tqdm import tqdm

    from model_runs.store import ModelWriter, create_study

    rng = np.random.default_rng(1)
    labels = np.arange(n_images) % n_classes
    images = pd.DataFrame({"image_index": np.arange(n_images), "image_id": [f"val/{i}" for i in range(n_images)],
                           "label": labels, "class_name": [f"c{c:04d}" for c in labels]})
    conds = (CONDITIONS * (n_models // len(CONDITIONS) + 1))[:n_models]
    ids = [f"{c}-{i:02d}" for i, c in enumerate(conds)]
    definition = {"name": path.name, "dataset": {"name": "synthetic", "n_classes": n_classes},
                  "models": [{"model_id": m, "condition": c, "arch": "toy"} for m, c in zip(ids, conds)]}
    study = create_study(path, definition, images)
    difficulty = rng.normal(0, 2.5, n_images)
    skill = np.linspace(-3.0, 1.0, n_epochs)
    for m, c in tqdm(list(zip(ids, conds)), desc="writing synthetic store", unit="model"):
        w = ModelWriter(study, m)
        w.start({"condition": c, "arch": "toy", "config": {"model_id": m}})
        bias = rng.normal(0, 0.3)
        for e in range(n_epochs):
            correct = skill[e] + bias + rng.normal(0, 0.8, n_images) > difficulty
            w.commit_epoch(e, np.where(correct, labels, (labels + 1) % n_classes), {"val_loss": 0.0})
        w.finish()


def bench_whole(n_models: int, n_epochs: int, n_images: int, keep: Path | None) -> None:
    tmp = None
    if keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_ddd_")
        root = Path(tmp.name)
    else:
        root = keep
    store = root / "synthetic"
    t = time.perf_counter()
    if not (store / "study.toml").is_file():
        write_store(store, n_models, n_epochs, n_images)
    print(f"[whole] synthetic store {n_models} models x {n_epochs} epochs x {n_images} images "
          f"(written in {time.perf_counter() - t:.1f} s)")
    cmd = [sys.executable, "-m", "analysis.ddd", str(store), "--out", str(root / "out"), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)
        raise SystemExit(f"analysis failed with status {proc.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = after.ru_maxrss / 1024**2  # KiB -> GiB; the largest child so far (the analysis)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import analysis.models.ddd, numpy, pandas, pyarrow.parquet, matplotlib.pyplot"],
                   cwd=ROOT, env=env, check=True)
    start = time.perf_counter() - t
    print(f"  python -m analysis.ddd: {wall:.1f} s wall (goal < 20 s), {cpu:.1f} s CPU (user + sys, all threads), "
          f"peak RSS {peak:.2f} GiB (goal < 4 GiB); 1-min load average before the run {load:.1f} on {os.cpu_count()} CPUs")
    print(f"  of which interpreter start + imports alone: {start:.1f} s (baseline measured in the same run)")
    print("  " + proc.stdout.strip().splitlines()[0])
    if tmp is not None:
        tmp.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=13, help="models in the synthetic store (default 13)")
    p.add_argument("--epochs", type=int, default=91, help="epochs per model, 0..E-1 (default 91)")
    p.add_argument("--images", type=int, default=50_000, help="validation images (default 50,000)")
    p.add_argument("--keep", type=Path, help="write (or reuse) the synthetic store in DIR instead of a temporary folder")
    p.add_argument("--skip-matrix", action="store_true", help="only the whole-analysis benchmark")
    p.add_argument("--skip-whole", action="store_true", help="only the matrix benchmark")
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, numpy {np.__version__}")
    if not a.skip_matrix:
        bench_matrix()
    if not a.skip_whole:
        bench_whole(a.models, a.epochs, a.images, a.keep)


if __name__ == "__main__":
    main()
