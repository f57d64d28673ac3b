"""Test helpers: tiny stimulus sets and sessions with known answers, written through the owning
modules (`stimuli.sets.write_set`, `participants.layout.SessionWriter`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from participants.layout import SessionWriter, beh_path
from stimuli.sets import IMAGES_NOT_INCLUDED, StimulusSet, png_bytes, write_set


def _png(i: int) -> bytes:
    return png_bytes(np.full((4, 4, 3), i % 256, dtype=np.uint8))


def write_2afc_set(root: Path, name: str, n_pairs: int, n_practice: int = 1,
                   acc_trivial: Sequence[int] | None = None, acc_impossible: Sequence[int] | None = None,
                   n_models: int = 5) -> StimulusSet:
    """Pairs p1..pN (test) and q1.. (practice); the impossible image is on the left in odd pairs.
    `acc_trivial[i]` / `acc_impossible[i]`: models correct on pair i's images (default n_models / 0)."""
    stim, trials, images = [], [], {}
    total = n_practice + n_pairs
    for i in range(total):
        practice = i < n_practice
        pid = i + 1
        tag = f"q{pid}" if practice else f"p{pid - n_practice}"
        j = pid - n_practice - 1
        nt = n_models if practice or acc_trivial is None else acc_trivial[j]
        ni = 0 if practice or acc_impossible is None else acc_impossible[j]
        for kind, n in (("t", nt), ("i", ni)):
            sid = f"{tag}{kind}"
            stim.append({"stim_id": sid, "source_image_id": f"val/{sid}", "label": i, "class_name": f"c{i}",
                         "n_correct": n, "n_models": n_models, "difficulty": "trivial" if kind == "t" else "impossible"})
            images[sid] = _png(len(images))
        left_imp = pid % 2 == 1
        trials.append({"trial": pid, "phase": "practice" if practice else "test", "pair_id": pid,
                       "left_stim": f"{tag}i" if left_imp else f"{tag}t", "right_stim": f"{tag}t" if left_imp else f"{tag}i",
                       "impossible_side": "left" if left_imp else "right"})
    return write_set(Path(root) / name, {"kind": "2afc", "seed": 0, "provenance": {"type": "test"}},
                     pd.DataFrame(stim), pd.DataFrame(trials), images)


def write_2afc_session(data_root: Path, pid: str, sset: StimulusSet, correct: Sequence[bool],
                       rts: Sequence[float] | None = None, session: int = 1, status: str = "complete",
                       practice_correct: Sequence[bool] = (True,), order: Sequence[int] | None = None) -> Path:
    """A 2AFC session on `sset`: practice trials, then test trial i answered `correct[i]`."""
    writer = SessionWriter(beh_path(data_root, pid, session, "2afc"), "2afc")
    test = sset.test_trials()
    writer.start({"StimulusSet": {"Name": sset.name, "Path": str(sset.path), "TablesSHA256": sset.tables_sha256},
                  "ExpectedTrials": len(sset.trials)})
    rows = [(r, c) for r, c in zip(sset.practice_trials().to_dict("records"), practice_correct)]
    idx = list(order) if order is not None else list(range(len(correct)))
    rows += [(test.iloc[i].to_dict(), correct[i]) for i in idx]
    onset = 0.0
    for n, (t, ok) in enumerate(rows):
        imp = t["impossible_side"]
        side = imp if ok else ("right" if imp == "left" else "left")
        rt = 1.0 + 0.1 * n if rts is None or t["phase"] == "practice" else rts[idx[n - len(practice_correct)]]
        onset += 2.0
        writer.append({**{k: t[k] for k in ("trial", "phase", "pair_id", "left_stim", "right_stim", "impossible_side")},
                       "response_side": side, "chosen_stim": t["left_stim"] if side == "left" else t["right_stim"],
                       "correct": bool(ok), "rt": float(rt), "onset": onset})
    if status != "incomplete":
        writer.set_status(status)
    return writer.tsv


def write_questionnaire_set(root: Path, name: str, difficulty: Sequence[str], n_correct: Sequence[int],
                            n_models: int = 10, meta: dict[str, Any] | None = None, n_practice: int = 1) -> StimulusSet:
    """A questionnaire set without images: items s1..sN (test, in this order) and one practice item."""
    stim = [{"stim_id": f"pr{i + 1}", "source_image_id": f"val/pr{i}", "label": 0, "class_name": "c",
             "n_correct": n_models, "n_models": n_models, "difficulty": "trivial"} for i in range(n_practice)]
    stim += [{"stim_id": f"s{i + 1}", "source_image_id": f"val/{i}", "label": i, "class_name": f"c{i}",
              "n_correct": int(k), "n_models": n_models, "difficulty": d} for i, (d, k) in enumerate(zip(difficulty, n_correct))]
    ids = [s["stim_id"] for s in stim]
    trials = pd.DataFrame({"trial": range(1, len(ids) + 1),
                           "phase": ["practice"] * n_practice + ["test"] * (len(ids) - n_practice), "stim_id": ids})
    return write_set(Path(root) / name, {"kind": "questionnaire", "images": IMAGES_NOT_INCLUDED, **(meta or {})},
                     pd.DataFrame(stim), trials, {})


def write_questionnaire_session(data_root: Path, pid: str, sset: StimulusSet, answers: dict[str, tuple[int, str, str]],
                                session: int = 1, status: str = "complete", practice: bool = True) -> Path:
    """A questionnaire session: answers[stim_id] = (n_categories, main_category, unusual)."""
    writer = SessionWriter(beh_path(data_root, pid, session, "questionnaire"), "questionnaire")
    n_rows = (len(sset.practice_trials()) if practice else 0) + len(answers)
    writer.start({"StimulusSet": {"Name": sset.name, "Path": str(sset.path), "TablesSHA256": sset.tables_sha256},
                  "ExpectedTrials": n_rows})
    trial_of = dict(zip(sset.trials["stim_id"], sset.trials["trial"]))
    if practice:
        for t in sset.practice_trials().itertuples():
            writer.append({"trial": t.trial, "phase": "practice", "stim_id": t.stim_id, "n_categories": 1,
                           "main_category": "yes", "unusual": "no", "rt_q1": 1.0, "rt_q2": 1.0, "rt_q3": 1.0})
    for sid, (n, main, odd) in answers.items():
        writer.append({"trial": trial_of[sid], "phase": "test", "stim_id": sid, "n_categories": n,
                       "main_category": main, "unusual": odd, "rt_q1": 1.5, "rt_q2": 0.5, "rt_q3": 0.7})
    if status != "incomplete":
        writer.set_status(status)
    return writer.tsv
