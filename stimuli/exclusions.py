"""Images never to show: excluded classes and images with likely label errors.

Each exclusion is a boolean mask over the source's images plus a provenance record; `apply`
counts, per difficulty, how many images each exclusion removes (each counted on its own, so
overlapping exclusions both count an image) and how many remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labutil.errors import UserError
from labutil.difficulty import IMPOSSIBLE, IN_BETWEEN, TRIVIAL
from stimuli.sets import sha256_file
from stimuli.sources import Source

#: ImageNet classes whose images commonly show people (user-editable copy: see the file's header)
DEFAULT_CLASS_FILE = Path(__file__).resolve().parent / "data" / "imagenet_person_classes.txt"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", "", "n/a", "nan"}


@dataclass(frozen=True)
class Exclusion:
    """One reason to exclude images: a mask over the source rows and what it was built from."""

    name: str  # short description for messages, e.g. "excluded classes (imagenet_person_classes.txt)"
    mask: np.ndarray  # bool (n_images,), True = excluded
    record: dict[str, Any]


def read_list_file(path: str | Path, what: str) -> list[str]:
    """Entries of a list file: the first word of each line, '#' starts a comment, blank lines skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable {what} file ({exc})") from None
    entries = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            entries.append(words[0])
    return entries


def excluded_classes(source: Source, path: str | Path) -> Exclusion:
    """Images whose class name is listed in `path` (one class per line)."""
    path = Path(path)
    classes = read_list_file(path, "class list")
    mask = source.images["class_name"].isin(set(classes)).to_numpy()
    record = {
        "kind": "classes",
        "file": str(path.resolve()),
        "sha256": sha256_file(path),
        "classes": classes,
        "classes_present": int(source.images.loc[mask, "class_name"].nunique()),
    }
    return Exclusion(f"excluded classes ({path.name})", mask, record)


def label_errors_from_file(source: Source, path: str | Path) -> Exclusion:
    """Images whose source image id is listed in `path` (one id per line)."""
    path = Path(path)
    ids = read_list_file(path, "label-error list")
    listed = set(ids)
    mask = source.images["source_image_id"].isin(listed).to_numpy()
    unmatched = len(listed - set(source.images["source_image_id"]))
    record = {
        "kind": "label_errors",
        "from": "file",
        "file": str(path.resolve()),
        "sha256": sha256_file(path),
        "n_listed": len(listed),
        "n_unmatched": unmatched,
    }
    return Exclusion(f"label errors ({path.name})", mask, record)


def label_errors_from_column(source: Source, column: str) -> Exclusion:
    """Images flagged (1/true/yes) in a column of the imported table."""
    if source.table is None:
        raise UserError("--label-error-column needs a --table source (for a study use --cleanlab or --label-errors FILE)")
    table = source.table
    where = source.provenance["path"]
    if column not in table.columns:
        raise UserError(f"{where}: no column '{column}' for --label-error-column")
    values = table[column].str.strip().str.lower()
    bad = ~values.isin(_TRUE | _FALSE)
    if bad.any():
        r = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"{where}: row {r + 2}: column '{column}' must be 1/0 or true/false, not '{table[column].iloc[r]}'")
    mask = values.isin(_TRUE).to_numpy()
    return Exclusion(f"label errors (column {column})", mask, {"kind": "label_errors", "from": "column", "column": column})


def label_errors_from_cleanlab(source: Source) -> Exclusion:
    """Images cleanlab marks as likely mislabelled, from the study's stored final-epoch probabilities."""
    if source.study is None:
        raise UserError("--cleanlab needs a --study source whose models stored class probabilities")
    try:
        from analysis.models.label_issues import label_issue_mask
    except ImportError:
        raise UserError("--cleanlab needs analysis.models.label_issues, which is not installed") from None
    mask = np.asarray(label_issue_mask(source.study, "probabilities"), dtype=bool)
    if mask.shape != (len(source.images),):
        raise UserError(f"{source.study.path}: cleanlab marks cover {mask.size} images, the study has {len(source.images)}")
    record = {
        "kind": "label_errors",
        "from": "cleanlab",
        "method": "analysis.models.label_issues.label_issue_mask(study, 'probabilities'): cleanlab find_label_issues on the "
        "mean final-epoch probabilities of the study's complete models that stored them",
    }
    return Exclusion("label errors (cleanlab)", mask, record)


def apply(difficulty: np.ndarray, exclusions: list[Exclusion]) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
    """Keep-mask after all exclusions, per-exclusion records with removed counts, and category counts."""
    keep = np.ones(len(difficulty), dtype=bool)
    records = []
    for exc in exclusions:
        keep &= ~exc.mask
        records.append({**exc.record, "removed": _by_difficulty(difficulty[exc.mask])})
    counts = {"before_exclusions": _by_difficulty(difficulty), "after_exclusions": _by_difficulty(difficulty[keep])}
    return keep, records, counts


def _by_difficulty(difficulty: np.ndarray) -> dict[str, int]:
    return {
        TRIVIAL: int(np.sum(difficulty == TRIVIAL)),
        IN_BETWEEN: int(np.sum(difficulty == IN_BETWEEN)),
        IMPOSSIBLE: int(np.sum(difficulty == IMPOSSIBLE)),
        "total": int(len(difficulty)),
    }


def describe_removals(records: list[dict[str, Any]], exclusions: list[Exclusion], categories: tuple[str, ...]) -> str:
    """'excluded classes (x.txt) removed 3 trivial, 1 impossible; ...' for error messages."""
    if not exclusions:
        return "no exclusions applied"
    parts = []
    for exc, rec in zip(exclusions, records):
        counts = ", ".join(f"{rec['removed'][c]} {c}" for c in categories)
        parts.append(f"{exc.name} removed {counts}")
    return "; ".join(parts)
