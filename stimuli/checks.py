"""Checks of a built set's design on top of `stimuli.sets.verify_set` (checksums and table consistency).

They hold for every set this package builds (set.json `builder` is "stimuli.build"; sets
written otherwise, e.g. imported from published tables, get only the basic checks): difficulties agree with the recorded tolerance,
no image appears twice, the impossible image is on the left in the recorded (balanced) number of
test pairs, and a questionnaire has equal numbers per difficulty.
"""

from __future__ import annotations

import numpy as np

from labutil.errors import UserError
from labutil.difficulty import classify
from stimuli.sets import STIMULI_FILE, TRIALS_FILE, StimulusSet, read_set, verify_set

BUILDER = "stimuli.build"  # the `builder` that stimuli.build records in set.json


def design_problems(sset: StimulusSet) -> list[str]:
    """Problems with the design of a set built by this package (others: none); each names its file."""
    problems: list[str] = []
    if sset.meta.get("builder") != BUILDER:
        return problems
    stim_file, trial_file = sset.path / STIMULI_FILE, sset.path / TRIALS_FILE
    tolerance = sset.meta.get("provenance", {}).get("tolerance")
    if tolerance is not None:
        try:
            expected = classify(sset.stimuli["n_correct"].to_numpy(), sset.stimuli["n_models"].to_numpy(), int(tolerance))
        except UserError as exc:
            return [f"{sset.path / 'set.json'}: {exc}"]
        bad = np.flatnonzero(expected != sset.stimuli["difficulty"].to_numpy())
        if bad.size:
            row = sset.stimuli.iloc[int(bad[0])]
            problems.append(
                f"{stim_file}: {row['stim_id']} is '{row['difficulty']}' but {row['n_correct']}/{row['n_models']} "
                f"correct is '{expected[bad[0]]}' at tolerance {tolerance}"
            )
    if sset.stimuli["source_image_id"].duplicated().any():
        dup = sset.stimuli.loc[sset.stimuli["source_image_id"].duplicated(), "source_image_id"].iloc[0]
        problems.append(f"{stim_file}: source image '{dup}' used twice")
    if sset.kind == "2afc":
        used = np.concatenate([sset.trials["left_stim"].to_numpy(), sset.trials["right_stim"].to_numpy()])
        if len(set(used)) != len(used):
            problems.append(f"{trial_file}: a stimulus appears in more than one trial")
        test = sset.test_trials()
        n_left = int((test["impossible_side"] == "left").sum())
        if abs(2 * n_left - len(test)) > 1:
            problems.append(f"{trial_file}: impossible image left in {n_left} of {len(test)} test trials (not balanced)")
        recorded = sset.meta.get("design", {}).get("impossible_left", {}).get("test")
        if recorded is not None and recorded != n_left:
            problems.append(f"{trial_file}: impossible image left in {n_left} test trials, set.json records {recorded}")
    else:
        test = sset.test_trials()
        diff = sset.stimuli.set_index("stim_id").loc[test["stim_id"], "difficulty"]
        counts = diff.value_counts()
        if counts.nunique() > 1 or len(counts) != 3:
            shown = {d: int(counts.get(d, 0)) for d in ("trivial", "in-between", "impossible")}
            problems.append(f"{trial_file}: test images per difficulty are not equal ({shown})")
    return problems


def check_set(path: str) -> list[str]:
    """All problems of a set: files and checksums, table consistency, and (when readable) its design."""
    problems = verify_set(path)
    try:
        sset = read_set(path)
    except UserError:
        return problems
    return problems + design_problems(sset)
