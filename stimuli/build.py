"""Build 2AFC and questionnaire stimulus sets from a source: classify, exclude, choose, render, write.

Everything that decides the set (source, tolerance, exclusions, seed, design, rendering) is
recorded in set.json, so the same inputs and seed rebuild the same stimuli.tsv, trials.tsv and
images byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labutil.errors import UserError
from labutil.versions import software_versions
from stimuli.checks import BUILDER
from labutil.difficulty import IMPOSSIBLE, TRIVIAL, classify
from stimuli.exclusions import Exclusion, apply, describe_removals
from stimuli.render import render_pngs
from stimuli.selection import DIFFICULTY_ORDER, design_2afc, design_questionnaire, practice_split
from stimuli.sets import StimulusSet, write_set
from stimuli.sources import Source



def check_output(path: Path, force: bool) -> None:
    """Refuse an existing output set before any work (never overwrite; --force: empty folder only)."""
    if path.exists():
        if force and path.is_dir() and not any(path.iterdir()):
            return
        hint = "it is not an empty folder" if force else "choose a new --name (--force only writes into an empty folder)"
        raise UserError(f"{path}: stimulus set already exists; {hint}")


def check_counts(**counts: int) -> None:
    """Refuse negative counts and seeds (named by option)."""
    for option, value in counts.items():
        if value < 0:
            raise UserError(f"--{option.replace('_', '-')} must be >= 0, not {value}")


class Candidates:
    """Source images classified with a tolerance and filtered by exclusions."""

    def __init__(self, source: Source, tolerance: int, exclusions: Sequence[Exclusion]) -> None:
        self.source = source
        self.tolerance = tolerance
        self.exclusions = list(exclusions)
        images = source.images
        self.difficulty = classify(images["n_correct"].to_numpy(), images["n_models"].to_numpy(), tolerance)
        self.keep, self.records, self.counts = apply(self.difficulty, self.exclusions)

    def pool(self, difficulty: str) -> pd.DataFrame:
        """Remaining candidates of one difficulty."""
        return self.source.images[self.keep & (self.difficulty == difficulty)]

    def require(self, needed: dict[str, int], what: str) -> None:
        """A one-line UserError when a category has fewer candidates than needed."""
        after = self.counts["after_exclusions"]
        if all(after[d] >= n for d, n in needed.items()):
            return
        cats = tuple(needed)
        models = sorted(set(self.source.images["n_models"].tolist()))
        need = " and ".join(f"{n} {d}" for d, n in needed.items())
        have = ", ".join(f"{after[d]} {d}" for d in cats)
        before = ", ".join(f"{self.counts['before_exclusions'][d]} {d}" for d in cats)
        removed = describe_removals(self.records, self.exclusions, cats)
        raise UserError(
            f"not enough candidates for {what}: need {need} images, have {have} after exclusions "
            f"(tolerance {self.tolerance}, {'/'.join(map(str, models))} models; {before} before exclusions; {removed})"
        )


def build_2afc(
    source: Source,
    out: str | Path,
    n_test: int = 149,
    n_practice: int = 6,
    tolerance: int = 0,
    exclusions: Sequence[Exclusion] = (),
    seed: int = 0,
    class_balance: bool = False,
    display_size: int = 224,
    force: bool = False,
) -> StimulusSet:
    """Write a 2AFC set: `n_test` + `n_practice` pairs of one trivial and one impossible image."""
    out = Path(out)
    check_counts(pairs=n_test, practice_pairs=n_practice, seed=seed, display_size=display_size)
    if n_test < 1:
        raise UserError("--pairs must be at least 1")
    check_output(out, force)
    cand = Candidates(source, tolerance, exclusions)
    n = n_test + n_practice
    cand.require({TRIVIAL: n, IMPOSSIBLE: n}, f"{n_test} test + {n_practice} practice pairs")
    rng = np.random.default_rng(seed)
    pairs, design = design_2afc(cand.pool(TRIVIAL), cand.pool(IMPOSSIBLE), n_test, n_practice, rng, class_balance)

    stim_rows: list[tuple[str, int, str]] = []  # (stim_id, source row, difficulty) in trial order
    trials = []
    for i, p in enumerate(pairs.itertuples(index=False), start=1):
        left_row, right_row = (
            (p.impossible_row, p.trivial_row) if p.impossible_side == "left" else (p.trivial_row, p.impossible_row)
        )
        left = _stim_id(len(stim_rows) + 1)
        stim_rows.append((left, int(left_row), IMPOSSIBLE if p.impossible_side == "left" else TRIVIAL))
        right = _stim_id(len(stim_rows) + 1)
        stim_rows.append((right, int(right_row), TRIVIAL if p.impossible_side == "left" else IMPOSSIBLE))
        trials.append((i, p.phase, i, left, right, p.impossible_side))
    trial_df = pd.DataFrame(trials, columns=["trial", "phase", "pair_id", "left_stim", "right_stim", "impossible_side"])
    return _finish(cand, out, "2afc", stim_rows, trial_df, design, seed, display_size, force)


def build_questionnaire(
    source: Source,
    out: str | Path,
    n_per_difficulty: int = 100,
    n_practice: int = 6,
    tolerance: int = 0,
    exclusions: Sequence[Exclusion] = (),
    seed: int = 0,
    class_balance: bool = False,
    display_size: int = 224,
    force: bool = False,
) -> StimulusSet:
    """Write a questionnaire set: `n_per_difficulty` trivial, in-between and impossible images, plus practice."""
    out = Path(out)
    check_counts(per_difficulty=n_per_difficulty, practice=n_practice, seed=seed, display_size=display_size)
    if n_per_difficulty < 1:
        raise UserError("--per-difficulty must be at least 1")
    check_output(out, force)
    cand = Candidates(source, tolerance, exclusions)
    rng = np.random.default_rng(seed)
    practice = practice_split(n_practice, rng)
    cand.require(
        {d: n_per_difficulty + practice[d] for d in DIFFICULTY_ORDER},
        f"{n_per_difficulty} test images per difficulty + {n_practice} practice images",
    )
    pools = {d: cand.pool(d) for d in DIFFICULTY_ORDER}
    rows, design = design_questionnaire(pools, n_per_difficulty, practice, rng, class_balance)
    stim_rows = [(_stim_id(i), int(r.row), str(r.difficulty)) for i, r in enumerate(rows.itertuples(index=False), start=1)]
    trial_df = pd.DataFrame(
        {"trial": np.arange(1, len(rows) + 1), "phase": rows["phase"].to_numpy(), "stim_id": [s[0] for s in stim_rows]}
    )
    return _finish(cand, out, "questionnaire", stim_rows, trial_df, design, seed, display_size, force)


def _stim_id(i: int) -> str:
    return f"stim-{i:04d}"


def _finish(
    cand: Candidates,
    out: Path,
    kind: str,
    stim_rows: list[tuple[str, int, str]],
    trials: pd.DataFrame,
    design: dict[str, Any],
    seed: int,
    display_size: int,
    force: bool,
) -> StimulusSet:
    """Stimuli table, images and provenance; written once through stimuli.sets.write_set."""
    source = cand.source
    by_row = source.images.set_index("row")
    chosen = by_row.loc[[r for _, r, _ in stim_rows]]
    stimuli = pd.DataFrame(
        {
            "stim_id": [s for s, _, _ in stim_rows],
            "source_image_id": chosen["source_image_id"].to_numpy(),
            "label": chosen["label"].to_numpy(),
            "class_name": chosen["class_name"].to_numpy(),
            "n_correct": chosen["n_correct"].to_numpy(),
            "n_models": chosen["n_models"].to_numpy(),
            "difficulty": [d for _, _, d in stim_rows],
        }
    )
    missing = source.missing_files(chosen.reset_index())
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"source image {missing[0]} not found{more}; nothing written")
    images, rendering = render_pngs([(s, r) for s, r, _ in stim_rows], source.pixels, display_size)
    meta = {
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "builder": BUILDER,
        "software": software_versions(extra=("pillow",)),
        "seed": int(seed),
        "provenance": {
            "source": source.provenance,
            "tolerance": int(cand.tolerance),
            "difficulty_rule": "trivial: n_correct >= n_models - tolerance; impossible: n_correct <= tolerance",
            "exclusions": cand.records,
            "candidates": cand.counts,
        },
        "design": design,
        "rendering": {**source.rendering, **rendering},
    }
    return write_set(out, meta, stimuli, trials, images, force=force)
