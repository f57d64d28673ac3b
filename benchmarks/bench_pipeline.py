"""Benchmark of the image-file input pipeline per CPU core: ImageNet-shaped JPEGs (500 x 375,
quality 90) through the training transform (RandomResizedCrop 224 + flip) and the evaluation
transform (resize 256 + centre crop 224), one process, one torch thread, in this run:

- old: PIL decode and PIL transforms (`--decoder pil`, the pipeline before issue 13);
- new: torchvision.io decode and v2 uint8 kernels (`--decoder auto` for training, `tensor` for both);
- cache: the memory-mapped uint8 cache of images resized to 256 (`--image-cache`), no decoding;
- batched: `--decoder batched` with the device being this CPU (on a GPU, nvJPEG decodes the batch).

    python benchmarks/bench_pipeline.py [--images 300] [--repeats 3]

Images/s per core multiply by the loader processes (one per core, less one) for a whole machine.

With --demo it times the whole demo instead: `scripts/demo.sh` (what `make demo` runs: the pipeline
with the demo's set sizes, then the published reference data) of this working tree and of git
revision --demo-baseline (default main), each from scratch in its own copy, one after the other in
this run. Wall seconds per step come from its pipeline-times.tsv (the reference part: from its
heading to the end); CPU seconds (user + system) per step from /usr/bin/time around every python
process (a `python` on PATH that logs them); the load average is printed beside each run:

    python benchmarks/bench_pipeline.py --demo [--demo-baseline main]

Measured 2026-12-02 (later that day) on the same machine idle (load average below 3), seconds:

    12:13 UTC      train       ddd      sets  register  sessions    report reference     total
    4a1a394         14.6       6.3       5.9       0.5      39.8      13.0      11.3      91.7
    d69d86d         17.7      19.5       2.3       0.5      41.7      12.7       0.0      75.6
    12:52 UTC
    40a4222         14.6      17.5       2.3       0.5      41.1      13.4       0.0      72.4
    b23326d         15.8      17.9       2.4       0.5      26.8      10.7       0.0      56.7
    cpu    setup   train       ddd      sets  register  sessions    report reference       all
    40a4222  0.5    20.6       7.7       2.1       0.5      41.6      16.8      13.8     106.6
    b23326d  0.5    21.5       8.0       2.2       0.5      32.2      16.1      14.4      97.3

4a1a394 -> d69d86d (1.21x): the DDD analysis beside sets, register and sessions (its row is its
own duration), the sets in one process (CPU 6.5 -> 2.2 s), the reference part beside the pipeline
(0.0: it had ended when the pipeline did). 40a4222 -> b23326d (1.28x): the simulated times x 0.02
instead of x 0.06 (sessions 41.1 -> 26.8 s; every choice and answer the same, only the times
differ) and the report's PNGs drawn by forked children beside the next figure (13.4 -> 10.7 s, the
same files). `make clean-demo && make demo` then printed "Demo finished in 59s". Under load the
figures grow several times (at a load of 13-16 the d69d86d demo took 418.6 s against 449.0 s).
What remains is the critical path: training (~21 s CPU over two workers), the sessions (each
observer's 2AFC then questionnaire program: two PsychoPy start-ups of ~3 s each alone, four
observers at once on two cores, plus ~13 s of scaled simulated time), and the report (~16 s CPU).
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


DEMO_STEPS = ["setup", "train", "ddd", "sets", "register", "sessions", "report", "reference"]
SHIM = """#!/bin/sh
exec /usr/bin/time -a -o "$BENCH_CPU_LOG" -f '@@@\t%e\t%U\t%S\t%C' {python} "$@"
"""


def _step_of(command: str) -> str:
    """The demo step a logged python command line belongs to."""
    if " -m model_runs " in command:
        return "train"
    if " -m analysis.ddd " in command:
        return "ddd"
    if " -m stimuli " in command or " - build-2afc " in command or " - verify " in command:
        return "sets"
    if " -m experiment." in command:
        return "sessions"
    if " -m analysis.reference " in command or ("-m analysis.report " in command and "--model-table" in command):
        return "reference"
    if " -m analysis.report " in command:
        return "report"
    if "lab_data" in command and " - " in command:
        return "register"
    return "setup"  # the study-name check


def _cpu_per_step(log: Path) -> dict[str, float]:
    """CPU seconds (user + system) of the logged python processes, summed per step."""
    cpu = dict.fromkeys(DEMO_STEPS, 0.0)
    for record in log.read_text().split("@@@\t")[1:]:
        _wall, user, system, command = record.split("\t", 3)
        cpu[_step_of(" " + command.replace("\n", " "))] += float(user) + float(system)
    return cpu


def _copy_tree(rev: str | None, dest: Path) -> None:
    """The files of git revision `rev`, or of this working tree (tracked and untracked, not ignored), into dest."""
    import subprocess

    dest.mkdir(parents=True)
    if rev:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    else:
        files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-c", "-o", "--exclude-standard"], check=True,
                               capture_output=True).stdout
        names = [n for n in files.split(b"\0") if n and (ROOT / n.decode()).is_file()]
        archive = subprocess.run(["tar", "-c", "-C", str(ROOT), "--null", "-T", "-"], input=b"\0".join(names), check=True,
                                 capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_demo(tree: Path, reference: Path, tmp: Path) -> dict[str, float]:
    """`scripts/demo.sh` of a copied tree, from scratch: wall seconds per step (pipeline-times.tsv; the
    reference part from the time its heading appeared to the end), total wall, CPU per step and in all."""
    import os

    shim_dir = tmp / f"shim-{tree.name}"
    shim_dir.mkdir()
    (shim_dir / "python").write_text(SHIM.replace("{python}", sys.executable))
    (shim_dir / "python").chmod(0o755)
    log = tmp / f"cpu-{tree.name}.log"
    log.touch()
    env = dict(os.environ, MPLBACKEND="Agg", REFERENCE=str(reference), BENCH_CPU_LOG=str(log),
               PATH=f"{shim_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)  # the copy's packages: `python -m` puts its folder first on sys.path
    lines, wall, cpu_all = _timed_lines(["bash", "scripts/demo.sh"], tree, env)
    times = (tree / "reports" / "demo" / "pipeline-times.tsv").read_text().split("\n")[1:]
    row = {k: float(v) for k, v in (line.split("\t") for line in times if line) if k != "total"}
    ref_start = next(t for t, line in lines if line.startswith("== and the original study"))
    row["reference"] = wall - ref_start
    row["total"] = wall
    row |= {f"cpu {k}": v for k, v in _cpu_per_step(log).items()}
    row["cpu"] = cpu_all
    return row


def bench_demo(baseline: str) -> None:
    """Wall and CPU time of `make demo`'s scripts/demo.sh per step, this working tree against git
    revision `baseline`, each from scratch in its own copy, one after the other in this run."""
    import os

    reference = (ROOT / ".." / "shared" / "reference").resolve()
    for candidate in (reference, Path("/work/shared/reference")):
        if (candidate / "imagenet_val_sota11_per_image.csv").is_file():
            reference = candidate
            break
    tmp = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    rows: dict[str, dict[str, float]] = {}
    loads: dict[str, str] = {}
    try:
        for name, rev in (("new", None), ("old", baseline)):
            _copy_tree(rev, tmp / name)
            load0 = os.getloadavg()[0]
            rows[name] = run_demo(tmp / name, reference, tmp)
            loads[name] = f"{load0:.1f} -> {os.getloadavg()[0]:.1f}"
            print(f"{name} ({baseline if rev else 'this working tree'}): {rows[name]['total']:.1f} s wall, "
                  f"{rows[name]['cpu']:.1f} s CPU, load average {loads[name]} on {os.cpu_count()} cores", flush=True)
            shutil.rmtree(tmp / name, ignore_errors=True)
        print("wall seconds per step (ddd runs beside sets..sessions in new, the reference part beside the pipeline):")
        _table(rows, [*DEMO_STEPS[1:], "total"], "")
        print("CPU seconds (user + system) of the python processes per step; cpu = every process (Xvfb, shells too):")
        _table(rows, [*DEMO_STEPS, "cpu"], "cpu ")
        cpu = rows["new"]["cpu"]
        print(f"new on an idle machine with {os.cpu_count()} cores: at least {cpu / (os.cpu_count() or 1):.0f} s "
              f"(its CPU seconds over the cores)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _table(rows: dict[str, dict[str, float]], cols: list[str], prefix: str) -> None:
    """One line per run and the old / new ratio, the columns `cols` (keys prefix + col, 'cpu' as is)."""
    def key(col: str) -> str:
        return col if col == "cpu" else prefix + col

    print(f"{'seconds':<10}" + "".join(f"{c:>10}" for c in cols))
    for name, r in rows.items():
        print(f"{name:<10}" + "".join(f"{r.get(key(c), float('nan')):10.1f}" for c in cols))
    old, new = rows["old"], rows["new"]
    print(f"{'old / new':<10}" + "".join(f"{old.get(key(c), float('nan')) / new[key(c)]:9.2f}x" if new.get(key(c)) else f"{'-':>10}"
                                         for c in cols))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", action="store_true", help="time the demo pipeline instead (see above)")
    parser.add_argument("--demo-baseline", metavar="REV", default="main",
                        help="with --demo: the git revision timed against this working tree, in the same run (default: main)")
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
