"""The decisions store: reader and writer of `runs/<study>/` (see docs/formats.md).

Every other package reads model decisions through `open_study`; nothing else parses these files.
Writes are atomic per epoch: a model's epoch is committed when its entry lands in `run.json`, and
readers only ever see committed epochs, so a killed run never leaves a half-written epoch.
"""

from __future__ import annotations

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
from labutil.io import atomic_write_bytes, atomic_write_text, read_json, read_toml, write_json

STORE_FORMAT_VERSION = 1
STUDY_FILE = "study.toml"
IMAGES_FILE = "images.parquet"
RUN_FILE = "run.json"
DECISIONS_FILE = "decisions.parquet"
TRAIN_DECISIONS_FILE = "train_decisions.parquet"
PROBABILITIES_FILE = "probabilities.npy"
PARTS_PREFIX = "decisions"  # running runs: decisions.epoch-NNNN.parquet beside run.json
TRAIN_PARTS_PREFIX = "train_decisions"

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
    prediction: np.ndarray | None  # int (n_epochs, n_images); None if read with with_prediction=False
    image_index: np.ndarray


# --------------------------------------------------------------------------------------------
# Study


class Study:
    """One study folder: its definition, its validation images, and its models' decisions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._images: pd.DataFrame | None = None

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
        return len(self.images)

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
        return [m for m in ids if self.run_info(m).get("status") == status]

    def run_info(self, model_id: str) -> dict[str, Any]:
        """The model's run.json (condition, hyper-parameters, status, per-epoch metrics, ...)."""
        path = self.model_dir(model_id) / RUN_FILE
        if not path.is_file():
            raise UserError(f"{self.path}: no model '{model_id}' in this study")
        return read_json(path)

    def committed_epochs(self, model_id: str) -> list[int]:
        """Epochs whose decisions are complete on disk, in increasing order."""
        return [int(e["epoch"]) for e in self.run_info(model_id).get("epochs", [])]

    # -- decisions ------------------------------------------------------------------------------
    def decisions_table(self, model_id: str, epochs: list[int] | None = None) -> pd.DataFrame:
        """Raw rows (epoch, image_index, prediction, correct) of one model, committed epochs only."""
        table = self._read_decisions(model_id, epochs)
        return table.to_pandas()

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
        out = np.zeros((len(ids), n), dtype=bool)
        epochs = np.zeros(len(ids), dtype=np.int64)
        for row, model_id in enumerate(ids):
            committed = self.committed_epochs(model_id)
            if not committed:
                raise UserError(f"{self.model_dir(model_id)}: no committed epochs")
            if epoch == "final" and (status := self.run_info(model_id).get("status")) != "complete":
                raise UserError(f"{self.model_dir(model_id)}: model is {status}, not complete: its last stored epoch "
                                f"({committed[-1]}) is not its final one; ask for an epoch explicitly to use it")
            e = committed[-1] if epoch == "final" else int(epoch)
            if e not in committed:
                raise UserError(f"{self.model_dir(model_id)}: epoch {e} not stored (have {committed[0]}..{committed[-1]})")
            table = self._read_decisions(model_id, [e], columns=["image_index", "correct"])
            out[row] = _dense(table, n, "correct", self.model_dir(model_id))
            epochs[row] = e
        return DecisionMatrix(out, ids, self.images["image_index"].to_numpy(), epochs)

    def epoch_decisions(self, model_id: str, with_prediction: bool = True) -> EpochDecisions:
        """All committed epochs of one model as (n_epochs, n_images) arrays, epochs ascending.

        `with_prediction=False` skips reading the predictions (`.prediction` is then None), for
        analyses that only need correctness.
        """
        committed = self.committed_epochs(model_id)
        if not committed:
            raise UserError(f"{self.model_dir(model_id)}: no committed epochs")
        columns = ["epoch", "image_index", "correct"] + (["prediction"] if with_prediction else [])
        table = self._read_decisions(model_id, committed, columns=columns)
        n = self.n_images
        n_rows = table.num_rows
        if n_rows != len(committed) * n:
            raise UserError(f"{self.model_dir(model_id)}: expected {len(committed) * n} decisions, found {n_rows}")
        shape = (len(committed), n)
        ep = table.column("epoch").to_numpy().reshape(shape)
        idx = table.column("image_index").to_numpy().reshape(shape)
        correct_flat = table.column("correct").to_numpy(zero_copy_only=False)
        pred_flat = table.column("prediction").to_numpy() if with_prediction else None
        if np.array_equal(ep[:, 0], committed) and (ep == ep[:, :1]).all() and (idx == np.arange(n)).all():
            # the layout the writer produces (sorted by epoch, then image_index): no scatter needed
            correct = correct_flat.reshape(shape)
            pred = pred_flat.reshape(shape).astype(np.int32, copy=False) if pred_flat is not None else None
        else:
            pos = np.searchsorted(np.asarray(committed), ep.ravel().astype(np.int64))
            flat = pos * n + idx.ravel().astype(np.int64)
            if np.bincount(flat, minlength=len(committed) * n).max(initial=0) > 1:
                raise UserError(f"{self.model_dir(model_id)}: decisions repeat some (epoch, image) pairs and miss others")
            correct = np.zeros(shape, dtype=bool)
            correct.ravel()[flat] = correct_flat
            pred = None
            if pred_flat is not None:
                pred = np.zeros(shape, dtype=np.int32)
                pred.ravel()[flat] = pred_flat
        return EpochDecisions(model_id, np.asarray(committed), correct, pred, self.images["image_index"].to_numpy())

    def has_probabilities(self, model_id: str) -> bool:
        """Whether the run stored final-epoch class probabilities (without loading them)."""
        return (self.model_dir(model_id) / PROBABILITIES_FILE).is_file()

    def probabilities(self, model_id: str) -> np.ndarray | None:
        """Final-epoch class probabilities (n_images, n_classes) float32, if the run stored them."""
        path = self.model_dir(model_id) / PROBABILITIES_FILE
        return np.load(path) if path.is_file() else None

    def train_decisions_table(self, model_id: str) -> pd.DataFrame | None:
        """Training-set decisions made during each epoch (epoch, sample_index, prediction, correct), if stored."""
        mdir = self.model_dir(model_id)
        committed = set(self.committed_epochs(model_id))
        path = mdir / TRAIN_DECISIONS_FILE
        if path.is_file():
            df = pq.read_table(path).to_pandas()
        else:
            parts = sorted(mdir.glob(f"{TRAIN_PARTS_PREFIX}.epoch-*.parquet"))
            if not parts:
                return None
            df = pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
        return df[df["epoch"].isin(committed)].reset_index(drop=True)

    def _read_decisions(self, model_id: str, epochs: list[int] | None, columns: list[str] | None = None) -> pa.Table:
        mdir = self.model_dir(model_id)
        committed = self.committed_epochs(model_id)
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


def _part_name(prefix: str, epoch: int) -> str:
    return f"{prefix}.epoch-{epoch:04d}.parquet"


def _dense(table: pa.Table, n: int, column: str, where: Path) -> np.ndarray:
    idx = table.column("image_index").to_numpy()
    if len(idx) != n:
        raise UserError(f"{where}: {len(idx)} decisions for {n} images")
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
    return df


def open_study(path: str | Path) -> Study:
    """Open an existing study folder; a missing or foreign folder is a one-line UserError."""
    path = Path(path)
    if not (path / STUDY_FILE).is_file():
        raise UserError(f"{path}: not a study folder (no {STUDY_FILE})")
    return Study(path)


def create_study(path: str | Path, definition: dict[str, Any], images: pd.DataFrame) -> Study:
    """Create a study folder, or reopen it if it holds the same definition and images.

    A folder holding another study (different definition or image list) is refused, so runs
    of two studies never mix.
    """
    path = Path(path)
    images = _normalise_images(images)
    if (path / STUDY_FILE).is_file():
        study = Study(path)
        if _comparable(study.definition) != _comparable(definition):
            raise UserError(f"{path / STUDY_FILE}: folder holds a different study definition; choose another --runs-dir")
        if not study.images.equals(images):
            raise UserError(f"{path / IMAGES_FILE}: folder holds a different validation image list")
        if study.definition.get("comparisons") != definition.get("comparisons"):
            # how the analysis pairs models up, not what is trained: a store written before it was
            # declared takes it over
            atomic_write_text(path / STUDY_FILE, dumps_toml(definition))
            study = Study(path)
        return study
    path.mkdir(parents=True, exist_ok=True)
    _write_parquet(path / IMAGES_FILE, pa.Table.from_pandas(images, schema=IMAGES_SCHEMA, preserve_index=False))
    atomic_write_text(path / STUDY_FILE, dumps_toml(definition))
    return Study(path)


def _normalise_images(images: pd.DataFrame) -> pd.DataFrame:
    df = images.loc[:, ["image_index", "image_id", "label", "class_name"]].reset_index(drop=True)
    df = df.astype({"image_index": "int32", "image_id": str, "label": "int32", "class_name": str})
    if not np.array_equal(df["image_index"].to_numpy(), np.arange(len(df))):
        raise ValueError("image_index must be 0..n-1 in order")
    return df


def _comparable(definition: dict[str, Any]) -> Any:
    """The definition as TOML reads it back, without `comparisons` (analysis pairing, not training)."""
    import tomllib

    return tomllib.loads(dumps_toml({k: v for k, v in definition.items() if k != "comparisons"}))


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
            self._info = read_json(self.dir / RUN_FILE)
        return self._info

    def start(self, info: dict[str, Any]) -> dict[str, Any]:
        """Create run.json for a new run, or reopen an existing one with the same config (for resume).

        Epochs on disk that run.json does not list (left by a kill) are removed. A complete run
        is returned unchanged; callers check its status and skip it.
        """
        path = self.dir / RUN_FILE
        if path.is_file():
            old = read_json(path)
            if old.get("config") != info.get("config"):
                raise UserError(f"{path}: model exists with a different configuration; remove it or use another id")
            if old.get("status") == "complete":
                return old
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
    ) -> None:
        """Store one epoch's predictions for all validation images, then commit it in run.json.

        `prediction` is int (n_images,) in image_index order; correctness is derived from the
        stored labels here, so `correct == (prediction == label)` holds by construction.
        `train_decisions` optionally holds (sample_index, prediction, correct) of the training samples
        seen during the epoch (predictions made on the augmented batch, before the update).
        """
        prediction = np.asarray(prediction)
        if prediction.shape != self._labels.shape:
            raise ValueError(f"prediction shape {prediction.shape} != ({len(self._labels)},)")
        table = pa.table(
            {
                "epoch": pa.array(np.full(len(prediction), epoch, dtype=np.int16)),
                "image_index": pa.array(np.arange(len(prediction), dtype=np.int32)),
                "prediction": pa.array(prediction.astype(np.int32)),
                "correct": pa.array(prediction == self._labels),
            },
            schema=DECISIONS_SCHEMA,
        )
        _write_parquet(self.dir / _part_name(PARTS_PREFIX, epoch), table, part=True)
        if train_decisions is not None:
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
        info = self.info
        info["epochs"] = [e for e in info.get("epochs", []) if int(e["epoch"]) != epoch]
        accuracy = float(np.mean(prediction == self._labels))
        info["epochs"].append({"epoch": int(epoch), "val_accuracy": accuracy, **metrics})
        info["epochs"].sort(key=lambda e: int(e["epoch"]))
        self._write_info(info)

    def save_probabilities(self, probabilities: np.ndarray) -> None:
        """Store final-epoch class probabilities (n_images, n_classes) for label-issue detection."""
        import io

        buf = io.BytesIO()
        np.save(buf, np.asarray(probabilities, dtype=np.float32))
        atomic_write_bytes(self.dir / PROBABILITIES_FILE, buf.getvalue())

    def finish(self, status: Status = "complete", **fields: Any) -> None:
        """Mark the run complete (consolidating per-epoch parts into one Parquet file) or failed."""
        info = self.info
        if status == "complete":
            self._consolidate(PARTS_PREFIX, DECISIONS_FILE, [int(e["epoch"]) for e in info["epochs"]])
            self._consolidate(TRAIN_PARTS_PREFIX, TRAIN_DECISIONS_FILE, [int(e["epoch"]) for e in info["epochs"]])
        info.update(fields)
        info["status"] = status
        info["finished"] = _now()
        self._write_info(info)
        if status == "complete":
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
        for prefix in (PARTS_PREFIX, TRAIN_PARTS_PREFIX):
            committed = {_part_name(prefix, e) for e in epochs}
            for f in self.dir.glob(f"{prefix}.epoch-*.parquet"):
                if f.name not in committed:
                    f.unlink()
        (self.dir / DECISIONS_FILE).unlink(missing_ok=True)

    def _write_info(self, info: dict[str, Any]) -> None:
        info["updated"] = _now()
        write_json(self.dir / RUN_FILE, info, fast=True)
        self._info = info


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
