"""Timing of the 2AFC program: image preload and the gap from a response to the next stimulus onset.

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_experiment.py [--pairs 149]

Builds a synthetic 149-pair set (298 PNGs, 224 x 224) in a temporary folder, runs the real
program (`python -m experiment.two_afc`) with a simulated observer pressing real keys through
XTEST, and reads the figures from what the session recorded:

- preload: `PreloadSeconds` of the sidecar (PsychoPy ImageStims for all 298 images, textures
  uploaded), against a baseline measured in the same run: decoding the same PNGs with PIL only;
- response -> next onset: from the TSV, `onset[i+1] - (onset[i] + rt[i])` (the key press on the
  session clock vs the next stimulus-onset flip), against the configured fixation duration and the
  frame interval measured in the same session (overhead in frames).

Runs itself under xvfb-run when no DISPLAY is set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_set(path: Path, pairs: int, seed: int = 0) -> Path:
    """A 2AFC set of `pairs` test pairs of random-noise 224 x 224 PNGs (trivial + impossible)."""
    from stimuli.sets import png_bytes, write_set

    rng = np.random.default_rng(seed)
    stimuli, trials, images = [], [], {}
    for k in range(pairs):
        ids = (f"p{k:03d}t", f"p{k:03d}i")
        for j, (sid, diff) in enumerate(zip(ids, ("trivial", "impossible"))):
            stimuli.append({"stim_id": sid, "source_image_id": f"val/{2 * k + j:05d}", "label": k % 10,
                            "class_name": f"class{k % 10}", "n_correct": 11 if diff == "trivial" else 0,
                            "n_models": 11, "difficulty": diff})
            images[sid] = png_bytes(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8))
        side = "left" if k % 2 else "right"
        left, right = (ids[1], ids[0]) if side == "left" else ids
        trials.append({"trial": k + 1, "phase": "test", "pair_id": k + 1, "left_stim": left, "right_stim": right,
                       "impossible_side": side})
    meta = {"kind": "2afc", "seed": seed, "provenance": {"type": "benchmark"}}
    return write_set(path, meta, pd.DataFrame(stimuli), pd.DataFrame(trials), images).path


def pil_decode_seconds(folder: Path) -> float:
    """Baseline: decode every PNG of the set to an RGB array with PIL."""
    from PIL import Image

    t = time.perf_counter()
    for png in sorted(folder.glob("*.png")):
        with Image.open(png) as im:
            np.asarray(im.convert("RGB"))
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=149, help="test pairs in the synthetic set (default: 149)")
    ap.add_argument("--rt-scale", type=float, default=0.05,
                    help="simulated RT scale (default 0.05: ~0.1 s per response)")
    ap.add_argument("--config", type=Path, default=REPO / "experiment" / "headless.toml",
                    help="lab config for the run (default: experiment/headless.toml, 1024x768 window)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        if not shutil.which("xvfb-run"):
            print("error: no DISPLAY and no xvfb-run", file=sys.stderr)
            return 2
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, *sys.argv]
        return subprocess.call(cmd)

    from experiment.config import load_config
    from participants.layout import beh_path, read_session
    from participants.registry import Registry

    tmp = Path(tempfile.mkdtemp(prefix="bench_experiment_"))
    try:
        sset = make_set(tmp / "sets" / "bench-2afc", args.pairs)
        data = tmp / "lab_data"
        reg = Registry(data, tmp / "lab_private")
        pid = reg.register(cnn_familiarity="naive")
        reg.record_consent(pid, time.strftime("%Y-%m-%d"), "bench")
        baseline = min(pil_decode_seconds(sset / "images") for _ in range(3))
        env = dict(os.environ, HOME=str(tmp / "home"), PYTHONPATH=str(REPO))
        t = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "experiment.two_afc", "--participant", pid, "--session", "1",
             "--stimuli", str(sset), "--data-root", str(data), "--private-root", str(tmp / "lab_private"),
             "--config", str(args.config), "--simulate", "typical", "--sim-rt-scale", str(args.rt_scale),
             # Xvfb: a window, no monitor calibration, no vsync (flips paced to the nominal rate)
             "--allow-windowed", "--no-calibration", "--allow-frame-rate-mismatch"],
            cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if run.returncode != 0:
            print(run.stderr[-3000:], file=sys.stderr)
            return 1
        tsv = beh_path(data, pid, 1, "2afc")
        session = read_session(tsv)
        meta = session.meta
        attempt = meta["Attempts"][-1]
        cfg = load_config(args.config)
        every = cfg.two_afc.break_every
        df = session.trials
        gaps = (df["onset"].to_numpy()[1:] - (df["onset"].to_numpy()[:-1] + df["rt"].to_numpy()[:-1]))
        after_break = np.array([every > 0 and i % every == 0 for i in range(1, len(df))])
        gaps = gaps[~after_break]
        fixation = cfg.two_afc.fixation_s
        frame_ms = attempt["Timing"].get("FrameIntervalMedianMs", float("nan"))
        overhead_ms = (gaps - fixation) * 1000
        n_img = attempt["PreloadedImages"]
        preload = attempt["PreloadSeconds"]
        print(f"set: {args.pairs} pairs, {n_img} PNGs of 224x224; session of {len(df)} trials took {wall:.1f} s "
              f"(display {attempt['WindowSizePx']}, paced to nominal rate: {attempt['PacedToNominalRate']})")
        print(f"preload (PsychoPy ImageStim, textures uploaded): {preload:.3f} s = {preload / n_img * 1000:.2f} ms/image")
        print(f"baseline (PIL decode only, same PNGs, best of 3): {baseline:.3f} s = "
              f"{baseline / n_img * 1000:.2f} ms/image; ratio preload/baseline = {preload / baseline:.2f}")
        print(f"response -> next onset (n={len(gaps)}, breaks excluded): median {np.median(gaps) * 1000:.1f} ms, "
              f"p95 {np.percentile(gaps, 95) * 1000:.1f} ms, max {gaps.max() * 1000:.1f} ms; "
              f"fixation {fixation * 1000:.0f} ms")
        print(f"overhead beyond the fixation: median {np.median(overhead_ms):.1f} ms, max {overhead_ms.max():.1f} ms "
              f"= {np.median(overhead_ms) / frame_ms:.2f} frames (median frame interval {frame_ms:.2f} ms "
              f"measured in the same session)")
        timing = {k: v for k, v in attempt["Timing"].items() if k != "ResponseToNextOnsetS"}
        print(f"frames: {json.dumps(timing)}")
        if args.keep:
            print(f"kept: {tmp}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
