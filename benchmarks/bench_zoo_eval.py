"""Benchmark of pretrained-model evaluation: images per second of the model_runs evaluation
pipeline against a plain torchvision loop, in the same run, on the same ImageNet-shaped images.

    python benchmarks/bench_zoo_eval.py                          # CPU, squeezenet1_1 and resnet50, 96 images
    python benchmarks/bench_zoo_eval.py --device cuda --images 2048 --models resnet50 --amp

model_runs: `FilePipeline` (decode + resize + crop to uint8 in DataLoader workers, pinned memory on
CUDA, normalisation on the device, optional channels_last) and `train.evaluate` (inference mode,
predictions gathered on the device). Baseline: `torchvision.datasets.ImageFolder` with
Resize(256) / CenterCrop(224) / ToTensor / Normalize, a DataLoader with the same workers and batch
size, `torch.no_grad()`, one `.cpu()` per batch, as the pytorch/examples ImageNet script does it.
Both see random-weight torchvision models (speed does not depend on the weights). Runs alternate
A B B A; medians are reported, with the share of top-1 predictions on which both agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plain_loop(model: Any, root: Path, batch: int, workers: int, device: Any) -> tuple[float, Any]:
    """Images/s and predictions of the plain torchvision evaluation loop."""
    import torch
    import torchvision.datasets as tvd
    import torchvision.transforms as T

    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    loader = torch.utils.data.DataLoader(tvd.ImageFolder(str(root / "val"), tf), batch_size=batch, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    preds = []
    start = time.perf_counter()
    with torch.no_grad():
        for x, _ in loader:
            preds.append(model(x.to(device)).argmax(1).cpu())
    return len(loader.dataset) / (time.perf_counter() - start), torch.cat(preds)


def model_runs_loop(model: Any, root: Path, batch: int, workers: int, device: Any, channels_last: bool, amp: bool) -> tuple[float, Any]:
    """Images/s and predictions of model_runs' evaluation (FilePipeline + evaluate)."""
    import torch

    from model_runs.datasets import open_dataset
    from model_runs.pipeline import make_pipeline
    from model_runs.train import evaluate

    dataset = open_dataset({"name": "imagenet", "root": str(root)})
    start = time.perf_counter()
    pipeline = make_pipeline(dataset, device, channels_last, workers, need_train=False)
    result = evaluate(model, pipeline, batch, device, amp)
    return pipeline.n("val") / (time.perf_counter() - start), torch.from_numpy(result.prediction)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=96, help="validation images (default: 96)")
    p.add_argument("--models", default="squeezenet1_1,resnet50", help="torchvision architectures (default: squeezenet1_1,resnet50)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="model_runs side only: autocast (float16 on CUDA, bfloat16 on CPU)")
    p.add_argument("--repeats", type=int, default=2, help="A B B A rounds (default: 2)")
    args = p.parse_args()

    import torch
    import torchvision.models as tvm

    from model_runs.zoo.rehearsal import make_rehearsal

    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.images} images, batch {args.batch}, workers {args.workers}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "imagenet"
        make_rehearsal(root, n_classes=args.images // 2, per_class=2, seed=0)
        for arch in args.models.split(","):
            torch.manual_seed(0)
            model = getattr(tvm, arch)(weights=None).eval().to(device)
            for channels_last in (False, True):
                m = model.to(memory_format=torch.channels_last) if channels_last else model.to(memory_format=torch.contiguous_format)
                ours, plain, agree = [], [], []
                for _ in range(args.repeats):
                    for order in ("ab", "ba"):
                        for side in order:
                            if side == "a":
                                rate, p_ours = model_runs_loop(m, root, args.batch, args.workers, device, channels_last, args.amp)
                                ours.append(rate)
                            else:
                                rate, p_plain = plain_loop(m, root, args.batch, args.workers, device)
                                plain.append(rate)
                        agree.append(float((p_ours == p_plain).float().mean()))
                a, b = statistics.median(ours), statistics.median(plain)
                print(f"{arch:<14} channels_last={str(channels_last):<5}  model_runs {a:7.1f} img/s   plain torchvision {b:7.1f} img/s"
                      f"   ratio {a / b:5.2f}   top-1 agreement {min(agree):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
