"""Benchmark of the optional learning-dynamics store ([store] epoch_probabilities / train_probabilities /
activations) at ImageNet scale: 50,000 validation and 1,281,167 training images, 1,000 classes.

    python benchmarks/bench_store_probabilities.py               # 8 epochs (about 50 MB in a temporary folder)
    python benchmarks/bench_store_probabilities.py --epochs 20 --train 0   # validation only

Figures, for one model written through `ModelWriter` in the same run:
- bytes per model and epoch of each file, against the decisions (correct.bits + prediction.int16);
- commit time per epoch (append + fdatasync of every row file, then run.json) with and without the
  probabilities, and the extra share of an epoch that costs, for stated epoch times (ResNet-18 on
  ImageNet: about 3,000 images/s on one A100 = 427 s of training, 10,000/s on an H100/H200-class GPU
  with bf16 + channels_last = 128 s; the validation pass adds about 4 %);
- the CPU cost of computing the true-class probability and margin from a batch of 256 x 1,000
  logits (on a GPU it is a few kernels per batch), times the batches of an epoch;
- reading all epochs of one model's probabilities back (`Study.epoch_probabilities`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPOCH_TIMES = {"A100, 3,000 img/s": 1_281_167 / 3000, "H200-class, 10,000 img/s": 1_281_167 / 10_000}


def study_with_images(root: Path, n_images: int, n_classes: int) -> tuple[object, np.ndarray]:
    from model_runs.store import create_study

    labels = np.random.default_rng(0).integers(0, n_classes, n_images)
    images = pd.DataFrame({"image_index": np.arange(n_images), "image_id": [f"val/{i}" for i in range(n_images)],
                           "label": labels, "class_name": [f"c{c}" for c in labels]})
    return create_study(root, {"name": "bench", "models": [{"model_id": "plain"}, {"model_id": "dyn"}]}, images), labels


def write_model(study: object, model_id: str, labels: np.ndarray, n_train: int, epochs: int, dynamics: bool) -> list[float]:
    """Commit `epochs` epochs of one model; returns the commit time of each epoch (s)."""
    from model_runs.store import ModelWriter

    rng = np.random.default_rng(1)
    n = len(labels)
    w = ModelWriter(study, model_id)  # type: ignore[arg-type]
    info: dict[str, object] = {"condition": "base", "arch": "resnet18", "config": {"id": model_id}}
    if dynamics:
        info["store_options"] = {"val_probabilities": True, "train_probabilities": n_train > 0, "activations": 0, "activations_seed": 0,
                                 "n_train": n_train}
    w.start(info)
    if dynamics and n_train:
        w.save_train_labels(rng.integers(0, 1000, n_train))
    times = []
    for epoch in range(epochs):
        pred = np.where(rng.random(n) < 0.7, labels, (labels + 1) % 1000)
        rows = None
        if dynamics:
            p = rng.random(n, dtype=np.float32)
            rows = {("val", "probability"): p, ("val", "margin"): p - 0.5}
            if n_train:
                t = rng.random(n_train, dtype=np.float32)
                rows.update({("train", "probability"): t, ("train", "margin"): t - 0.5})
        t0 = time.perf_counter()
        w.commit_epoch(epoch, pred, {"val_loss": 1.0}, dynamics=rows)
        times.append(time.perf_counter() - t0)
    w.finish(timings={"total_s": 1.0})
    return times


def stats_cost(repeats: int = 20) -> float:
    """CPU seconds of `true_class_stats` on one batch of 256 x 1,000 logits (median of repeats)."""
    import torch

    from model_runs.conditions import true_class_stats

    logits = torch.randn(256, 1000)
    y = torch.randint(0, 1000, (256,))
    true_class_stats(logits, y)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        true_class_stats(logits, y)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8, help="committed epochs per model (the per-epoch figures do not depend on it)")
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--train", type=int, default=1_281_167, help="training images (0: validation probabilities only)")
    parser.add_argument("--tmp", help="folder for the temporary store (default: the system's)")
    args = parser.parse_args()
    from model_runs.store import open_study

    tmp = Path(tempfile.mkdtemp(prefix="bench_store_prob_", dir=args.tmp))
    try:
        study, labels = study_with_images(tmp / "study", args.images, 1000)
        plain = write_model(study, "plain", labels, 0, args.epochs, dynamics=False)
        dyn = write_model(study, "dyn", labels, args.train, args.epochs, dynamics=True)
        study = open_study(tmp / "study")
        mdir = study.model_dir("dyn")
        print(f"one model, {args.epochs} epochs, {args.images:,} validation and {args.train:,} training images")
        print(f"{'file':<24} {'bytes per epoch':>16}")
        decisions = 0
        for name in ("correct.bits", "prediction.int16", "val_probability.f16", "val_margin.f16", "train_probability.f16", "train_margin.f16"):
            if (mdir / name).is_file():
                size = (mdir / name).stat().st_size // args.epochs
                decisions += size if name in ("correct.bits", "prediction.int16") else 0
                print(f"{name:<24} {size:16,d}")
        val = sum((mdir / f).stat().st_size for f in ("val_probability.f16", "val_margin.f16")) // args.epochs
        train = sum((mdir / f).stat().st_size for f in ("train_probability.f16", "train_margin.f16") if (mdir / f).is_file()) // args.epochs
        labels_size = (mdir / "train_labels.int16").stat().st_size if (mdir / "train_labels.int16").is_file() else 0
        print(f"validation probabilities + margins: {val / 1e6:.3f} MB per epoch ({val / decisions:.2f}x the decisions); "
              f"91 epochs: {91 * val / 1e6:.1f} MB per model")
        if train:
            print(f"training probabilities + margins:   {train / 1e6:.3f} MB per epoch ({train / decisions:.1f}x the decisions); "
                  f"91 epochs: {91 * train / 1e6:.0f} MB per model, + {labels_size / 1e6:.1f} MB of training labels once")
        t_plain, t_dyn = float(np.median(plain)), float(np.median(dyn))
        print(f"commit per epoch (median): decisions only {t_plain * 1e3:.1f} ms, with probabilities {t_dyn * 1e3:.1f} ms "
              f"({t_dyn / t_plain:.1f}x); extra {(t_dyn - t_plain) * 1e3:.1f} ms")
        per_batch = stats_cost()
        batches = -(-(args.train + args.images) // 256)
        print(f"true-class probability + margin on the CPU: {per_batch * 1e3:.3f} ms per 256 x 1,000 batch, "
              f"{per_batch * batches:.2f} s per epoch ({batches:,} batches; on a GPU a few small kernels per batch)")
        for device, epoch_s in EPOCH_TIMES.items():
            total = epoch_s * 1.04
            print(f"share of an epoch ({device}: {total:.0f} s with validation): writing {100 * (t_dyn - t_plain) / total:.4f} %")
        t0 = time.perf_counter()
        p = study.epoch_probabilities("dyn")
        t_val = time.perf_counter() - t0
        t0 = time.perf_counter()
        tp = study.epoch_probabilities("dyn", "train") if args.train else None
        t_train = time.perf_counter() - t0
        assert p is not None and p.shape == (args.epochs, args.images)
        print(f"read all {args.epochs} epochs: validation {t_val * 1e3:.1f} ms" + (f", training {t_train * 1e3:.1f} ms {tp.shape}" if tp is not None else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
