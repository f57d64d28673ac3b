"""Benchmark of the decisions store (format 2) at the paper's scale: 100 models x 91 epochs
(0 = untrained, then 90) x 50,000 validation images, against the physical limit measured in the
same run: the same bits read with `np.load` from packed `.npy` files.

    python benchmarks/bench_store.py                  # 100 x 91 x 50,000 (about 1 GB in a temporary folder)
    python benchmarks/bench_store.py --models 10      # smaller

Figures (best of --repeats, warm page cache for both sides):
- final decisions of all models (`Study.final_decisions()` on a freshly opened study: every
  run.json read once, one packed row per model) against `np.load` of each model's packed
  (n_epochs, n_images / 8) `.npy`, last row unpacked; and against one packed (n_models, n/8) `.npy`;
- all epochs of one model, correctness only and with predictions, against `np.load` of the packed
  bits (+ the int16 predictions `.npy`);
- disk size of a model folder against packed bits + int16 predictions.
Goal (issue 13): every ratio within 3x.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of `repeats` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def write_store(root: Path, n_models: int, n_epochs: int, n_images: int, n_classes: int) -> tuple[object, np.ndarray]:
    """A study with `n_models` complete models written through ModelWriter, plus baseline .npy files."""
    from model_runs.store import ModelWriter, create_study

    rng = np.random.default_rng(0)
    labels = rng.integers(0, n_classes, n_images)
    images = pd.DataFrame({"image_index": np.arange(n_images), "image_id": [f"val/{i}" for i in range(n_images)],
                           "label": labels, "class_name": [f"c{c}" for c in labels]})
    study = create_study(root / "study", {"name": "bench", "models": [{"model_id": f"m{i:03d}"} for i in range(n_models)]}, images)
    (root / "npy").mkdir()
    finals = []
    for i in range(n_models):
        model_id = f"m{i:03d}"
        right = rng.random((n_epochs, n_images)) < np.linspace(0.001, 0.7, n_epochs)[:, None]
        pred = np.where(right, labels[None, :], (labels[None, :] + 1 + rng.integers(0, n_classes - 1, (n_epochs, n_images))) % n_classes)
        w = ModelWriter(study, model_id)
        w.start({"condition": "base", "arch": "resnet18", "config": {"seed": i}})
        metrics = [{"val_loss": 1.0, "train_loss": 1.0, "train_accuracy": 0.5, "lr": 0.1, "train_time_s": 1.0, "eval_time_s": 1.0}
                   for _ in range(n_epochs)]
        w.commit_epochs(list(range(n_epochs)), pred, metrics)
        w.finish(timings={"total_s": 1.0})
        np.save(root / "npy" / f"{model_id}.bits.npy", np.packbits(pred == labels, axis=1))
        np.save(root / "npy" / f"{model_id}.pred.npy", pred.astype(np.int16))
        finals.append(np.packbits(pred[-1] == labels))
    np.save(root / "npy" / "final.bits.npy", np.stack(finals))
    return study, labels


def write_format_1(study: object, root: Path, ids: list[str]) -> Path:
    """The same models in store format 1 (one zstd Parquet file per model, one row group per epoch,
    as the writer before issue 13 left complete runs), for the old-against-new figures."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from model_runs.store import DECISIONS_SCHEMA

    old = root / "study_v1"
    (old / "models").mkdir(parents=True)
    for name in ("study.toml", "images.parquet"):
        shutil.copy(study.path / name, old / name)  # type: ignore[attr-defined]
    for m in ids:
        e = study.epoch_decisions(m)  # type: ignore[attr-defined]
        k, n = e.prediction.shape
        table = pa.table({"epoch": pa.array(np.repeat(e.epochs, n).astype(np.int16)), "image_index": pa.array(np.tile(np.arange(n, dtype=np.int32), k)),
                          "prediction": pa.array(e.prediction.ravel().astype(np.int32)), "correct": pa.array(e.correct.ravel())}, schema=DECISIONS_SCHEMA)
        (old / "models" / m).mkdir()
        pq.write_table(table, old / "models" / m / "decisions.parquet", row_group_size=n, compression="zstd")
        info = study.run_info(m)  # type: ignore[attr-defined]
        info["format_version"] = 1
        (old / "models" / m / "run.json").write_text(json.dumps(info))
    return old


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=91, help="stored epochs per model (default 91: 0..90)")
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tmp", help="folder for the temporary store (default: the system's)")
    parser.add_argument("--no-format-1", action="store_true", help="skip the figures of store format 1 (Parquet; writing it takes minutes)")
    args = parser.parse_args()
    from model_runs.store import open_study

    tmp = Path(tempfile.mkdtemp(prefix="bench_store_", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        study, labels = write_store(tmp, args.models, args.epochs, args.images, args.classes)
        print(f"store: {args.models} models x {args.epochs} epochs x {args.images:,} images, written in {time.perf_counter() - t0:.1f} s")
        ids = [f"m{i:03d}" for i in range(args.models)]
        npy = tmp / "npy"
        n = args.images

        got = open_study(study.path).final_decisions()
        want = np.stack([np.unpackbits(np.load(npy / f"{m}.bits.npy")[-1], count=n).view(bool) for m in ids])
        assert np.array_equal(got.correct, want), "store and baseline disagree"
        e = open_study(study.path).epoch_decisions(ids[0])
        assert np.array_equal(e.prediction, np.load(npy / f"{ids[0]}.pred.npy"))

        rows = [
            ("final decisions, all models", lambda: open_study(study.path).final_decisions(),
             lambda: np.stack([np.unpackbits(np.load(npy / f"{m}.bits.npy")[-1], count=n).view(bool) for m in ids]),
             "np.load per-model packed .npy"),
            ("final decisions, all models", lambda: open_study(study.path).final_decisions(),
             lambda: np.unpackbits(np.load(npy / "final.bits.npy"), axis=1, count=n).view(bool),
             "np.load one packed (models, n/8) .npy"),
            ("all epochs of one model, correct only", lambda: open_study(study.path).epoch_decisions(ids[0], with_prediction=False),
             lambda: np.unpackbits(np.load(npy / f"{ids[0]}.bits.npy"), axis=1, count=n).view(bool), "np.load packed .npy"),
            ("all epochs of one model, with predictions", lambda: open_study(study.path).epoch_decisions(ids[0]),
             lambda: (np.unpackbits(np.load(npy / f"{ids[0]}.bits.npy"), axis=1, count=n).view(bool), np.load(npy / f"{ids[0]}.pred.npy")),
             "np.load packed + int16 .npy"),
        ]
        print(f"{'read':<44} {'store ms':>9} {'baseline ms':>12} {'ratio':>6}  baseline")
        for name, ours, base, what in rows:
            a, b = best(ours, args.repeats), best(base, args.repeats)
            print(f"{name:<44} {a * 1e3:9.2f} {b * 1e3:12.2f} {a / b:6.2f}x  {what}")
        if not args.no_format_1:
            t0 = time.perf_counter()
            old = write_format_1(study, tmp, ids)
            print(f"format 1 (Parquet) copy written in {time.perf_counter() - t0:.1f} s")
            assert np.array_equal(open_study(old).final_decisions().correct, got.correct)
            for name, ours, old_read in (
                ("final decisions, all models", lambda: open_study(study.path).final_decisions(), lambda: open_study(old).final_decisions()),
                ("all epochs of one model, with predictions", lambda: open_study(study.path).epoch_decisions(ids[0]),
                 lambda: open_study(old).epoch_decisions(ids[0])),
            ):
                a, b = best(ours, args.repeats), best(old_read, args.repeats)
                print(f"{name:<44} {a * 1e3:9.2f} {b * 1e3:12.2f} {a / b:6.3f}x  format 1 (Parquet) read by the same reader")
            print(f"{'disk, whole store (MB), format 1':<44} {folder_size(study.path) / 1e6:9.1f} {folder_size(old) / 1e6:12.1f} "
                  f"{folder_size(study.path) / folder_size(old):6.3f}x")
        store_bytes = folder_size(study.model_dir(ids[0]))
        physical = (np.load(npy / f"{ids[0]}.bits.npy").nbytes + np.load(npy / f"{ids[0]}.pred.npy").nbytes)
        print(f"{'disk per model (bytes)':<44} {store_bytes:9,d} {physical:12,d} {store_bytes / physical:6.3f}x  packed bits + int16 (no header)")
        print(f"{'disk, whole store (MB)':<44} {folder_size(study.path) / 1e6:9.1f} {physical * args.models / 1e6:12.1f} "
              f"{folder_size(study.path) / (physical * args.models):6.3f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
