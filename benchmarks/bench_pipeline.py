"""Benchmark of the image-file input pipeline per CPU core: ImageNet-shaped JPEGs (500 x 375,
quality 90) through the training transform (RandomResizedCrop 224 + flip) and the evaluation
transform (resize 256 + centre crop 224), one process, one torch thread, in this run:

- old: PIL decode and PIL transforms (`--decoder pil`, the pipeline before issue 13);
- new: torchvision.io decode and v2 uint8 kernels (`--decoder auto` for training, `tensor` for both);
- cache: the memory-mapped uint8 cache of images resized to 256 (`--image-cache`), no decoding;
- batched: `--decoder batched` with the device being this CPU (on a GPU, nvJPEG decodes the batch).

    python benchmarks/bench_pipeline.py [--images 300] [--repeats 3]

Images/s per core multiply by the loader processes (one per core, less one) for a whole machine.

With --demo it times the whole demo instead (`scripts/pipeline.sh --study demo` with the demo's set
sizes, from scratch in a temporary folder: wall time per step from its pipeline-times.tsv, CPU time
of all its processes, the load average), and with --demo-baseline REV also the demo of git revision
REV (e.g. 0338ff7, the pipeline before issue 13 item 6: observers one after another, fixation not
scaled) unpacked from `git archive` into a temporary folder, in the same run, per step from the times its step lines appeared:

    python benchmarks/bench_pipeline.py --demo [--demo-baseline 0338ff7]

Measured 2026-12-02 on the project's 2-core machine while other jobs kept its load average at
8-15 (so every wall time is inflated; the CPU column is less so), seconds:

    seconds        train       ddd      sets  register  sessions    report     total       cpu
    new            164.2      40.7      45.2       2.2     133.1     133.4     522.7     145.8
    old            160.6      26.6      34.6      31.9     402.4      75.1     731.2     171.2
    old / new      0.98x     0.65x     0.77x    14.17x     3.02x     0.56x     1.40x     1.17x

The goal of 60 s is not reached: the demo's processes need 146 s of CPU, so on 2 cores it cannot
take less than 73 s even with nothing else running. Most of that CPU is fixed start-up cost per
process (torch + torch._dynamo, imported by torch.optim, in every sweep worker; PsychoPy and a
window in each of the 8 session programs; pandas, sklearn and cleanlab in the CLIs) and the report
(it re-runs the DDD analysis that step 2 wrote, saves 22 figures as PNG and SVG, and draws 90
bootstrap intervals in the questionnaire agreement); training itself is a few seconds per model.
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


def make_jpegs(folder: Path, n: int) -> list[tuple[str, int]]:
    """Photo-like JPEGs: smooth colour fields plus fine noise, ~500 x 375, quality 90."""
    from PIL import Image

    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        base = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC)
        pixels = np.asarray(base).astype(np.int16) + rng.integers(-20, 21, (375, 500, 3))
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        if i % 4 == 3:
            img = img.transpose(Image.Transpose.ROTATE_90)  # some portrait images, as in ImageNet
        path = folder / f"{i:05d}.JPEG"
        img.save(path, quality=90)
        samples.append((str(path), i % 10))
    return samples


def rate(data: object, n: int, repeats: int, train: bool) -> float:
    """Best images/s over `repeats` passes of data[(epoch, i)] for every image."""
    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            data[(r + 1, i) if train else i]  # type: ignore[index]
        best = max(best, n / (time.perf_counter() - t0))
    return best


def batched_rate(data: object, n: int, repeats: int, batch: int = 64) -> float:
    """Images/s of `--decoder batched` on the CPU: worker items (bytes + draws), then decode_crop_batch."""
    import torch

    from model_runs.pipeline import collate_encoded, decode_crop_batch

    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            items = [data[(r + 1, i)] for i in range(start, min(n, start + batch))]  # type: ignore[index]
            payloads, _, idx, params, jpeg = collate_encoded(items)
            decode_crop_batch(payloads, params, jpeg, 224, torch.device("cpu"), [""] * len(payloads))
        best = max(best, n / (time.perf_counter() - t0))
    return best


DEMO_ARGS = ["--study", "demo", "--observers", "4", "--pairs", "20", "--practice-pairs", "4", "--per-difficulty", "15", "--practice", "3"]
OLD_STEPS = {"1/7": "train", "2/7": "ddd", "3/7": "sets", "4/7": "register", "5/7": "sessions", "6/7": "report", "7/7": "reference"}


def _timed_lines(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[list[tuple[float, str]], float, float]:
    """Run `cmd`, time-stamping each stdout line; (lines, wall seconds, CPU seconds of its processes)."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    lines = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.rstrip("\n")))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed (status {proc.returncode}); last lines: {[l for _, l in lines[-5:]]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return lines, wall, cpu


def _old_steps(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Seconds per step of the old demo.sh, from the times its '== N/7' lines appeared."""
    marks = [(t, OLD_STEPS[line.split()[1]]) for t, line in lines if line.startswith("== ") and line.split()[1] in OLD_STEPS]
    ends = [t for t, _ in marks[1:]] + [wall]
    return {name: end - start for (start, name), end in zip(marks, ends)}


def bench_demo(baseline: str | None) -> None:
    """Wall and CPU time of the demo pipeline, per step, against `baseline` (a git revision) in the same run."""
    import os
    import subprocess

    env = dict(os.environ, MPLBACKEND="Agg", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    rows: dict[str, dict[str, float]] = {}
    try:
        load0 = os.getloadavg()[0]
        _, wall, cpu = _timed_lines(["bash", str(ROOT / "scripts" / "pipeline.sh"), *DEMO_ARGS, "--out-dir", str(tmp / "new")], ROOT, env)
        times = dict(line.split("\t") for line in (tmp / "new" / "reports" / "demo" / "pipeline-times.tsv").read_text().split("\n")[1:] if line)
        rows["new"] = {k: float(v) for k, v in times.items() if k != "total"} | {"total": wall, "cpu": cpu}
        print(f"demo (scripts/pipeline.sh, this checkout): {wall:.1f} s wall, {cpu:.1f} s CPU of its processes, "
              f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if baseline:
            old = tmp / "old"
            old.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            try:
                load0 = os.getloadavg()[0]
                lines, wall, cpu = _timed_lines(["bash", "scripts/demo.sh"], old, {**env, "REFERENCE": str(tmp / "none")})
                rows["old"] = _old_steps(lines, wall) | {"total": wall, "cpu": cpu}
                rows["old"].pop("reference", None)  # skipped in both (scripts/demo.sh's step 7 is not part of pipeline.sh)
                print(f"demo of {baseline} (scripts/demo.sh, without its reference step): {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
            finally:
                shutil.rmtree(old, ignore_errors=True)
        steps = ["train", "ddd", "sets", "register", "sessions", "report", "total", "cpu"]
        print(f"{'seconds':<10}" + "".join(f"{s:>10}" for s in steps))
        for name, r in rows.items():
            print(f"{name:<10}" + "".join(f"{r.get(s, float('nan')):10.1f}" for s in steps))
        if "old" in rows:
            print(f"{'old / new':<10}" + "".join(f"{rows['old'].get(s, float('nan')) / rows['new'][s]:9.2f}x" for s in steps))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", action="store_true", help="time the demo pipeline instead (see above)")
    parser.add_argument("--demo-baseline", metavar="REV", default=None,
                        help="with --demo: also time the demo of this git revision, in the same run")
    args = parser.parse_args()
    if args.demo:
        bench_demo(args.demo_baseline)
        return
    import torch

    from model_runs.pipeline import _file_dataset_class, image_cache

    import torchvision.transforms.functional  # noqa: F401 - imported before any timing
    import torchvision.transforms.v2.functional  # noqa: F401

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        samples = make_jpegs(tmp, args.images)
        size_kb = sum(Path(p).stat().st_size for p, _ in samples) / len(samples) / 1024
        t0 = time.perf_counter()
        cache = image_cache(tmp / "cache", samples, 256, "bilinear", 0)
        build = time.perf_counter() - t0
        print(f"{args.images} JPEGs, 500 x 375, {size_kb:.0f} KB each; cache built in {build:.1f} s "
              f"({args.images / build:.0f} images/s, one core), {cache.path.stat().st_size / args.images / 1024:.0f} KB per image")
        FileImages = _file_dataset_class()
        rrc = ("random_resized_crop_flip", 0)
        rows = []
        for split, train in (("training (RandomResizedCrop 224 + flip)", True), ("evaluation (resize 256 + crop 224)", False)):
            aug = rrc if train else ("none", 0)
            old = FileImages(samples, train, 256, 224, 1, *aug, "bilinear", tensor=False)
            new = FileImages(samples, train, 256, 224, 1, *aug, "bilinear", tensor=True)
            cached = FileImages(samples, train, 256, 224, 1, *aug, "bilinear", cache=cache)
            a, b, c = (rate(d, args.images, args.repeats, train) for d in (old, new, cached))
            d = batched_rate(FileImages(samples, True, 256, 224, 1, *rrc, "bilinear", tensor=True, encoded=True), args.images, args.repeats) if train else float("nan")
            rows.append((split, a, b, c, d))
        print(f"{'images/s per core':<40} {'old (PIL)':>10} {'torchvision':>12} {'ratio':>6} {'cache':>8} {'ratio':>6} {'batched':>8} {'ratio':>6}")
        for split, a, b, c, d in rows:
            print(f"{split:<40} {a:10.0f} {b:12.0f} {b / a:5.2f}x {c:8.0f} {c / a:5.2f}x {d:8.0f} {d / a:5.2f}x")
        print("batched: header read + random draws per image, then one decode_jpeg call per batch of 64 and v2 crops, all on this CPU core;"
              " on a GPU the decode and crops run on the device (not measured here)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
