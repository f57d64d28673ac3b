"""Which GPUs a local sweep is given, and which worker gets which one.

submitit's local executor starts every worker with `CUDA_VISIBLE_DEVICES=""` (it hides all GPUs
unless asked for some, and then gives every job the same ones), so a local sweep on a GPU
workstation would train on the CPU. Here the sweep lists the GPUs it may use, gives each worker
slot one of them (k slots per GPU with `workers_per_gpu`), and the worker sets its own
`CUDA_VISIBLE_DEVICES` before anything touches CUDA.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labutil.errors import UserError

FAKE_GPUS_ENV = "TRIVIAL_OR_IMPOSSIBLE_GPUS"  # tests: pretend these GPU ids are visible (comma-separated)


def visible_gpus(gpus: str | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """GPU ids a sweep may use: `gpus` ("0,1", UUIDs allowed) if given, else the process's own
    CUDA_VISIBLE_DEVICES if set (empty = none), else every GPU the driver reports."""
    env = os.environ if environ is None else environ
    for text in (gpus, env.get(FAKE_GPUS_ENV), env.get("CUDA_VISIBLE_DEVICES")):
        if text is not None:
            ids = [g.strip() for g in text.split(",") if g.strip()]
            if text is gpus and not ids:
                raise UserError(f"--gpus {gpus!r}: give GPU ids separated by commas, e.g. 0,1")
            return [] if ids == ["-1"] else ids
    return [str(i) for i in range(_driver_gpu_count())]


def _driver_gpu_count() -> int:
    """Number of CUDA devices, without importing torch where there is plainly no NVIDIA driver."""
    if not Path("/dev/nvidiactl").exists() and not shutil.which("nvidia-smi"):
        return 0
    import torch

    return int(torch.cuda.device_count())


def worker_devices(device: str, gpus: list[str], workers: int, workers_per_gpu: int) -> tuple[list[str | None], str]:
    """The CUDA_VISIBLE_DEVICES of each local worker (None: left as it is, CPU) and the device
    the workers train on. `--device cpu` ignores GPUs; `cuda` without one is a one-line error;
    `cuda:N` uses the N-th listed GPU only."""
    if workers_per_gpu < 1:
        raise UserError("--workers-per-gpu must be at least 1")
    if device == "cpu":
        return [None] * workers, device
    if device.startswith("cuda"):
        if not gpus:
            raise UserError(f"--device {device}: no CUDA device available (use --device cpu or auto)")
        if ":" in device:
            index = int(device.split(":", 1)[1]) if device.split(":", 1)[1].isdigit() else -1
            if not 0 <= index < len(gpus):
                raise UserError(f"--device {device}: only {len(gpus)} GPU(s) visible ({','.join(gpus)})")
            gpus = [gpus[index]]
    if not gpus:  # auto without a GPU: CPU workers
        return [None] * workers, device
    # round-robin, so that a sweep with fewer models than slots still spreads them over the GPUs
    return [g for _ in range(workers_per_gpu) for g in gpus], "cuda" if device.startswith("cuda") else device


def claim_device(gpu: str | None) -> None:
    """Make `gpu` the only device this worker process sees (before CUDA is initialised)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
