"""Where a study's images are: recorded in the store at training time, found again by later commands.

Training writes `runs/<study>/data_location.json`: the resolved dataset root (and cache folder) and,
for image-file datasets, a fingerprint of each split (number of image files, SHA-256 of their
sorted relative paths). `stimuli`, the image statistics of `analysis` and anything else that needs
a study's pixels call `study_dataset(study, data_root)`: it returns the [dataset] table with the
root filled in (from `--data-root`, else the record, else older stores' run.json) and says in one
line when the images are no longer where they were or are not the same images.
See docs/formats.md, "Decisions store".
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labutil.errors import UserError

if TYPE_CHECKING:
    from model_runs.datasets import Dataset
    from model_runs.store import Study

LOCATION_FORMAT_VERSION = 1
SPLITS = ("train", "val")


def fingerprint(dataset: Dataset, splits: tuple[str, ...] = SPLITS) -> dict[str, dict[str, Any]]:
    """Per split of an image-file dataset: {"files": n, "sha256": hash of the sorted relative paths,
    one per line}. Splits that do not exist (no train/ of an evaluation-only ImageNet) are left out;
    array datasets have none."""
    if dataset.kind != "files":
        return {}
    root = Path(dataset.root)  # type: ignore[attr-defined]
    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        try:
            samples = dataset.samples(split)  # type: ignore[attr-defined]
        except UserError:
            if split == "val":
                raise
            continue
        rel = sorted(Path(os.path.relpath(path, root)).as_posix() for path, _ in samples)
        digest = hashlib.sha256("\n".join(rel).encode("utf-8")).hexdigest()
        out[split] = {"files": len(rel), "sha256": digest}
    return out


def current_location(dataset: Dataset) -> dict[str, str]:
    """The dataset's root and cache folder as absolute paths (a file dataset's root also when it
    came from its environment variable)."""
    out = {k: str(Path(v).expanduser().resolve()) for k, v in dataset.location().items()}
    if dataset.kind == "files":
        out["root"] = str(Path(dataset.root).expanduser().resolve())  # type: ignore[attr-defined]
    return out


def new_record(dataset: Dataset) -> dict[str, Any]:
    """The data_location.json record of the dataset as it is now (root, cache folder, fingerprint)."""
    return {"format_version": LOCATION_FORMAT_VERSION, "dataset": dataset.name, **current_location(dataset),
            "fingerprint": fingerprint(dataset), "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def check_record(study_dir: Path, record: dict[str, Any]) -> None:
    """Before training writes anything: the images must be those the study's earlier models saw
    (same file lists as recorded); else a UserError, since the models of one study share their data."""
    from model_runs.store import STUDY_FILE, open_study

    if not (Path(study_dir) / STUDY_FILE).is_file():
        return
    old = open_study(study_dir).data_location() or {}
    for split, now in record["fingerprint"].items():
        before = (old.get("fingerprint") or {}).get(split)
        if before and before != now:
            raise UserError(
                f"{record.get('root')}: the {split} images differ from those {study_dir} was trained on "
                f"({_files(before)} recorded, {_files(now)} now{_same_count(before, now)}); "
                f"point --data-root to the original images, or train a new study"
            )


def store_record(study: Study, record: dict[str, Any]) -> str | None:
    """Record where the images are (first run), or their new place (a run from elsewhere: same
    files, new root); returns a one-line note when they moved. An unchanged record is not rewritten."""
    old = study.data_location()
    if old is None:
        study.write_data_location(record)
        return None
    moved = any(old.get(k) != record.get(k) for k in ("root", "cache_dir"))
    if moved or (record["fingerprint"] and not old.get("fingerprint")):
        study.write_data_location(record)
    if moved and old.get("root") and record.get("root") and old["root"] != record["root"]:
        return f"note: {study.path}: the images are now at {record['root']} (were at {old['root']}); the study records the new place"
    return None


def _same_count(before: dict[str, Any], now: dict[str, Any]) -> str:
    return ", other file names" if before.get("files") == now.get("files") else ""


def _files(entry: dict[str, Any]) -> str:
    return f"{entry.get('files')} files"


def study_dataset(study: Study, data_root: str | Path | None = None) -> dict[str, Any]:
    """The study's [dataset] table with the place of its images: `data_root` (relative to the
    working directory) when given, else the recorded root. Missing images or a different set of
    validation files is one UserError line saying what was recorded and which option to use."""
    from model_runs.datasets import DATASETS

    config = dict(study.definition.get("dataset", {}))
    record = study.data_location() or {}
    if data_root is not None:
        config["root"] = str(Path(data_root).expanduser().resolve())
    elif record.get("root"):
        config["root"] = str(record["root"])
    else:
        config.update(_run_location(study))
    if record.get("cache_dir") and "cache_dir" not in config:
        config["cache_dir"] = str(record["cache_dir"])
    cls = DATASETS.get(str(config.get("name")))
    if cls is None or cls.kind != "files" or "root" not in config:
        return config
    root = Path(config["root"])
    given = "--data-root" if data_root is not None else "recorded"
    if not root.is_dir():
        if given == "recorded":
            raise UserError(f"{study.path}: the images were at {root} when the study was trained and are not there now; "
                            f"pass --data-root DIR with the folder they are in now")
        raise UserError(f"--data-root {data_root}: no such folder")
    before = (record.get("fingerprint") or {}).get("val")
    if before:
        from model_runs.datasets import open_dataset

        now = fingerprint(open_dataset(config), ("val",))["val"]
        if now != before:
            raise UserError(
                f"{root}: not the validation images {study.path} was trained on ({_files(before)} recorded, {_files(now)} here"
                f"{_same_count(before, now)}); "
                + ("pass --data-root DIR with the original images" if given == "recorded" else "check --data-root")
            )
    return config


def _run_location(study: Study) -> dict[str, Any]:
    """The location recorded in the models' run.json (stores written before data_location.json)."""
    from model_runs.datasets import LOCATION_KEYS

    for model_id in study.model_ids():
        try:
            loc = study.run_info(model_id).get("data_location") or {}
        except UserError:
            continue
        if loc:
            return {k: v for k, v in loc.items() if k in LOCATION_KEYS}
    return {}


__all__ = ["check_record", "current_location", "fingerprint", "new_record", "store_record", "study_dataset"]
