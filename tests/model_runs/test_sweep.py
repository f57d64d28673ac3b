"""Local sweeps with submitit: every model trained once by a pool of workers; complete models skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.sweep import claim_next, run_sweep, write_queue
from model_runs.train import Execution


def test_queue_hands_out_each_model_once(tmp_path: Path) -> None:
    write_queue(tmp_path, ["a", "b", "c"])
    assert [claim_next(tmp_path) for _ in range(4)] == ["a", "b", "c", None]


@pytest.mark.slow
def test_local_sweep_of_three_models(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(epochs=2)))
    study_dir = tmp_path / "runs" / "tiny"
    execution = Execution(device="cpu", threads=1, quiet=True)
    outcomes = run_sweep(spec, study_dir, execution, executor="local", workers=2, log_dir=str(tmp_path / "logs"), quiet=True)
    assert sorted((o.model_id, o.status) for o in outcomes) == [("base", "complete"), ("init-1", "complete"), ("init-2", "complete")]
    study = open_study(study_dir)
    m = study.final_decisions()
    assert m.model_ids == ["base", "init-1", "init-2"] and m.correct.shape == (3, 60)
    # two worker processes shared the queue; each model ran exactly once
    pids = {study.run_info(i)["worker"]["pid"] for i in m.model_ids}
    assert 1 <= len(pids) <= 2 and all(study.run_info(i)["attempts"] == 1 for i in m.model_ids)
    assert (tmp_path / "logs" / "queue.next").read_text().strip() == "3"
    # the same decisions as training in this process
    run_models(spec, tmp_path / "inline" / "tiny", ["init-2"], execution)
    assert np.array_equal(open_study(tmp_path / "inline" / "tiny").epoch_decisions("init-2").prediction, study.epoch_decisions("init-2").prediction)
    # nothing left to do: no worker is started
    assert run_sweep(spec, study_dir, execution, workers=2, log_dir=str(tmp_path / "logs2"), quiet=True) == []
    assert not (tmp_path / "logs2").exists()
    assert json.loads((study_dir / "models" / "base" / "run.json").read_text())["attempts"] == 1
