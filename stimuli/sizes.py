"""How many trials a set gets when the user does not say: what the source can give, at most the paper's numbers.

The paper's sets (149 test + 6 practice pairs; 100 images per difficulty + 6 practice images) fit
ImageNet; a small study has fewer candidates. An option left out (None) is filled from the
candidates left after exclusions; an option given is kept, and when the candidates do not suffice
the error names the option to change and the largest value that works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labutil.difficulty import IMPOSSIBLE, IN_BETWEEN, TRIVIAL

#: the paper's set sizes: the defaults when the source has enough candidates
PAPER_PAIRS, PAPER_PRACTICE_PAIRS = 149, 6
PAPER_PER_DIFFICULTY, PAPER_PRACTICE = 100, 6
#: practice trials taken per this many available ones when the source cannot give the paper's number
PRACTICE_SHARE = 10
LEVELS = (TRIVIAL, IN_BETWEEN, IMPOSSIBLE)
TOO_FEW = ("raise --tolerance, add models or images, or exclude fewer (e.g. --exclude-classes none, no --cleanlab) "
           "to get candidates of every difficulty the set needs")


@dataclass(frozen=True)
class Sizes:
    """The test and practice counts of a set, the options that set them, and which were filled in by default."""

    test: int
    practice: int
    options: tuple[str, str]  # ("--pairs", "--practice-pairs") or ("--per-difficulty", "--practice")
    defaulted: tuple[str, ...]

    def describe(self, unit: str, practice_unit: str) -> str:
        """'29 test + 3 practice pairs (as many as the candidates give, at most the paper's 149 + 6; ...)'."""
        counts = f"{self.test} test {unit} + {self.practice} practice {practice_unit}"
        test_opt, practice_opt = self.options
        if not self.defaulted:
            return f"{counts} (as asked)"
        if len(self.defaulted) == 2:
            return (f"{counts} (as many as the candidates give, at most the paper's {PAPER[test_opt]} + "
                    f"{PAPER[practice_opt]}; set them with {test_opt} and {practice_opt})")
        left = self.defaulted[0]
        return f"{counts} ({left} left out: at most {PAPER[left]}, as many as the candidates leave)"


PAPER = {"--pairs": PAPER_PAIRS, "--practice-pairs": PAPER_PRACTICE_PAIRS,
         "--per-difficulty": PAPER_PER_DIFFICULTY, "--practice": PAPER_PRACTICE}


def _default_practice(available: int, paper: int) -> int:
    """The paper's practice count if the source has room for the paper's set, else one per PRACTICE_SHARE available."""
    if available >= PAPER_PAIRS + paper:
        return paper
    return min(paper, available // PRACTICE_SHARE)


def sizes_2afc(after: dict[str, int], pairs: int | None, practice: int | None) -> Sizes:
    """Test and practice pairs (each takes one trivial and one impossible candidate); given values are kept."""
    available = min(after[TRIVIAL], after[IMPOSSIBLE])
    defaulted = tuple(o for o, v in (("--pairs", pairs), ("--practice-pairs", practice)) if v is None)
    if practice is None:
        room = available if pairs is None else max(0, available - pairs)
        practice = min(_default_practice(available, PAPER_PRACTICE_PAIRS), room)
    if pairs is None:
        pairs = max(1, min(PAPER_PAIRS, available - practice))
    return Sizes(pairs, practice, ("--pairs", "--practice-pairs"), defaulted)


def fix_2afc(after: dict[str, int], sizes: Sizes) -> str:
    """What to change when the candidates do not give `sizes`: the option and the largest value that works."""
    available = min(after[TRIVIAL], after[IMPOSSIBLE])
    if available == 0:
        return TOO_FEW
    pairs, practice = sizes.test, sizes.practice
    fixes = []
    if available - practice >= 1 and "--pairs" not in sizes.defaulted:
        fixes.append(f"--pairs {available - practice} or fewer")
    if pairs <= available and "--practice-pairs" not in sizes.defaulted:
        fixes.append(f"--practice-pairs {available - pairs} or fewer")
    if not fixes:
        fixes.append(f"--practice-pairs {available - 1} or fewer")
    return _fix(fixes, sizes)


def _fix(fixes: list[str], sizes: Sizes) -> str:
    more = "" if len(sizes.defaulted) == 2 else "; leaving both size options out takes what the source gives"
    return "use " + " or ".join(fixes) + more


def practice_per_difficulty(practice: int, seed: int) -> dict[str, int]:
    """The practice images per difficulty the build will draw with this seed (its first random step)."""
    import numpy as np

    from stimuli.selection import practice_split

    return practice_split(practice, np.random.default_rng(seed))


def sizes_questionnaire(after: dict[str, int], per_difficulty: int | None, practice: int | None, seed: int) -> Sizes:
    """Test images per difficulty and practice images (split over the difficulties as the build splits them)."""
    fewest = min(after[d] for d in LEVELS)
    defaulted = tuple(o for o, v in (("--per-difficulty", per_difficulty), ("--practice", practice)) if v is None)
    if practice is None:
        practice = PAPER_PRACTICE if fewest >= PAPER_PER_DIFFICULTY + PAPER_PRACTICE // 3 else \
            min(PAPER_PRACTICE, 3 * (fewest // PRACTICE_SHARE))
        if per_difficulty is not None:
            practice = min(practice, 3 * max(0, fewest - per_difficulty))
    if per_difficulty is None:
        split = practice_per_difficulty(practice, seed)
        per_difficulty = max(1, min(PAPER_PER_DIFFICULTY, min(after[d] - split[d] for d in LEVELS)))
    return Sizes(per_difficulty, practice, ("--per-difficulty", "--practice"), defaulted)


def fix_questionnaire(after: dict[str, int], sizes: Sizes, seed: int) -> str:
    """What to change when the candidates do not give `sizes`: the option and the largest value that works."""
    split = practice_per_difficulty(sizes.practice, seed)
    room = min(after[d] - split[d] for d in LEVELS)
    if min(after[d] for d in LEVELS) == 0:
        return TOO_FEW
    fewest = min(after[d] for d in LEVELS)
    fixes = []
    if room >= 1 and "--per-difficulty" not in sizes.defaulted:
        fixes.append(f"--per-difficulty {room} or fewer")
    if fewest >= sizes.test and "--practice" not in sizes.defaulted:
        fixes.append(f"--practice {3 * (fewest - sizes.test)} or fewer")
    if not fixes:
        fixes.append(f"--practice {3 * (fewest - 1)} or fewer" if "--per-difficulty" in sizes.defaulted
                     else f"--per-difficulty {fewest} or fewer")
    return _fix(fixes, sizes)


def chosen_line(kind: str, after: dict[str, int], tolerance: int, sizes: Sizes) -> str:
    """The line a build prints: the candidates of each difficulty and the sizes chosen."""
    have = ", ".join(f"{after[d]} {d}" for d in LEVELS)
    what = ("pairs", "pairs") if kind == "2afc" else ("images per difficulty", "images")
    return f"candidates after exclusions (tolerance {tolerance}): {have}; chose {sizes.describe(*what)}"


def exclusion_name(rec: dict[str, Any]) -> tuple[str, str]:
    """What an exclusion record is called on the terminal, and the option change that brings its images back."""
    if rec.get("kind") == "classes":
        return f"excluded classes ({Path(str(rec.get('file', ''))).name})", "--exclude-classes none"
    source = rec.get("from")
    if source == "cleanlab":
        return "label issues (cleanlab)", "no --cleanlab"
    if source == "column":
        return f"label errors (column {rec.get('column')})", f"no --label-error-column {rec.get('column')}"
    return f"label errors ({Path(str(rec.get('file', ''))).name})", f"no --label-errors {rec.get('file')}"


def built_lines(meta: dict[str, Any]) -> list[str]:
    """What a finished build tells the terminal: images left out (with the option that brings them in),
    the candidates of each difficulty and the set sizes chosen."""
    prov = meta.get("provenance", {})
    cand = prov.get("candidates", {})
    before, after = cand.get("before_exclusions", {}), cand.get("after_exclusions", {})
    lines = []
    left_out = int(before.get("total", 0)) - int(after.get("total", 0))
    if left_out:
        parts = []
        for rec in prov.get("exclusions", []):
            removed = rec.get("removed", {})
            if not removed.get("total"):
                continue
            name, flag = exclusion_name(rec)
            counts = ", ".join(f"{removed.get(d, 0)} {d}" for d in LEVELS)
            parts.append(f"{name} {removed['total']} ({counts}; {flag} brings them in)")
        lines.append(f"left out {left_out} of {before.get('total', 0)} images: " + "; ".join(parts))
    design = meta.get("design", {})
    if meta.get("kind") == "2afc":
        sizes = Sizes(int(design.get("test_pairs", 0)), int(design.get("practice_pairs", 0)),
                      ("--pairs", "--practice-pairs"), tuple(prov.get("sizes_by_default", [])))
    else:
        sizes = Sizes(int(design.get("test_per_difficulty", 0)), int(design.get("practice_images", 0)),
                      ("--per-difficulty", "--practice"), tuple(prov.get("sizes_by_default", [])))
    if after:
        lines.append(chosen_line(str(meta.get("kind")), after, int(prov.get("tolerance", 0)), sizes))
    return lines
