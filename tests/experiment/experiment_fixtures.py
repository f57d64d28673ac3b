"""Small synthetic stimulus sets, lab configurations and registries for the experiment tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stimuli.sets import StimulusSet, png_bytes, write_set

# The options a session on Xvfb needs outside --pilot: the test configuration runs in a window, its
# monitor has no calibration, and Xvfb has no vsync (flips are paced to the nominal 60 Hz).
XVFB_OPTIONS = ["--allow-windowed", "--no-calibration", "--allow-frame-rate-mismatch"]

TEST_CONFIG = """\
[monitor]
resolution_px = [640, 480]
fullscreen = false
frame_rate_hz = 60.0

[two_afc]
break_every = 3
fixation_s = 0.1
image_gap_px = 40

[questionnaire]
break_every = 2
fixation_s = 0.1
"""


def _image(rng: np.random.Generator, size: int) -> bytes:
    """A random-noise RGB image (PNG), different for every call."""
    return png_bytes(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8))


def _stim_row(stim_id: str, difficulty: str, i: int) -> dict:
    n_correct = {"trivial": 11, "in-between": 5, "impossible": 0}[difficulty]
    return {"stim_id": stim_id, "source_image_id": f"val/{i:05d}", "label": i % 10, "class_name": f"class{i % 10}",
            "n_correct": n_correct, "n_models": 11, "difficulty": difficulty}


def make_2afc_set(path: Path, n_practice: int = 2, n_test: int = 6, seed: int = 0, size: int = 224) -> StimulusSet:
    """A 2AFC set: each pair one trivial and one impossible image, the impossible side alternating."""
    rng = np.random.default_rng(seed)
    stimuli, trials, images = [], [], {}
    for k in range(n_practice + n_test):
        triv, imp = f"p{k:03d}t", f"p{k:03d}i"
        stimuli += [_stim_row(triv, "trivial", 2 * k), _stim_row(imp, "impossible", 2 * k + 1)]
        images[triv], images[imp] = _image(rng, size), _image(rng, size)
        side = "left" if rng.random() < 0.5 else "right"
        left, right = (imp, triv) if side == "left" else (triv, imp)
        trials.append({"trial": k + 1, "phase": "practice" if k < n_practice else "test", "pair_id": k + 1,
                       "left_stim": left, "right_stim": right, "impossible_side": side})
    meta = {"kind": "2afc", "seed": seed, "provenance": {"type": "test fixture"}}
    return write_set(path, meta, pd.DataFrame(stimuli), pd.DataFrame(trials), images)


def make_questionnaire_set(path: Path, n_practice: int = 1, n_test: int = 4, seed: int = 1,
                           size: int = 224) -> StimulusSet:
    """A questionnaire set cycling through the three difficulties."""
    rng = np.random.default_rng(seed)
    stimuli, trials, images = [], [], {}
    levels = ("trivial", "in-between", "impossible")
    for k in range(n_practice + n_test):
        sid = f"q{k:03d}"
        stimuli.append(_stim_row(sid, levels[k % 3], k))
        images[sid] = _image(rng, size)
        trials.append({"trial": k + 1, "phase": "practice" if k < n_practice else "test", "stim_id": sid})
    meta = {"kind": "questionnaire", "seed": seed, "provenance": {"type": "test fixture"}}
    return write_set(path, meta, pd.DataFrame(stimuli), pd.DataFrame(trials), images)


def register(data_root: Path, n: int = 1, consent: bool = True) -> list[str]:
    """Register `n` participants (no identities), record their consent unless told not to, and
    return their ids."""
    from participants.registry import Registry

    reg = Registry(data_root, data_root.parent / "private")
    pids = [reg.register(cnn_familiarity="naive", age=30, gender="female", handedness="right") for _ in range(n)]
    if consent:
        for pid in pids:
            reg.record_consent(pid, "2026-01-05", "test-1")
    return pids


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its content, to show that nothing changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
