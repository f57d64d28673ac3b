"""Run models of a study in this process: the shared core of `train`, `resume`, `evaluate` and sweep workers."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labutil.errors import DISK_FULL, DiskFull, UserError
from labutil.io import read_json
from model_runs.datasets import LOCATION_KEYS
from model_runs.model_lock import ModelBusy
from model_runs.store import RUN_FILE, STUDY_FILE, Study, open_study
from model_runs.study_files import StudySpec, study_from_definition
from model_runs.train import Execution, prepare_study, run_model


@dataclass
class ModelOutcome:
    """What happened to one model in a run: complete | failed | busy (another live process trains
    it; skipped), with the error's one line."""

    model_id: str
    status: str
    accuracy: float | None = None
    error: str = ""


def recorded_location(study_dir: Path) -> dict[str, Any]:
    """The dataset location (root, cache_dir) recorded by earlier runs of the study, if any:
    data_location.json, else (stores written before it) the first run.json that has one."""
    try:
        record = open_study(study_dir).data_location() or {}
    except UserError:
        record = {}
    if any(record.get(k) for k in LOCATION_KEYS):
        return {k: record[k] for k in LOCATION_KEYS if record.get(k)}
    models = Path(study_dir) / "models"
    if not models.is_dir():
        return {}
    for run in sorted(models.glob(f"*/{RUN_FILE}")):
        try:
            loc = read_json(run).get("data_location") or {}
        except UserError:
            continue
        if loc:
            return {k: v for k, v in loc.items() if k in LOCATION_KEYS}
    return {}


def spec_from_study_dir(study_dir: Path, location: dict[str, Any] | None = None) -> StudySpec:
    """The resolved study stored in a study folder; locations from the caller, else from earlier runs."""
    study = open_study(study_dir)
    merged = {**recorded_location(study_dir), **{k: v for k, v in (location or {}).items() if v}}
    return study_from_definition(study.definition, str(Path(study_dir) / STUDY_FILE), merged)


def run_models(spec: StudySpec, study_dir: Path, model_ids: list[str], execution: Execution, stop_on_error: bool = False) -> list[ModelOutcome]:
    """Train/evaluate the given models one after another; a failing model does not stop the others."""
    study, dataset = prepare_study(spec, study_dir)
    outcomes = []
    for model_id in model_ids:
        outcomes.append(run_one(spec, study, dataset, model_id, execution, stop_on_error))
    return outcomes


def run_one(spec: StudySpec, study: Study, dataset: Any, model_id: str, execution: Execution, stop_on_error: bool = False) -> ModelOutcome:
    """Run one model; unless `stop_on_error`, a failure (user error or bug) becomes a failed outcome
    and the caller goes on with the next model (a bug's traceback goes to stderr / the job log)."""
    try:
        info = run_model(spec, study, dataset, model_id, execution)
    except ModelBusy as exc:
        if stop_on_error:
            raise
        return ModelOutcome(model_id, "busy", error=str(exc))
    except DiskFull:  # every further model would fail the same way: stop, resumable from disk
        raise
    except UserError as exc:
        if stop_on_error:
            raise
        return ModelOutcome(model_id, "failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug: keep its traceback, still train the other models
        if stop_on_error or (isinstance(exc, OSError) and exc.errno in DISK_FULL):
            raise
        import traceback

        traceback.print_exc()
        return ModelOutcome(model_id, "failed", error=f"{type(exc).__name__}: {exc} (a bug; traceback above or in the job log)")
    epochs = info.get("epochs", [])
    return ModelOutcome(model_id, info.get("status", "?"), epochs[-1]["val_accuracy"] if epochs else None)


def prepare(spec: StudySpec, study_dir: Path) -> Study:
    """Create the study folder (checks dataset and definition) before any worker starts."""
    study, _ = prepare_study(spec, study_dir)
    return study


def model_status(study: Study, model_id: str) -> str:
    """complete | running | interrupted | failed | pending; a 'running' record whose process is gone is 'interrupted'."""
    path = study.model_dir(model_id) / RUN_FILE
    if not path.is_file():
        return "pending"
    info = study.run_info(model_id)
    status = str(info.get("status", "pending"))
    if status != "running":
        return status
    worker = info.get("worker", {})
    if worker.get("host") == socket.gethostname() and worker.get("pid") and not worker.get("slurm_job_id"):
        try:
            os.kill(int(worker["pid"]), 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            pass
    return "running"
