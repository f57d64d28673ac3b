"""The decisions store: reader and writer of `runs/<study>/` (see docs/formats.md).

Every other package reads model decisions through `open_study`; nothing else parses these files.
Format 2 keeps each model's decisions as two row files, one row per committed epoch: correctness as
packed bits (`correct.bits`) and top-1 predictions as int16 (`prediction.int16`). An epoch is
committed when its entry lands in `run.json` (row r belongs to the r-th listed epoch); its rows are
appended and fsynced before that, so readers only ever see committed epochs and a killed run never
leaves a half-written one. Stores of format 1 (Parquet decisions) are read as they are, and
`migrate_study` rewrites them in format 2.
"""

from __future__ import annotations

import copy
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labutil.errors import UserError
from labutil.io import atomic_write_bytes, atomic_write_text, read_json, read_toml, remove_leftovers, write_json

STORE_FORMAT_VERSION = 2
STUDY_FILE = "study.toml"
IMAGES_FILE = "images.parquet"
DATA_LOCATION_FILE = "data_location.json"  # where the images were at training time, and their fingerprint
RUN_FILE = "run.json"
CORRECT_FILE = "correct.bits"  # format 2: uint8 rows of ceil(n_images / 8) bytes, np.packbits (big bit order)
PREDICTION_FILE = "prediction.int16"  # format 2: little-endian int16 rows of n_images
DECISIONS_FILE = "decisions.parquet"  # format 1: all epochs of a complete run
TRAIN_DECISIONS_FILE = "train_decisions.parquet"
PROBABILITIES_FILE = "probabilities.npy"
PARTS_PREFIX = "decisions"  # format 1, running runs: decisions.epoch-NNNN.parquet beside run.json
TRAIN_PARTS_PREFIX = "train_decisions"
PREDICTION_DTYPE = np.dtype("<i2")
# Optional learning-dynamics files (format 2, see docs/formats.md): float16 row files, one row per
# committed epoch, appended before run.json commits the epoch (as correct.bits); and final-epoch activations.
DYNAMICS_FILES = {  # (split, quantity) -> file name
    ("val", "probability"): "val_probability.f16",
    ("val", "margin"): "val_margin.f16",
    ("train", "probability"): "train_probability.f16",
    ("train", "margin"): "train_margin.f16",
}
DYNAMICS_DTYPE = np.dtype("<f2")
TRAIN_LABELS_FILE = "train_labels.int16"  # the training labels the model was trained on (after random_labels)
ACTIVATIONS_FILE = "activations.npy"  # float16 (k, d): penultimate-layer activations at the final epoch
ACTIVATION_INDEX_FILE = "activation_index.npy"  # int64 (k,): the validation images they belong to
STORE_OPTIONS_KEY = "store_options"  # run.json: what this model stores beyond the decisions

Status = Literal["pending", "running", "complete", "failed"]
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

IMAGES_SCHEMA = pa.schema(
    [("image_index", pa.int32()), ("image_id", pa.string()), ("label", pa.int32()), ("class_name", pa.string())]
)
DECISIONS_SCHEMA = pa.schema(
    [("epoch", pa.int16()), ("image_index", pa.int32()), ("prediction", pa.int32()), ("correct", pa.bool_())]
)


# --------------------------------------------------------------------------------------------
# Results returned to readers


@dataclass(frozen=True)
class DecisionMatrix:
    """Correctness of several models (rows) on the same validation images (columns)."""

    correct: np.ndarray  # bool (n_models, n_images)
    model_ids: list[str]
    image_index: np.ndarray  # int (n_images,)
    epochs: np.ndarray  # int (n_models,): the epoch each row comes from


@dataclass(frozen=True)
class EpochDecisions:
    """All committed epochs of one model: correctness and predictions as (n_epochs, n_images)."""

    model_id: str
    epochs: np.ndarray  # int (n_epochs,)
    correct: np.ndarray  # bool (n_epochs, n_images)
    prediction: np.ndarray | None  # int (n_epochs, n_images), int16 in format 2; None if read with with_prediction=False
    image_index: np.ndarray


# --------------------------------------------------------------------------------------------
# Row files of format 2


def packed_width(n_images: int) -> int:
    """Bytes of one packed-bits correctness row."""
    return (n_images + 7) // 8


def _read_rows(path: Path, dtype: np.dtype, width: int, first: int, count: int) -> np.ndarray:
    """Rows first..first+count-1 of a row file as (count, width); a short file is a UserError."""
    dtype = np.dtype(dtype)
    try:
        data = np.fromfile(path, dtype=dtype, count=count * width, offset=first * width * dtype.itemsize)
    except FileNotFoundError:
        raise UserError(f"{path}: committed epochs have no decisions file") from None
    if data.size != count * width:
        raise UserError(f"{path}: holds fewer rows than run.json commits ({first + count})")
    return data.reshape(count, width)


def _append_rows(path: Path, keep_rows: int, width_bytes: int, data: bytes) -> None:
    """Cut a row file to its committed rows, append `data` and fsync (the later run.json write
    fsyncs the folder, which makes a newly created file durable with its commit)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        os.ftruncate(fd, keep_rows * width_bytes)
        os.lseek(fd, 0, os.SEEK_END)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fdatasync(fd)  # data and the new size; the folder entry is flushed with run.json's write
    finally:
        os.close(fd)


def _truncate_rows(path: Path, keep_rows: int, width_bytes: int) -> None:
    """Drop rows beyond the committed ones (left by a kill between append and commit)."""
    if path.is_file() and path.stat().st_size > keep_rows * width_bytes:
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, keep_rows * width_bytes)
            os.fsync(fd)
        finally:
            os.close(fd)


def _as_prediction(prediction: np.ndarray) -> np.ndarray:
    """Predictions as the stored int16; class indices beyond its range are refused."""
    prediction = np.asarray(prediction)
    if prediction.size and (prediction.min() < 0 or prediction.max() > np.iinfo(PREDICTION_DTYPE).max):
        raise ValueError(f"predictions must lie in 0..{np.iinfo(PREDICTION_DTYPE).max} to be stored as int16")
    return prediction.astype(PREDICTION_DTYPE)


# --------------------------------------------------------------------------------------------
# Study


class Study:
    """One study folder: its definition, its validation images, and its models' decisions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._images: pd.DataFrame | None = None
        self._n_images: int | None = None
        self._records: dict[str, tuple[bytes, dict[str, Any]]] = {}

    # -- metadata -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.definition.get("name", self.path.name))

    @property
    def definition(self) -> dict[str, Any]:
        """The resolved study definition stored in study.toml."""
        return read_toml(self.path / STUDY_FILE)

    @property
    def images(self) -> pd.DataFrame:
        """Validation images: image_index (0..n-1), image_id, label, class_name."""
        if self._images is None:
            self._images = _read_images(self.path / IMAGES_FILE)
        return self._images

    @property
    def n_images(self) -> int:
        """Number of validation images (from images.parquet's footer unless the table is loaded)."""
        if self._images is not None:
            return len(self._images)
        if self._n_images is None:
            try:
                self._n_images = int(pq.read_metadata(self.path / IMAGES_FILE).num_rows)
            except (FileNotFoundError, pa.ArrowInvalid, OSError):
                return len(self.images)  # the full read names the problem
        return self._n_images

    def data_location(self) -> dict[str, Any] | None:
        """data_location.json (root, cache_dir, fingerprint) as the last training wrote it; None if absent."""
        path = self.path / DATA_LOCATION_FILE
        if not path.is_file():
            return None
        from labutil.validate import expect_object

        return expect_object(read_json(path), str(path))

    def write_data_location(self, record: dict[str, Any]) -> None:
        """Replace data_location.json atomically (written by training; see docs/formats.md)."""
        write_json(self.path / DATA_LOCATION_FILE, record)

    def model_dir(self, model_id: str) -> Path:
        return self.path / "models" / model_id

    def model_ids(self, status: str | None = None) -> list[str]:
        """Sorted ids of the models in the store, optionally only those with the given status."""
        root = self.path / "models"
        if not root.is_dir():
            return []
        ids = sorted(p.name for p in root.iterdir() if (p / RUN_FILE).is_file())
        if status is None:
            return ids
        return [m for m in ids if self._record(m).get("status") == status]

    def run_info(self, model_id: str) -> dict[str, Any]:
        """The model's run.json (condition, hyper-parameters, status, per-epoch metrics, ...)."""
        return copy.deepcopy(self._record(model_id))

    def _record(self, model_id: str) -> dict[str, Any]:
        """run.json, parsed once per content: the file is read each time (a few KB, microseconds) and
        parsed only when its bytes changed, so no timestamp granularity can hide a rewrite. Not to be modified."""
        path = self.model_dir(model_id) / RUN_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise UserError(f"{self.path}: no model '{model_id}' in this study") from None
        cached = self._records.get(model_id)
        if cached is not None and cached[0] == data:
            return cached[1]
        record = check_run_info(parse_run_json(path, data), path)
        self._records[model_id] = (data, record)
        return record

    def committed_epochs(self, model_id: str) -> list[int]:
        """Epochs whose decisions are complete on disk, in increasing order."""
        return [int(e["epoch"]) for e in self._record(model_id).get("epochs", [])]

    def format_version(self, model_id: str) -> int:
        """The store format this model's decisions are written in (1: Parquet, 2: row files)."""
        return int(self._record(model_id).get("format_version", 1))

    # -- decisions ------------------------------------------------------------------------------
    def decisions_table(self, model_id: str, epochs: list[int] | None = None) -> pd.DataFrame:
        """Rows (epoch, image_index, prediction, correct) of one model, committed epochs only."""
        e = self.epoch_decisions(model_id)
        keep = np.ones(len(e.epochs), dtype=bool) if epochs is None else np.isin(e.epochs, epochs)
        n_rows, n = int(keep.sum()), self.n_images
        return pd.DataFrame({
            "epoch": np.repeat(e.epochs[keep], n).astype(np.int16),
            "image_index": np.tile(np.arange(n, dtype=np.int32), n_rows),
            "prediction": e.prediction[keep].ravel().astype(np.int32),
            "correct": e.correct[keep].ravel(),
        })

    def final_decisions(
        self,
        model_ids: list[str] | None = None,
        epoch: int | Literal["final"] = "final",
    ) -> DecisionMatrix:
        """Correctness of every (or the given) model at its final epoch, or at a fixed epoch.

        At "final", every model must be complete (a running or failed run's last epoch is not final).
        """
        ids = self.model_ids(status="complete") if model_ids is None else list(model_ids)
        if not ids:
            raise UserError(f"{self.path}: no complete models in this study")
        n = self.n_images
        packed = np.zeros((len(ids), packed_width(n)), dtype=np.uint8)
        epochs = np.zeros(len(ids), dtype=np.int64)
        for row, model_id in enumerate(ids):
            record = self._record(model_id)
            committed = [int(e["epoch"]) for e in record.get("epochs", [])]
            if not committed:
                raise UserError(f"{self.model_dir(model_id)}: no committed epochs")
            if epoch == "final" and (status := record.get("status")) != "complete":
                raise UserError(f"{self.model_dir(model_id)}: model is {status}, not complete: its last stored epoch "
                                f"({committed[-1]}) is not its final one; ask for an epoch explicitly to use it")
            e = committed[-1] if epoch == "final" else int(epoch)
            if e not in committed:
                raise UserError(f"{self.model_dir(model_id)}: epoch {e} not stored (have {committed[0]}..{committed[-1]})")
            mdir = self.model_dir(model_id)
            if int(record.get("format_version", 1)) >= 2:
                packed[row] = _read_rows(mdir / CORRECT_FILE, np.uint8, packed.shape[1], committed.index(e), 1)[0]
            else:
                table = _v1_read(mdir, committed, [e], columns=["image_index", "correct"])
                packed[row] = np.packbits(_v1_dense(table, n, "correct", mdir))
            epochs[row] = e
        correct = np.unpackbits(packed, axis=1, count=n).view(bool)
        return DecisionMatrix(correct, ids, np.arange(n), epochs)  # image_index is 0..n-1 by contract

    def epoch_decisions(self, model_id: str, with_prediction: bool = True) -> EpochDecisions:
        """All committed epochs of one model as (n_epochs, n_images) arrays, epochs ascending.

        `with_prediction=False` skips reading the predictions (`.prediction` is then None), for
        analyses that only need correctness.
        """
        record = self._record(model_id)
        committed = [int(e["epoch"]) for e in record.get("epochs", [])]
        mdir = self.model_dir(model_id)
        if not committed:
            raise UserError(f"{mdir}: no committed epochs")
        n = self.n_images
        if int(record.get("format_version", 1)) >= 2:
            packed = _read_rows(mdir / CORRECT_FILE, np.uint8, packed_width(n), 0, len(committed))
            correct = np.unpackbits(packed, axis=1, count=n).view(bool)
            pred = _read_rows(mdir / PREDICTION_FILE, PREDICTION_DTYPE, n, 0, len(committed)) if with_prediction else None
        else:
            correct, pred = _v1_epochs(mdir, committed, n, with_prediction)
        return EpochDecisions(model_id, np.asarray(committed), correct, pred, np.arange(n))

    def has_probabilities(self, model_id: str) -> bool:
        """Whether the run stored final-epoch class probabilities (without loading them)."""
        return (self.model_dir(model_id) / PROBABILITIES_FILE).is_file()

    def probabilities(self, model_id: str) -> np.ndarray | None:
        """Final-epoch class probabilities (n_images, n_classes) float32, if the run stored them."""
        path = self.model_dir(model_id) / PROBABILITIES_FILE
        if not path.is_file():
            return None
        try:
            probs = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise UserError(f"{path}: unreadable or truncated probabilities ({str(exc).splitlines()[0]})") from None
        if probs.ndim != 2 or probs.shape[0] != self.n_images or not np.issubdtype(probs.dtype, np.floating):
            raise UserError(f"{path}: probabilities of shape {probs.shape} ({probs.dtype}); expected "
                            f"({self.n_images}, n_classes) floats, one row per image")
        return probs

    # -- learning dynamics (optional, per study: [store] in the study file) -------------------------
    def store_options(self, model_id: str) -> dict[str, Any]:
        """What the model stores beyond its decisions ({} for models written without [store] options)."""
        return dict(self._record(model_id).get(STORE_OPTIONS_KEY) or {})

    def _dynamics_rows(self, model_id: str, split: str, quantity: str) -> np.ndarray | None:
        if split not in ("val", "train"):
            raise ValueError(f"split must be 'val' or 'train', not {split!r}")
        record = self._record(model_id)
        options = record.get(STORE_OPTIONS_KEY) or {}
        path = self.model_dir(model_id) / DYNAMICS_FILES[(split, quantity)]
        if int(record.get("format_version", 1)) < 2 or not isinstance(options, dict) or not options.get(f"{split}_probabilities"):
            return None
        n_train = options.get("n_train")
        if split == "train" and (isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 0):
            raise UserError(f"{self.model_dir(model_id) / RUN_FILE}:{STORE_OPTIONS_KEY}.n_train: {n_train!r} is not a number of training images")
        width = self.n_images if split == "val" else int(n_train)
        n_epochs = len(record.get("epochs", []))
        if not n_epochs:
            return np.zeros((0, width), dtype=DYNAMICS_DTYPE)
        return _read_rows(path, DYNAMICS_DTYPE, width, 0, n_epochs)

    def epoch_probabilities(self, model_id: str, split: str = "val") -> np.ndarray | None:
        """True-class probability per committed epoch and image, float16 (n_epochs, n_images), rows in
        committed-epoch order; None when not stored. Training images not seen in an epoch are NaN."""
        return self._dynamics_rows(model_id, split, "probability")

    def epoch_margins(self, model_id: str, split: str = "val") -> np.ndarray | None:
        """Top-1 margin (true-class probability minus the largest other class probability, in -1..1)
        per committed epoch and image, float16, like `epoch_probabilities`; None when not stored."""
        return self._dynamics_rows(model_id, split, "margin")

    def train_labels(self, model_id: str) -> np.ndarray | None:
        """Labels of the training images (int64, training-split order) as the model was trained on them
        (permuted under random_labels); None when not stored (stored with train_probabilities)."""
        path = self.model_dir(model_id) / TRAIN_LABELS_FILE
        if not path.is_file():
            return None
        labels = np.fromfile(path, dtype=PREDICTION_DTYPE).astype(np.int64)
        n_train = self.store_options(model_id).get("n_train")
        if n_train is not None and len(labels) != int(n_train):
            raise UserError(f"{path}: {len(labels)} labels, run.json says {n_train} training images")
        return labels

    def activations(self, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(validation image indices int64 (k,), penultimate-layer activations float16 (k, d)) at the
        final epoch of a complete model; None when not stored or the model is not complete."""
        mdir = self.model_dir(model_id)
        if self._record(model_id).get("status") != "complete" or not (mdir / ACTIVATIONS_FILE).is_file():
            return None
        try:
            index = np.load(mdir / ACTIVATION_INDEX_FILE, allow_pickle=False)
            acts = np.load(mdir / ACTIVATIONS_FILE, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise UserError(f"{mdir}: unreadable activations ({str(exc).splitlines()[0]})") from None
        if index.ndim != 1 or acts.ndim != 2 or len(index) != len(acts) or (len(index) and (index.min() < 0 or index.max() >= self.n_images)):
            raise UserError(f"{mdir / ACTIVATIONS_FILE}: activations {acts.shape} do not match image indices {index.shape} "
                            f"of the study's {self.n_images} images")
        return index.astype(np.int64), acts

    def train_decisions_table(self, model_id: str) -> pd.DataFrame | None:
        """Training-set decisions made during each epoch (epoch, sample_index, prediction, correct), if stored."""
        mdir = self.model_dir(model_id)
        committed = set(self.committed_epochs(model_id))
        path = mdir / TRAIN_DECISIONS_FILE
        files = [path] if path.is_file() else sorted(mdir.glob(f"{TRAIN_PARTS_PREFIX}.epoch-*.parquet"))
        if not files:
            return None
        df = pd.concat([_read_train_decisions(f) for f in files], ignore_index=True)
        return df[df["epoch"].isin(committed)].reset_index(drop=True)


def _read_train_decisions(path: Path) -> pd.DataFrame:
    """One training-decisions file; a damaged one is named in one line (not pyarrow's traceback)."""
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: unreadable training decisions ({str(exc).splitlines()[0]})") from None


# --------------------------------------------------------------------------------------------
# Reader of format 1 (Parquet decisions, one row per epoch and image)


def _v1_read(mdir: Path, committed: list[int], epochs: list[int] | None, columns: list[str] | None = None) -> pa.Table:
    """The format-1 decisions of the given committed epochs (all when None)."""
    wanted = committed if epochs is None else [e for e in epochs if e in committed]
    final = mdir / DECISIONS_FILE
    try:
        if final.is_file():
            filt = [("epoch", "in", wanted)] if epochs is not None else None
            table = pq.read_table(final, columns=columns, filters=filt)
        else:
            parts = [mdir / _part_name(PARTS_PREFIX, e) for e in wanted]
            missing = [p for p in parts if not p.is_file()]
            if missing:
                raise UserError(f"{missing[0]}: committed epoch has no decisions file")
            tables = [pq.read_table(p, columns=columns) for p in parts]
            table = pa.concat_tables(tables) if tables else DECISIONS_SCHEMA.empty_table()
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{mdir}: unreadable decisions ({exc})") from None
    return table


def _v1_epochs(mdir: Path, committed: list[int], n: int, with_prediction: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Format-1 correctness and predictions of all committed epochs as (n_epochs, n) arrays."""
    columns = ["epoch", "image_index", "correct"] + (["prediction"] if with_prediction else [])
    table = _v1_read(mdir, committed, committed, columns=columns)
    if table.num_rows != len(committed) * n:
        raise UserError(f"{mdir}: expected {len(committed) * n} decisions, found {table.num_rows}")
    shape = (len(committed), n)
    ep = table.column("epoch").to_numpy().reshape(shape)
    idx = table.column("image_index").to_numpy().reshape(shape)
    correct_flat = table.column("correct").to_numpy(zero_copy_only=False)
    pred_flat = table.column("prediction").to_numpy() if with_prediction else None
    if np.array_equal(ep[:, 0], committed) and (ep == ep[:, :1]).all() and (idx == np.arange(n)).all():
        correct = correct_flat.reshape(shape)
        pred = pred_flat.reshape(shape).astype(np.int32, copy=False) if pred_flat is not None else None
        return correct, pred
    if idx.size and (idx.min() < 0 or idx.max() >= n or not np.isin(ep, committed).all()):
        raise UserError(f"{mdir}: decisions name images or epochs outside the study "
                        f"(image_index 0..{n - 1}, committed epochs {committed[0]}..{committed[-1]})")
    pos = np.searchsorted(np.asarray(committed), ep.ravel().astype(np.int64))
    flat = pos * n + idx.ravel().astype(np.int64)
    if np.bincount(flat, minlength=len(committed) * n).max(initial=0) > 1:
        raise UserError(f"{mdir}: decisions repeat some (epoch, image) pairs and miss others")
    correct = np.zeros(shape, dtype=bool)
    correct.ravel()[flat] = correct_flat
    pred = None
    if pred_flat is not None:
        pred = np.zeros(shape, dtype=np.int32)
        pred.ravel()[flat] = pred_flat
    return correct, pred


def parse_run_json(path: Path, data: bytes) -> dict[str, Any]:
    """A run.json's record from its bytes; malformed JSON is a UserError naming the file."""
    import json

    try:
        record = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise UserError(f"{path}: not a run record (a JSON object)")
    return record


def _part_name(prefix: str, epoch: int) -> str:
    return f"{prefix}.epoch-{epoch:04d}.parquet"


def check_run_info(info: Any, path: Path) -> dict[str, Any]:
    """A run.json as read: an object whose `epochs` (if any) is a list of objects with increasing
    epoch numbers >= 0; anything else is a UserError `FILE:KEY: what is wrong`."""
    from labutil.validate import Invalid, check_int, expect_object

    info = expect_object(info, str(path))
    epochs = info.get("epochs", [])
    if not isinstance(epochs, list):
        raise UserError(f"{path}:epochs: not a list of epoch records")
    last = -1
    for i, entry in enumerate(epochs):
        if not isinstance(entry, dict) or "epoch" not in entry:
            raise UserError(f"{path}:epochs[{i}]: no 'epoch' number (each record is {{\"epoch\": N, ...}})")
        try:
            number = check_int(entry["epoch"], lo=last + 1)
        except Invalid as exc:
            raise UserError(f"{path}:epochs[{i}].epoch: {exc}; epochs increase") from None
        last = number
    if "status" in info and not isinstance(info["status"], str):
        raise UserError(f"{path}:status: {info['status']!r} is not a status name")
    return info


def _v1_dense(table: pa.Table, n: int, column: str, where: Path) -> np.ndarray:
    idx = table.column("image_index").to_numpy()
    if len(idx) != n:
        raise UserError(f"{where}: {len(idx)} decisions for {n} images")
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise UserError(f"{where}: decisions name image_index {int(idx.max() if idx.max() >= n else idx.min())}, "
                        f"outside the study's images (0..{n - 1})")
    if not (idx == np.arange(n)).all() and np.bincount(idx.astype(np.int64), minlength=n).max(initial=0) > 1:
        raise UserError(f"{where}: decisions cover a different image set (some image_index repeated, others missing)")
    out = np.zeros(n, dtype=bool)
    out[idx] = table.column(column).to_numpy(zero_copy_only=False)
    return out


def _read_images(path: Path) -> pd.DataFrame:
    try:
        df = pq.read_table(path).to_pandas()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (is this a study folder?)") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: unreadable ({exc})") from None
    missing = {"image_index", "image_id", "label", "class_name"} - set(df.columns)
    if missing:
        raise UserError(f"{path}: missing columns {sorted(missing)}")
    if not np.array_equal(df["image_index"].to_numpy(), np.arange(len(df))):
        raise UserError(f"{path}: image_index must be 0..n-1 in order")
    labels = df["label"].to_numpy()
    if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
        row = int(np.flatnonzero(labels < 0)[0]) if np.issubdtype(labels.dtype, np.number) and (labels < 0).any() else 0
        value = labels[row].item() if isinstance(labels[row], np.generic) else labels[row]  # -3, not np.int64(-3)
        raise UserError(f"{path}: row {row}: label {value!r} is not a class index (integers >= 0)")
    return df


def open_study(path: str | Path) -> Study:
    """Open an existing study folder; a missing or foreign folder is a one-line UserError."""
    path = Path(path)
    if not (path / STUDY_FILE).is_file():
        raise UserError(f"{path}: not a study folder (no {STUDY_FILE})")
    return Study(path)


def create_study(path: str | Path, definition: dict[str, Any], images: pd.DataFrame) -> Study:
    """Create a study folder, or reopen it if it holds the same study and images, growing it by
    the definition's new models.

    Models are compared one by one: a model already in the store must keep its definition (unless
    nothing of it was trained yet), new models are added, and models the definition no longer
    lists stay. The name, the dataset and the image list must match, so runs of two studies never
    mix. The grown definition replaces study.toml atomically, under a lock on the folder.
    """
    path = Path(path)
    images = _normalise_images(images)
    if (path / STUDY_FILE).is_file():
        with _folder_lock(path):
            study = Study(path)
            stored = study.definition
            merged = merge_definitions(stored, definition, path)
            if not study.images.equals(images):
                raise UserError(f"{path / IMAGES_FILE}: folder holds a different validation image list")
            if _as_read(merged) != _as_read(stored):
                atomic_write_text(path / STUDY_FILE, dumps_toml(merged))
            return Study(path)
    path.mkdir(parents=True, exist_ok=True)
    _write_parquet(path / IMAGES_FILE, pa.Table.from_pandas(images, schema=IMAGES_SCHEMA, preserve_index=False))
    atomic_write_text(path / STUDY_FILE, dumps_toml(definition))
    return Study(path)


# Top-level keys of a study definition that may change when a study grows: the models (compared
# one by one), how the analysis pairs them, and texts / the base recipe (each model holds its own).
GROWABLE_KEYS = ("models", "comparisons", "description", "recipe", "preset")


def merge_definitions(stored: dict[str, Any], new: dict[str, Any], path: Path) -> dict[str, Any]:
    """The stored definition grown by `new`: new's fields and models, plus the stored models it no
    longer lists. A differing name, dataset or other fixed key, or a changed model that has files
    in the store, is a UserError naming the model and the field."""
    where = f"{path / STUDY_FILE}: folder holds a different study definition"
    for key in sorted(set(stored) | set(new), key=str):
        if key not in GROWABLE_KEYS and _as_read(stored.get(key)) != _as_read(new.get(key)):
            raise UserError(f"{where}: {_difference(key, stored.get(key), new.get(key))}; choose another --runs-dir")
    stored_models = {str(m.get("model_id")): m for m in stored.get("models", []) if isinstance(m, dict)}
    models = []
    for entry in new.get("models", []):
        model_id = str(entry.get("model_id"))
        old = stored_models.pop(model_id, None)
        if old is not None and _model_as_read(old) != _model_as_read(entry) and (path / "models" / model_id / RUN_FILE).is_file():
            raise UserError(f"{where}: model '{model_id}': {_difference('', _model_as_read(old), _model_as_read(entry))}; "
                            f"give the changed model another name (condition), or remove {path / 'models' / model_id} to retrain it")
        models.append(entry)
    models.extend(stored_models.values())  # trained (or listed) before and no longer in the study file: kept
    merged = {**stored, **{k: v for k, v in new.items() if k not in ("models", "comparisons")}}
    if "models" in stored or "models" in new:
        merged["models"] = models
    listed = {m.get("condition") for m in new.get("models", []) if isinstance(m, dict)}
    comparisons = {c: v for c, v in (stored.get("comparisons") or {}).items() if c not in listed}  # of kept models only
    comparisons.update(new.get("comparisons") or {})
    merged.pop("comparisons", None)
    if comparisons:
        merged["comparisons"] = comparisons
    return merged


def _model_as_read(entry: dict[str, Any]) -> dict[str, Any]:
    """A model entry as TOML reads it back, with keys added to recipes later filled with their defaults."""
    from model_runs.recipes import LATER_KEYS, RECIPE_KEYS

    out = dict(_as_read(entry))
    for key in LATER_KEYS:
        out.setdefault(key, RECIPE_KEYS[key][0])
    return out


def _difference(name: str, stored: Any, new: Any) -> str:
    """The first field in which two values differ, as `'field' is X there, Y in the study file`."""
    if isinstance(stored, dict) and isinstance(new, dict):
        for key in list(stored) + [k for k in new if k not in stored]:
            if _as_read(stored.get(key)) != _as_read(new.get(key)):
                return _difference(f"{name}.{key}" if name else str(key), stored.get(key), new.get(key))
    def shown(value: Any) -> str:
        return "absent" if value is None else repr(value)

    return f"'{name}' is {shown(stored)} there, {shown(new)} in the study file"


def _as_read(value: Any) -> Any:
    """A value as TOML reads it back (ints and floats, tuples and lists compared as stored)."""
    import tomllib

    return None if value is None else tomllib.loads(dumps_toml({"v": value})).get("v")


class _folder_lock:
    """An exclusive flock on a study folder (its directory inode, stable across study.toml's atomic
    replacements), so two processes growing one study do not lose each other's models."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _folder_lock:
        import fcntl

        self.fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the lock


def _normalise_images(images: pd.DataFrame) -> pd.DataFrame:
    df = images.loc[:, ["image_index", "image_id", "label", "class_name"]].reset_index(drop=True)
    df = df.astype({"image_index": "int32", "image_id": str, "label": "int32", "class_name": str})
    if not np.array_equal(df["image_index"].to_numpy(), np.arange(len(df))):
        raise ValueError("image_index must be 0..n-1 in order")
    return df


def _write_parquet(path: Path, table: pa.Table, row_group_size: int | None = None, part: bool = False) -> None:
    """Write a Parquet file atomically; an epoch `part` is uncompressed (it is consolidated with
    zstd when the run completes) and leaves the folder's fsync to the run.json write that commits it."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=row_group_size, compression="none" if part else "zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes(), sync_dir=not part)


# --------------------------------------------------------------------------------------------
# Writer


class ModelWriter:
    """Writes one model's run: run.json and its decisions, one atomically committed epoch at a time."""

    def __init__(self, study: Study, model_id: str) -> None:
        if not _MODEL_ID.match(model_id):
            raise UserError(f"invalid model id '{model_id}' (letters, digits, '_', '-', '.')")
        self.study = study
        self.model_id = model_id
        self.dir = study.model_dir(model_id)
        self._labels = study.images["label"].to_numpy()
        self._info: dict[str, Any] | None = None

    @property
    def info(self) -> dict[str, Any]:
        """run.json as this writer last wrote it (read from disk once; the model's one writer holds
        its lock, so no other process changes the file). Changes count once passed to a write."""
        if self._info is None:
            self._info = check_run_info(read_json(self.dir / RUN_FILE), self.dir / RUN_FILE)
        return self._info

    def start(self, info: dict[str, Any]) -> dict[str, Any]:
        """Create run.json for a new run, or reopen an existing one with the same config (for resume).

        Epochs on disk that run.json does not list (left by a kill) are removed, and so are the
        temporary files of killed writes anywhere in the model's folder (checkpoints, epoch parts,
        run.json): the caller holds the model's lock, so no live writer owns them. An unfinished run
        of format 1 is first migrated to format 2. A complete run is returned unchanged; callers
        check its status and skip it.
        """
        path = self.dir / RUN_FILE
        remove_leftovers(self.dir, recursive=True, all_temp=True)
        if path.is_file():
            old = read_json(path)
            if old.get("config") != info.get("config"):
                raise UserError(f"{path}: model exists with a different configuration; remove it or use another id")
            if old.get("status") == "complete":
                self._remove_parts()  # a kill between the final run.json and the parts' removal
                return old
            if int(old.get("format_version", 1)) < 2:
                migrate_model(self.study, self.model_id)
                old = read_json(path)
            old["status"] = "running"
            old.setdefault("attempts", 0)
            old["attempts"] += 1
            self._write_info(old)
            self._drop_uncommitted(old)
            return old
        record = {
            "format_version": STORE_FORMAT_VERSION,
            "model_id": self.model_id,
            "status": "running",
            "attempts": 1,
            "created": _now(),
            **info,
            "epochs": [],
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_info(record)
        return record

    def commit_epoch(
        self,
        epoch: int,
        prediction: np.ndarray,
        metrics: dict[str, Any],
        train_decisions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        dynamics: dict[tuple[str, str], np.ndarray] | None = None,
    ) -> None:
        """Store one epoch's predictions for all validation images, then commit it in run.json.

        `prediction` is int (n_images,) in image_index order; correctness is derived from the
        stored labels here, so `correct == (prediction == label)` holds by construction.
        `train_decisions` optionally holds (sample_index, prediction, correct) of the training samples
        seen during the epoch (predictions made on the augmented batch, before the update).
        `dynamics` optionally maps (split, quantity) of DYNAMICS_FILES to that epoch's row (n_images,).
        """
        prediction = np.asarray(prediction)
        if prediction.shape != self._labels.shape:
            raise ValueError(f"prediction shape {prediction.shape} != ({len(self._labels)},)")
        rows = None if dynamics is None else {k: np.asarray(v)[None, :] for k, v in dynamics.items()}
        self.commit_epochs([epoch], prediction[None, :], [metrics], None if train_decisions is None else [train_decisions], rows)

    def commit_epochs(
        self,
        epochs: list[int],
        predictions: np.ndarray,
        metrics: list[dict[str, Any]],
        train_decisions: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] | None = None,
        dynamics: dict[tuple[str, str], np.ndarray] | None = None,
    ) -> None:
        """Store several ascending epochs' predictions (n_epochs, n_images) and commit them with one
        run.json write (used by imports, migrations and continued runs; training commits one epoch at
        a time). `dynamics`: (split, quantity) -> float rows (n_epochs, width), appended likewise."""
        predictions = _as_prediction(predictions)
        if predictions.shape != (len(epochs), len(self._labels)) or len(metrics) != len(epochs):
            raise ValueError(f"predictions {predictions.shape} do not match {len(epochs)} epochs x {len(self._labels)} images")
        if list(epochs) != sorted(set(int(e) for e in epochs)):
            raise ValueError(f"epochs must ascend without repeats: {epochs}")
        info = self.info
        if int(info.get("format_version", 1)) < 2:
            raise ValueError(f"{self.dir}: run.json is of store format 1; start() migrates it before epochs are added")
        kept = [e for e in info.get("epochs", []) if int(e["epoch"]) < int(epochs[0])]
        if len(kept) != len(info.get("epochs", [])):  # re-committing an epoch: un-commit it (and later ones) first
            info["epochs"] = kept
            self._write_info(info)
        correct = predictions == self._labels[None, :]
        n = len(self._labels)
        _append_rows(self.dir / CORRECT_FILE, len(kept), packed_width(n), np.packbits(correct, axis=1).tobytes())
        _append_rows(self.dir / PREDICTION_FILE, len(kept), n * PREDICTION_DTYPE.itemsize, predictions.tobytes())
        self._append_dynamics(len(kept), len(epochs), dynamics or {})
        for epoch, train in zip(epochs, train_decisions or []):
            if train is not None:  # None: no training decisions for that epoch (epoch 0)
                self._write_train_part(int(epoch), train)
        accuracy = correct.mean(axis=1) if n else np.zeros(len(epochs))
        info["epochs"] = kept + [{"epoch": int(e), "val_accuracy": float(a), **m} for e, a, m in zip(epochs, accuracy, metrics)]
        self._write_info(info)

    def _dynamics_width(self, split: str) -> int:
        return len(self._labels) if split == "val" else int((self.info.get(STORE_OPTIONS_KEY) or {})["n_train"])

    def _append_dynamics(self, keep_rows: int, n_epochs: int, dynamics: dict[tuple[str, str], np.ndarray]) -> None:
        """Append float16 rows of the learning-dynamics files the model's store options ask for."""
        options = self.info.get(STORE_OPTIONS_KEY) or {}
        for (split, quantity), name in DYNAMICS_FILES.items():
            if not options.get(f"{split}_probabilities"):
                continue
            if (split, quantity) not in dynamics:
                raise ValueError(f"{self.dir}: the store options ask for {split} {quantity} rows; none given")
            width = self._dynamics_width(split)
            rows = np.asarray(dynamics[(split, quantity)], dtype=DYNAMICS_DTYPE)
            if rows.shape != (n_epochs, width):
                raise ValueError(f"{split} {quantity} rows {rows.shape} != ({n_epochs}, {width})")
            _append_rows(self.dir / name, keep_rows, width * DYNAMICS_DTYPE.itemsize, rows.tobytes())

    def save_train_labels(self, labels: np.ndarray) -> None:
        """Store the training labels the model is trained on (before any epoch is committed)."""
        atomic_write_bytes(self.dir / TRAIN_LABELS_FILE, _as_prediction(labels).tobytes())

    def save_activations(self, image_index: np.ndarray, activations: np.ndarray) -> None:
        """Store final-epoch penultimate-layer activations (k, d) as float16 with their image indices;
        written before the final epoch is committed, read only once the model is complete."""
        import io

        for name, array in ((ACTIVATION_INDEX_FILE, np.asarray(image_index, dtype=np.int64)),
                            (ACTIVATIONS_FILE, np.asarray(activations, dtype=np.float16))):
            buf = io.BytesIO()
            np.save(buf, array)
            atomic_write_bytes(self.dir / name, buf.getvalue(), sync_dir=False)

    def _write_train_part(self, epoch: int, train_decisions: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        sample_index, train_pred, train_correct = train_decisions
        ttable = pa.table(
            {
                "epoch": pa.array(np.full(len(sample_index), epoch, dtype=np.int16)),
                "sample_index": pa.array(np.asarray(sample_index, dtype=np.int32)),
                "prediction": pa.array(np.asarray(train_pred, dtype=np.int32)),
                "correct": pa.array(np.asarray(train_correct, dtype=bool)),
            }
        )
        _write_parquet(self.dir / _part_name(TRAIN_PARTS_PREFIX, epoch), ttable, part=True)

    def save_probabilities(self, probabilities: np.ndarray) -> None:
        """Store final-epoch class probabilities (n_images, n_classes) for label-issue detection."""
        import io

        buf = io.BytesIO()
        np.save(buf, np.asarray(probabilities, dtype=np.float32))
        atomic_write_bytes(self.dir / PROBABILITIES_FILE, buf.getvalue())

    def finish(self, status: Status = "complete", **fields: Any) -> None:
        """Mark the run complete (consolidating per-epoch training-decision parts into one file) or failed."""
        info = self.info
        if status == "complete":
            self._consolidate(TRAIN_PARTS_PREFIX, TRAIN_DECISIONS_FILE, [int(e["epoch"]) for e in info["epochs"]])
        info.update(fields)
        info["status"] = status
        info["finished"] = _now()
        self._write_info(info)
        if status == "complete":
            self._remove_parts()

    def _remove_parts(self) -> None:
        """Delete the per-epoch parts of a complete (consolidated) run."""
        for prefix in (PARTS_PREFIX, TRAIN_PARTS_PREFIX):
            for f in self.dir.glob(f"{prefix}.epoch-*.parquet"):
                f.unlink()

    def update(self, **fields: Any) -> None:
        """Merge fields into run.json (timings, device, ...)."""
        info = self.info
        info.update(fields)
        self._write_info(info)

    def _consolidate(self, prefix: str, out_name: str, epochs: list[int]) -> None:
        files = [self.dir / _part_name(prefix, e) for e in epochs]
        files = [f for f in files if f.is_file()]
        if not files:
            return
        table = pa.concat_tables([pq.read_table(f) for f in files])
        rows_per_epoch = max(1, table.num_rows // len(files))
        _write_parquet(self.dir / out_name, table, row_group_size=rows_per_epoch)

    def _drop_uncommitted(self, info: dict[str, Any]) -> None:
        epochs = [int(e["epoch"]) for e in info.get("epochs", [])]
        n = len(self._labels)
        _truncate_rows(self.dir / CORRECT_FILE, len(epochs), packed_width(n))
        _truncate_rows(self.dir / PREDICTION_FILE, len(epochs), n * PREDICTION_DTYPE.itemsize)
        options = info.get(STORE_OPTIONS_KEY) or {}
        for (split, _), name in DYNAMICS_FILES.items():
            if options.get(f"{split}_probabilities"):
                width = n if split == "val" else int(options["n_train"])
                _truncate_rows(self.dir / name, len(epochs), width * DYNAMICS_DTYPE.itemsize)
        committed = {_part_name(TRAIN_PARTS_PREFIX, e) for e in epochs}
        for f in self.dir.glob(f"{TRAIN_PARTS_PREFIX}.epoch-*.parquet"):
            if f.name not in committed:
                f.unlink()
        # a kill in finish() after consolidating: readers would prefer that file to the parts it copies,
        # which are still all here (removed only after the final run.json) and may be re-committed
        (self.dir / TRAIN_DECISIONS_FILE).unlink(missing_ok=True)
        _remove_v1_decisions(self.dir)

    def _write_info(self, info: dict[str, Any]) -> None:
        info["updated"] = _now()
        write_json(self.dir / RUN_FILE, info, fast=True)
        self._info = info


def _remove_v1_decisions(mdir: Path) -> None:
    (mdir / DECISIONS_FILE).unlink(missing_ok=True)
    for f in mdir.glob(f"{PARTS_PREFIX}.epoch-*.parquet"):
        f.unlink()


# --------------------------------------------------------------------------------------------
# Migration from format 1


def migrate_model(study: Study, model_id: str) -> bool:
    """Rewrite one model's format-1 decisions as format-2 row files; False if already format 2.

    Crash-safe: the row files are written (fsynced) first, run.json then switches the model to
    format 2, and only after that are the Parquet files removed; an interrupted migration leaves
    the model readable in one format or the other and can simply be run again.
    """
    mdir = study.model_dir(model_id)
    info = read_json(mdir / RUN_FILE)
    if int(info.get("format_version", 1)) >= 2:
        _remove_v1_decisions(mdir)  # left by a migration stopped after its commit
        return False
    committed = [int(e["epoch"]) for e in info.get("epochs", [])]
    n = study.n_images
    if committed:
        _, pred = _v1_epochs(mdir, committed, n, with_prediction=True)
        assert pred is not None
        pred = _as_prediction(pred)
    else:
        pred = np.zeros((0, n), dtype=PREDICTION_DTYPE)
    correct = pred == study.images["label"].to_numpy()[None, :]
    atomic_write_bytes(mdir / CORRECT_FILE, np.packbits(correct, axis=1).tobytes(), sync_dir=False)
    atomic_write_bytes(mdir / PREDICTION_FILE, pred.tobytes(), sync_dir=False)
    info["format_version"] = STORE_FORMAT_VERSION
    info["migrated"] = {"from_format": 1, "at": _now()}
    write_json(mdir / RUN_FILE, info, fast=True)  # fsyncs the folder: row files and commit land together
    _remove_v1_decisions(mdir)
    return True


def migrate_study(path: str | Path) -> tuple[int, int]:
    """Migrate every model of a study folder to format 2; returns (migrated, already current).

    Models being trained (their lock held) are refused, so no writer sees its files change."""
    from model_runs.model_lock import model_lock

    study = open_study(path)
    migrated = current = 0
    for model_id in study.model_ids():
        with model_lock(model_id, study.model_dir(model_id)):
            if migrate_model(study, model_id):
                migrated += 1
            else:
                current += 1
    return migrated, current


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------------------------
# Minimal TOML writer for resolved study definitions (tomllib only reads).


def dumps_toml(data: dict[str, Any]) -> str:
    """Serialise nested dicts of scalars/lists (and lists of tables) to TOML."""
    lines: list[str] = []
    _emit_table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _emit_table(table: dict[str, Any], prefix: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_list(v)}
    for key, value in scalars.items():
        if value is None:
            continue
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            lines.append("")
            lines.append("[" + ".".join(_key(k) for k in [*prefix, key]) + "]")
            _emit_table(value, [*prefix, key], lines)
        elif _is_table_list(value):
            for item in value:
                lines.append("")
                lines.append("[[" + ".".join(_key(k) for k in [*prefix, key]) + "]]")
                _emit_table(item, [*prefix, key], lines)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_\-]+$", key) else _value(key)


def _value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
