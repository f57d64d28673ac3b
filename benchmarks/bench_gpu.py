"""Training throughput of ResNet-18 at 224 px on ImageNet-shaped data (uint8 images held on the
device, RandomResizedCrop + flip, SGD): the project's training loop (`model_runs.train.train_epoch`
over `ArrayPipeline`) against a plain torchvision loop, in float32 and with bf16 autocast, in one
run. Made for a GPU (`--device cuda`, the defaults); `--device cpu --size 64 --images 64
--batch 16 --steps 2` is a smoke test. Not run on a GPU in the session that wrote it.

    python benchmarks/bench_gpu.py                      # CUDA, 224 px, batch 256
    python benchmarks/bench_gpu.py --compile            # also torch.compile (slow first steps)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def synthetic(device: Any, n: int, size: int) -> tuple[Any, Any]:
    import torch

    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g).to(device)
    y = torch.randint(0, 1000, (n,), generator=g).to(device)
    return x, y


def project_loop(device: Any, x: Any, y: Any, batch: int, steps: int, precision: str, compile_: bool) -> float:
    """Images/s of `train_epoch` over an ArrayPipeline holding (x, y) (resolved execution as `train` would)."""
    import torch

    from model_runs.models import create_model
    from model_runs.pipeline import ArrayPipeline, Normalizer
    from model_runs.train import Execution, resolve_execution, train_epoch

    execution = resolve_execution(Execution(device=str(device), precision=precision, compile=compile_, quiet=True), device)
    pipeline = ArrayPipeline.__new__(ArrayPipeline)
    pipeline.device = device
    pipeline.normalize = Normalizer(MEAN, STD, device, execution.channels_last)
    pipeline.tensors = {"train": (x, y), "val": (x[:0], y[:0])}
    model = create_model("resnet18", 1000, in_channels=3, image_size=x.shape[-1]).to(device)
    if execution.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=execution.precision == "fp16")
    entry = {"aug_seed": 1, "data_seed": 2, "batch_size": batch, "batch_split": 1, "save_train_decisions": False, "epochs": 1,
             "augment": "random_resized_crop_flip", "augment_pad": 0}
    warm = np.arange(batch * 2) % len(y)
    train_epoch(net, opt, scaler, pipeline, entry, warm, 1, device, execution, "bench")
    order = np.arange(batch * steps) % len(y)
    _sync(device)
    t0 = time.perf_counter()
    train_epoch(net, opt, scaler, pipeline, entry, order, 2, device, execution, "bench")
    _sync(device)
    return len(order) / (time.perf_counter() - t0)


def plain_loop(device: Any, x: Any, y: Any, batch: int, steps: int, bf16: bool, channels_last: bool) -> float:
    """Images/s of a plain torchvision loop: index, torchvision v2 RandomResizedCrop + flip per batch, normalise, step."""
    import torch
    import torchvision
    import torchvision.transforms.v2 as T

    model = torchvision.models.resnet18(num_classes=1000).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    aug = T.Compose([T.RandomResizedCrop(x.shape[-1], antialias=True), T.RandomHorizontalFlip()])
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255

    def run(n_steps: int) -> None:
        for s in range(n_steps):
            idx = torch.randint(0, len(y), (batch,), device=device)
            xb = aug(x[idx]).float().sub_(mean).div_(std)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(xb).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    run(2)
    _sync(device)
    t0 = time.perf_counter()
    run(steps)
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=4096, help="distinct images held on the device (default 4096)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    import torch

    from model_runs.train import resolve_device

    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = True
    x, y = synthetic(device, args.images, args.size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"ResNet-18, {args.size} px, batch {args.batch}, {args.steps} steps on {name}")
    cl = device.type == "cuda"
    rows = [("fp32", project_loop(device, x, y, args.batch, args.steps, "fp32", False), plain_loop(device, x, y, args.batch, args.steps, False, cl))]
    if device.type == "cuda" and torch.cuda.is_bf16_supported() or device.type == "cpu":
        rows.append(("bf16 autocast", project_loop(device, x, y, args.batch, args.steps, "bf16", False),
                     plain_loop(device, x, y, args.batch, args.steps, True, cl)))
    if args.compile:
        rows.append(("bf16 + torch.compile (project only)", project_loop(device, x, y, args.batch, args.steps, "bf16", True), float("nan")))
    print(f"{'images/s':<36} {'project loop':>13} {'plain loop':>11} {'ratio':>6}")
    for label, a, b in rows:
        print(f"{label:<36} {a:13.0f} {b:11.0f} {a / b:6.2f}x")
    print("packed small models: not implemented yet (issue 13 item 4)")


if __name__ == "__main__":
    main()
