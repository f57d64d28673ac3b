"""The paper's recipe against the faster `imagefolder-fast` preset on a small ImageFolder, in one run:
wall time and final validation accuracy of each (ImageNet cannot be trained here).

The images are synthetic (10 classes of oriented, coloured textures, 64 x 48 px, noisy, at random
positions) and everything is scaled down by the same factor, 8: evaluation resize 32 / crop 28
(ImageNet: 256 / 224), fast training crops 20 -> 24 px (160 -> 192), a small ResNet instead of
ResNet-18. Batch sizes and learning rates are scaled linearly to a batch of 32 for both (the
presets' 256 and 1024 would leave one update per epoch on 300 images); epochs, schedules, label
smoothing and weight decay are the presets' own.

    python benchmarks/bench_recipes.py --train [--per-class 30] [--threads 2]

Without --train it measures only what each recipe's epochs cost with ResNet-18 at ImageNet's
sizes: one training step (forward + backward + SGD) on a batch of 16 at 224, 192 and 160 px on
this CPU, and from it the time of the fast preset's 16 epochs (11 at 160 px, 5 at 192 px) against
the paper's 90 at 224 px, per image of the training set (loading and decoding not included):

    python benchmarks/bench_recipes.py [--threads 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_folder(root: Path, per_class: int, n_val: int, seed: int = 0) -> None:
    """10 classes: a texture of class-specific orientation and hue, at a random place, plus noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    for split, n in (("train", per_class), ("val", n_val)):
        for c in range(10):
            (root / split / f"c{c}").mkdir(parents=True, exist_ok=True)
            for i in range(n):
                angle = np.pi * c / 10 + rng.normal(0, 0.15)
                wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / (1.5 + c % 3) + rng.uniform(0, 6.3))
                hue = np.array([np.cos(c), np.cos(c + 2.1), np.cos(c + 4.2)]) * 60
                cy, cx = rng.integers(10, 38), rng.integers(10, 54)
                mask = np.exp(-(((yy - cy) / 15) ** 2 + ((xx - cx) / 20) ** 2))[..., None]
                pixels = 128 + mask * (wave[..., None] * 70 + hue) + rng.normal(0, 70, (48, 64, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / split / f"c{c}" / f"{i}.png")


def study_text(name: str, preset: str, root: Path) -> str:
    scale = 32 / (1024 if preset == "imagefolder-fast" else 256)
    lr = (0.5 if preset == "imagefolder-fast" else 0.1) * scale
    crops = "train_crop = 24\ntrain_crop_start = 20\n" if preset == "imagefolder-fast" else ""
    return (f'name = "{name}"\npreset = "{preset}"\n[dataset]\nname = "imagefolder"\nroot = "{root}"\nresize = 32\ncrop = 28\n'
            f'[recipe]\narch = "small_resnet"\nmodel_options = {{ width = 16 }}\nbatch_size = 32\neval_batch_size = 100\n'
            f'lr = {lr}\n{crops}save_probabilities = false\n[[conditions]]\nname = "base"\n')


def step_seconds(side: int, batch: int, repeats: int) -> float:
    """Best wall time of one ResNet-18 training step on a batch of `side` x `side` images."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1000)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(batch, 3, side, side), torch.randint(0, 1000, (batch,))
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_steps(threads: int, batch: int = 16, repeats: int = 3) -> None:
    """Per-image step cost at each recipe's training sizes, and the epoch-weighted time ratio."""
    import torch

    from model_runs.recipes import PRESETS, train_crop_at

    torch.set_num_threads(threads)
    cost = {side: step_seconds(side, batch, repeats) / batch for side in (224, 192, 160)}
    paper, fast = PRESETS["imagefolder"], PRESETS["imagefolder-fast"]
    t_paper = sum(cost[train_crop_at(paper, e, 224)] for e in range(1, paper["epochs"] + 1))
    t_fast = sum(cost[train_crop_at(fast, e, 224)] for e in range(1, fast["epochs"] + 1))
    print(f"ResNet-18 training step, batch {batch}, {threads} threads, ms per image: "
          + ", ".join(f"{s} px {1000 * c:.1f}" for s, c in cost.items()))
    print(f"per training image: paper recipe (90 x 224 px) {t_paper:.2f} s, imagefolder-fast "
          f"(11 x 160 + 5 x 192 px) {t_fast:.2f} s: {t_fast / t_paper:.3f}x the time ({t_paper / t_fast:.1f}x faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=30, help="training images per class")
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", action="store_true", help="train both presets on a small synthetic ImageFolder")
    args = parser.parse_args()
    if not args.train:
        bench_steps(args.threads)
        return
    from model_runs.runner import run_models
    from model_runs.store import open_study
    from model_runs.study_files import load_study
    from model_runs.train import Execution

    tmp = Path(tempfile.mkdtemp(prefix="bench_recipes_"))
    try:
        make_folder(tmp / "images", args.per_class, args.val_per_class)
        rows = []
        for name, preset in (("paper", "imagefolder"), ("fast", "imagefolder-fast")):
            path = tmp / f"{name}.toml"
            path.write_text(study_text(name, preset, tmp / "images"))
            spec = load_study(str(path))
            t0 = time.perf_counter()
            execution = Execution(device="cpu", threads=args.threads, quiet=True, loader_workers=0)
            assert run_models(spec, tmp / "runs" / name, ["base"], execution)[0].status == "complete"
            wall = time.perf_counter() - t0
            epochs = open_study(tmp / "runs" / name).run_info("base")["epochs"]
            crops = sorted({e.get("train_crop") for e in epochs[1:]})
            rows.append((preset, len(epochs) - 1, crops, wall, epochs[-1]["val_accuracy"]))
        print(f"{10 * args.per_class} training, {10 * args.val_per_class} validation images, 10 classes, {args.threads} threads")
        print(f"{'preset':<18} {'epochs':>6} {'train crops':>12} {'seconds':>8} {'val acc':>8}")
        for preset, n, crops, wall, acc in rows:
            print(f"{preset:<18} {n:6d} {'/'.join(map(str, crops)):>12} {wall:8.1f} {acc:8.3f}")
        print(f"fast / paper: {rows[1][3] / rows[0][3]:.2f}x the time, accuracy {rows[1][4] - rows[0][4]:+.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
