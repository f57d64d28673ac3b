"""Reader, writer and verifier of stimulus sets `stimulus_sets/<name>/` (see docs/formats.md).

A set is written once, into a temporary folder that is renamed into place, so a set either
exists whole or not at all. Every other package reads sets through `read_set`.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from labutil.errors import UserError
from labutil.io import (find_temp_files, fsync_dir, is_temp_name, make_temp_dir, raise_if_disk_full, read_json_object, remove_leftovers, write_json)

SET_FORMAT_VERSION = 1
SET_FILE = "set.json"
STIMULI_FILE = "stimuli.tsv"
TRIALS_FILE = "trials.tsv"
IMAGES_DIR = "images"
#: `set.json` value of `"images"` for a set imported from a published table without its images
#: (e.g. the original study's reference data): `file` and `sha256` are `n/a`, there is no
#: `images/` folder, the set can be analysed but not shown (`open_verified_set` refuses it).
IMAGES_NOT_INCLUDED = "not included"

Kind = Literal["2afc", "questionnaire"]
KINDS: tuple[str, ...] = ("2afc", "questionnaire")
DIFFICULTIES: tuple[str, ...] = ("trivial", "in-between", "impossible")
PHASES: tuple[str, ...] = ("practice", "test")
SIDES: tuple[str, ...] = ("left", "right")

STIMULI_COLUMNS = [
    "stim_id", "file", "source_image_id", "label", "class_name",
    "n_correct", "n_models", "difficulty", "sha256",
]
TRIAL_COLUMNS: dict[str, list[str]] = {
    "2afc": ["trial", "phase", "pair_id", "left_stim", "right_stim", "impossible_side"],
    "questionnaire": ["trial", "phase", "stim_id"],
}


@dataclass(frozen=True)
class StimulusSet:
    """A stimulus set as read from disk."""

    path: Path
    meta: dict[str, Any]
    stimuli: pd.DataFrame
    trials: pd.DataFrame

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def has_images(self) -> bool:
        """False for a set imported without its images (`"images": "not included"` in set.json)."""
        return self.meta.get("images") != IMAGES_NOT_INCLUDED

    @property
    def tables_sha256(self) -> str:
        """Checksum of the set's two tables (which hold every image's SHA-256): identifies its
        content. Sessions record it, so an analysis can tell a rebuilt set of the same name."""
        h = hashlib.sha256()
        for name in (STIMULI_FILE, TRIALS_FILE):
            h.update(name.encode() + b"\0" + (self.path / name).read_bytes())
        return h.hexdigest()

    def image_path(self, stim_id: str) -> Path:
        """Absolute path of one stimulus image."""
        row = self.stimuli.loc[self.stimuli["stim_id"] == stim_id]
        if row.empty:
            raise KeyError(stim_id)
        if not self.has_images:
            raise UserError(f"{self.path}: images not included in this set (imported table)")
        return self.path / str(row["file"].iloc[0])

    def test_trials(self) -> pd.DataFrame:
        return self.trials[self.trials["phase"] == "test"].reset_index(drop=True)

    def practice_trials(self) -> pd.DataFrame:
        return self.trials[self.trials["phase"] == "practice"].reset_index(drop=True)


def png_bytes(image: Any) -> bytes:
    """Encode a PIL image (or HxW[xC] uint8 array) as a deterministic lossless PNG."""
    from PIL import Image
    import numpy as np

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_set(
    path: str | Path,
    meta: dict[str, Any],
    stimuli: pd.DataFrame,
    trials: pd.DataFrame,
    images: dict[str, bytes],
    force: bool = False,
) -> StimulusSet:
    """Write a complete stimulus set once.

    `stimuli` has every STIMULI_COLUMNS column except `file` and `sha256`, which are filled in
    here from `images` (stim_id -> PNG bytes). An existing path is refused unless it is an empty
    folder and `force` is set: sets are never overwritten. With `meta["images"] ==
    IMAGES_NOT_INCLUDED`, `images` must be empty and `file`/`sha256` are written as `n/a`.
    """
    path = Path(path)
    kind = meta.get("kind")
    if kind not in KINDS:
        raise ValueError(f"meta['kind'] must be one of {KINDS}, not {kind!r}")
    if path.exists():
        if not (force and path.is_dir() and not any(path.iterdir())):
            hint = "" if force else " (choose a new name; --force only writes into an empty folder)"
            raise UserError(f"{path}: stimulus set already exists{hint}")
    stim = stimuli.copy()
    if meta.get("images") == IMAGES_NOT_INCLUDED:
        if images:
            raise ValueError(f"a set with images '{IMAGES_NOT_INCLUDED}' takes no images")
        stim["file"] = "n/a"
        stim["sha256"] = "n/a"
    else:
        missing_images = [s for s in stim["stim_id"] if s not in images]
        if missing_images:
            raise ValueError(f"no image for stimuli {missing_images[:5]}")
        stim["file"] = [f"{IMAGES_DIR}/{s}.png" for s in stim["stim_id"]]
        stim["sha256"] = [sha256_bytes(images[s]) for s in stim["stim_id"]]
    stim = stim[STIMULI_COLUMNS]
    trials = trials[TRIAL_COLUMNS[kind]]
    record = {"format_version": SET_FORMAT_VERSION, "name": path.name, **meta}
    problems = _check_tables(record, stim, trials)
    if problems:
        raise ValueError("inconsistent stimulus set: " + "; ".join(problems))

    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent, legacy=_legacy_build)  # the temporary folders of killed builds
    tmp = make_temp_dir(path)  # group-readable like every output (docs/formats.md, permissions)
    try:
        with_images = meta.get("images") != IMAGES_NOT_INCLUDED
        if with_images:
            (tmp / IMAGES_DIR).mkdir()
        listed = set(stim["stim_id"])
        for stim_id, data in images.items():
            if stim_id in listed:
                _write_synced(tmp / IMAGES_DIR / f"{stim_id}.png", data)
        tables = {STIMULI_FILE: _tsv(stim), TRIALS_FILE: _tsv(trials)}
        for name, data in tables.items():
            _write_synced(tmp / name, data)
        record["tables_sha256"] = {name: sha256_bytes(data) for name, data in tables.items()}
        write_json(tmp / SET_FILE, record)
        if with_images:
            fsync_dir(tmp / IMAGES_DIR)
        if path.exists():  # an empty folder allowed by --force
            path.rmdir()
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise_if_disk_full(exc, path)
        raise
    return read_set(path)


def _tsv(df: pd.DataFrame) -> bytes:
    return df.to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_set(path: str | Path) -> StimulusSet:
    """Read a stimulus set; missing files or columns are a UserError naming the file."""
    path = Path(path)
    if not (path / SET_FILE).is_file():
        raise UserError(f"{path}: not a stimulus set (no {SET_FILE})")
    meta = read_json_object(path / SET_FILE)
    if not isinstance(meta.get("kind"), str) or meta["kind"] not in KINDS:
        raise UserError(f"{path / SET_FILE}: kind must be one of {', '.join(KINDS)}")
    stimuli = _read_tsv(path / STIMULI_FILE, STIMULI_COLUMNS)
    trials = _read_tsv(path / TRIALS_FILE, TRIAL_COLUMNS[meta["kind"]])
    return StimulusSet(path, meta, stimuli, trials)


def _read_tsv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing columns {missing}")
    for col in ("trial", "label", "n_correct", "n_models", "pair_id"):
        if col in df.columns:
            bad = ~df[col].str.fullmatch(r"-?[0-9]+")
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0]) + 2
                raise UserError(f"{path}: row {row}: column '{col}' must be an integer")
            df[col] = df[col].astype(int)
    return df


def _check_tables(meta: dict[str, Any], stimuli: pd.DataFrame, trials: pd.DataFrame) -> list[str]:
    """Consistency of the trial table with the stimuli table; returns problems found."""
    problems: list[str] = []
    ids = set(stimuli["stim_id"])
    if len(ids) != len(stimuli):
        problems.append(f"{STIMULI_FILE}: duplicate stim_id")
    bad_diff = set(stimuli["difficulty"]) - set(DIFFICULTIES)
    if bad_diff:
        problems.append(f"{STIMULI_FILE}: unknown difficulty {sorted(bad_diff)}")
    if sorted(trials["trial"].astype(int)) != list(range(1, len(trials) + 1)):
        problems.append(f"{TRIALS_FILE}: trial must number 1..{len(trials)}")
    bad_phase = set(trials["phase"]) - set(PHASES)
    if bad_phase:
        problems.append(f"{TRIALS_FILE}: unknown phase {sorted(bad_phase)}")
    refs = ["left_stim", "right_stim"] if meta["kind"] == "2afc" else ["stim_id"]
    for col in refs:
        unknown = set(trials[col]) - ids
        if unknown:
            problems.append(f"{TRIALS_FILE}: {col} not in {STIMULI_FILE}: {sorted(unknown)[:3]}")
    if meta["kind"] == "2afc" and not problems:
        difficulty = dict(zip(stimuli["stim_id"], stimuli["difficulty"]))
        bad_side = set(trials["impossible_side"]) - set(SIDES)
        if bad_side:
            problems.append(f"{TRIALS_FILE}: impossible_side must be left or right")
        for row in trials.itertuples():
            imp = row.left_stim if row.impossible_side == "left" else row.right_stim
            other = row.right_stim if row.impossible_side == "left" else row.left_stim
            if difficulty.get(imp) != "impossible" or difficulty.get(other) != "trivial":
                problems.append(f"{TRIALS_FILE}: trial {row.trial}: impossible_side does not match the stimuli difficulties")
                break
    return problems


def verify_set(path: str | Path) -> list[str]:
    """Check every image against its checksum and the tables against each other.

    Returns a list of problems, each naming the file; an empty list means the set is intact.
    """
    path = Path(path)
    try:
        sset = read_set(path)
    except UserError as exc:
        return [str(exc)]
    problems = _check_tables(sset.meta, sset.stimuli, sset.trials)
    for extra in sorted(path.iterdir()):
        if extra.name not in (SET_FILE, STIMULI_FILE, TRIALS_FILE, IMAGES_DIR):
            problems.append(f"{extra}: not part of a stimulus set")
    recorded = sset.meta.get("tables_sha256")
    if not isinstance(recorded, dict):
        problems.append(f"{path / SET_FILE}: records no checksums of its tables (tables_sha256)")
    else:
        for name in (STIMULI_FILE, TRIALS_FILE):
            if recorded.get(name) != sha256_file(path / name):
                problems.append(f"{path / name}: checksum mismatch (table changed since the set was written)")
    if not sset.has_images:  # imported table: nothing to checksum, and no stray images allowed
        if (path / IMAGES_DIR).exists():
            problems.append(f"{path / IMAGES_DIR}: images folder in a set marked images '{IMAGES_NOT_INCLUDED}'")
        return problems
    for row in sset.stimuli.itertuples():
        file = path / row.file
        if row.file != f"{IMAGES_DIR}/{Path(row.file).name}":
            problems.append(f"{path / STIMULI_FILE}: file '{row.file}' of {row.stim_id} lies outside {IMAGES_DIR}/")
        elif not file.is_file():
            problems.append(f"{file}: missing")
        elif sha256_file(file) != row.sha256:
            problems.append(f"{file}: checksum mismatch (file changed since the set was written)")
    listed = {Path(f).name for f in sset.stimuli["file"]}
    for extra in sorted((path / IMAGES_DIR).glob("*")):
        if extra.name not in listed:
            problems.append(f"{extra}: not listed in {STIMULI_FILE}")
    return problems


def _legacy_build(path: Path) -> bool:
    """True for a temporary folder of an older version's build (it holds a set's files)."""
    return path.is_dir() and any((path / name).exists() for name in (IMAGES_DIR, STIMULI_FILE, TRIALS_FILE, SET_FILE))


def leftovers_beside(path: str | Path) -> list[Path]:
    """Temporary folders and files of killed builds in the folder that holds the set (the next
    build removes those whose process is gone)."""
    return [p for p in find_temp_files(Path(path).parent) if is_temp_name(p.name, legacy=False) or _legacy_build(p)]


def open_verified_set(path: str | Path, require_images: bool = True) -> StimulusSet:
    """Read a set after verifying it; the first problem becomes a UserError. A set without
    images (imported table) is refused unless `require_images` is False (analysis only)."""
    problems = verify_set(path)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UserError(f"stimulus set fails verification: {problems[0]}{more}")
    sset = read_set(path)
    if require_images and not sset.has_images:
        raise UserError(f"{sset.path}: images not included in this set (imported table); it can be analysed, not shown")
    return sset
