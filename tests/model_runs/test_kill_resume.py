"""A run killed with SIGKILL mid-epoch and resumed stores exactly the decisions of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_runs.runner import model_status, run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.train import Execution

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "model_runs", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _committed(run_json: Path) -> list[int]:
    try:
        return [e["epoch"] for e in json.loads(run_json.read_text())["epochs"]]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return []


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    path = study_file(
        name="killme", conditions='[[conditions]]\nname = "base"\n', arch="small_cnn", epochs=4, batch_size=8,
        train_per_class=40, val_per_class=20,
    )
    killed_dir = tmp_path / "killed"
    proc = _cli("train", str(path), "--runs-dir", str(killed_dir), "--device", "cpu", "--threads", "1", "--quiet")
    run_json = killed_dir / "killme" / "models" / "base" / "run.json"
    deadline = time.monotonic() + 120
    while len(_committed(run_json)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"training ended before it could be killed: {proc.communicate()}"
    time.sleep(0.1)  # into epoch 2 (an epoch takes longer than this)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = _committed(run_json)
    assert 2 <= len(committed) < 5, committed  # killed after epoch 1 was committed, before the last epoch
    study = open_study(killed_dir / "killme")
    assert model_status(study, "base") == "interrupted"
    assert json.loads(run_json.read_text())["status"] == "running"

    resumed = _cli("resume", str(killed_dir / "killme"), "--device", "cpu", "--threads", "1", "--quiet")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "1 of 1 models complete" in out

    spec = load_study(str(path))
    run_models(spec, tmp_path / "clean" / "killme", ["base"], Execution(device="cpu", threads=1, quiet=True))
    a = open_study(killed_dir / "killme").epoch_decisions("base")
    b = open_study(tmp_path / "clean" / "killme").epoch_decisions("base")
    assert a.epochs.tolist() == b.epochs.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(a.prediction, b.prediction)
    info_a = open_study(killed_dir / "killme").run_info("base")
    info_b = open_study(tmp_path / "clean" / "killme").run_info("base")
    assert info_a["attempts"] == 2 and info_b["attempts"] == 1
    for ea, eb in zip(info_a["epochs"], info_b["epochs"]):
        assert ea["val_loss"] == eb["val_loss"] and ea.get("train_loss") == eb.get("train_loss")
    ta, tb = open_study(killed_dir / "killme").train_decisions_table("base"), open_study(tmp_path / "clean" / "killme").train_decisions_table("base")
    assert ta.equals(tb)
    assert np.array_equal(open_study(killed_dir / "killme").probabilities("base"), open_study(tmp_path / "clean" / "killme").probabilities("base"))
