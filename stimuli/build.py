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

from labutil.bounds import MAX_DISPLAY_SIZE, MAX_SET_IMAGES, check_range
from labutil.errors import UserError
from labutil.versions import software_versions
from stimuli.checks import BUILDER
from labutil.difficulty import DEFAULT_TOLERANCE, IMPOSSIBLE, RULE_TEXT, TRIVIAL, classify
from stimuli.exclusions import Exclusion, apply, describe_removals
from stimuli.render import render_pngs
from stimuli.selection import DIFFICULTY_ORDER, design_2afc, design_questionnaire, practice_split
from stimuli.sets import StimulusSet, write_set
from stimuli.sizes import Sizes, fix_2afc, fix_questionnaire, sizes_2afc, sizes_questionnaire
from stimuli.sources import Source



def check_output(path: Path, force: bool) -> None:
    """Refuse an existing output set before any work (never overwrite; --force: empty folder only)."""
    if path.exists():
        if force and path.is_dir() and not any(path.iterdir()):
            return
        hint = "it is not an empty folder" if force else "choose a new --name (--force only writes into an empty folder)"
        raise UserError(f"{path}: stimulus set already exists; {hint}")


def check_counts(**counts: int) -> None:
    """Refuse negative counts and seeds (named by option), a display size above MAX_DISPLAY_SIZE
    and more images than MAX_SET_IMAGES, before anything is read or allocated."""
    for option, value in counts.items():
        if value < 0:
            raise UserError(f"--{option.replace('_', '-')} must be >= 0, not {value}")
    if "display_size" in counts:
        check_range("--display-size", counts["display_size"], 0, MAX_DISPLAY_SIZE, "px")
    images = {"pairs": 2, "practice_pairs": 2, "per_difficulty": 3, "practice": 1}
    for option, per in images.items():
        if option in counts:
            check_range(f"--{option.replace('_', '-')}", counts[option], 0, MAX_SET_IMAGES // per)
    total = sum(counts.get(option, 0) * per for option, per in images.items())
    if total > MAX_SET_IMAGES:
        raise UserError(f"{total} images asked for: a set holds at most {MAX_SET_IMAGES}")


class Candidates:
    """Source images classified with a tolerance and filtered by exclusions."""

    def __init__(self, source: Source, tolerance: int, exclusions: Sequence[Exclusion]) -> None:
        self.source = source
        self.tolerance = tolerance
        self.exclusions = list(exclusions)
        images = source.images
        self.difficulty = classify(images["n_correct"].to_numpy(), images["n_models"].to_numpy(), tolerance)
        self.keep, self.records, self.counts = apply(self.difficulty, self.exclusions)
        self.sizes: Sizes | None = None

    def pool(self, difficulty: str) -> pd.DataFrame:
        """Remaining candidates of one difficulty."""
        return self.source.images[self.keep & (self.difficulty == difficulty)]

    def require(self, needed: dict[str, int], what: str, fix: str = "") -> None:
        """A one-line UserError when a category has fewer candidates than needed (ending with `fix`: what to change)."""
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
            + (f"; {fix}" if fix else "")
        )


def build_2afc(
    source: Source,
    out: str | Path,
    n_test: int | None = None,
    n_practice: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    exclusions: Sequence[Exclusion] = (),
    seed: int = 0,
    class_balance: bool = False,
    display_size: int = 224,
    force: bool = False,
) -> StimulusSet:
    """Write a 2AFC set: `n_test` + `n_practice` pairs of one trivial and one impossible image
    (None: as many as the candidates give, at most the paper's 149 + 6; stimuli.sizes)."""
    out = Path(out)
    check_counts(**_given(pairs=n_test, practice_pairs=n_practice), seed=seed, display_size=display_size)
    if n_test is not None and n_test < 1:
        raise UserError("--pairs must be at least 1")
    check_output(out, force)
    cand = Candidates(source, tolerance, exclusions)
    cand.sizes = sizes_2afc(cand.counts["after_exclusions"], n_test, n_practice)
    n_test, n_practice = cand.sizes.test, cand.sizes.practice
    n = n_test + n_practice
    cand.require({TRIVIAL: n, IMPOSSIBLE: n}, f"{n_test} test + {n_practice} practice pairs",
                 fix_2afc(cand.counts["after_exclusions"], cand.sizes))
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
    n_per_difficulty: int | None = None,
    n_practice: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    exclusions: Sequence[Exclusion] = (),
    seed: int = 0,
    class_balance: bool = False,
    display_size: int = 224,
    force: bool = False,
) -> StimulusSet:
    """Write a questionnaire set: `n_per_difficulty` trivial, in-between and impossible images, plus practice
    (None: as many as the candidates give, at most the paper's 100 per difficulty + 6; stimuli.sizes)."""
    out = Path(out)
    check_counts(**_given(per_difficulty=n_per_difficulty, practice=n_practice), seed=seed, display_size=display_size)
    if n_per_difficulty is not None and n_per_difficulty < 1:
        raise UserError("--per-difficulty must be at least 1")
    check_output(out, force)
    cand = Candidates(source, tolerance, exclusions)
    cand.sizes = sizes_questionnaire(cand.counts["after_exclusions"], n_per_difficulty, n_practice, seed)
    n_per_difficulty, n_practice = cand.sizes.test, cand.sizes.practice
    rng = np.random.default_rng(seed)
    practice = practice_split(n_practice, rng)
    cand.require(
        {d: n_per_difficulty + practice[d] for d in DIFFICULTY_ORDER},
        f"{n_per_difficulty} test images per difficulty + {n_practice} practice images",
        fix_questionnaire(cand.counts["after_exclusions"], cand.sizes, seed),
    )
    pools = {d: cand.pool(d) for d in DIFFICULTY_ORDER}
    rows, design = design_questionnaire(pools, n_per_difficulty, practice, rng, class_balance)
    stim_rows = [(_stim_id(i), int(r.row), str(r.difficulty)) for i, r in enumerate(rows.itertuples(index=False), start=1)]
    trial_df = pd.DataFrame(
        {"trial": np.arange(1, len(rows) + 1), "phase": rows["phase"].to_numpy(), "stim_id": [s[0] for s in stim_rows]}
    )
    return _finish(cand, out, "questionnaire", stim_rows, trial_df, design, seed, display_size, force)


def _given(**counts: int | None) -> dict[str, int]:
    """The size options the caller gave (None: chosen from the candidates later)."""
    return {k: v for k, v in counts.items() if v is not None}


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
            "difficulty_rule": RULE_TEXT,
            "exclusions": cand.records,
            "candidates": cand.counts,
            "sizes_by_default": list(cand.sizes.defaulted) if cand.sizes else [],
        },
        "design": design,
        "rendering": {**source.rendering, **rendering},
    }
    return write_set(out, meta, stimuli, trials, images, force=force)
