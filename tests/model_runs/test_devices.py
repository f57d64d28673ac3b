"""Every GPU a local sweep is given gets its own worker(s); asking for CUDA without one is a one-line error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from labutil.errors import UserError
from model_runs.devices import visible_gpus, worker_devices
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.sweep import run_sweep, slurm_gpus_per_task
from model_runs.train import Execution


def test_visible_gpus_sources() -> None:
    assert visible_gpus("2, 3", {"CUDA_VISIBLE_DEVICES": "0"}) == ["2", "3"]
    assert visible_gpus(None, {"CUDA_VISIBLE_DEVICES": "1,GPU-ab12"}) == ["1", "GPU-ab12"]
    assert visible_gpus(None, {"CUDA_VISIBLE_DEVICES": ""}) == []  # what submitit's local workers see
    assert visible_gpus(None, {"CUDA_VISIBLE_DEVICES": "-1"}) == []
    with pytest.raises(UserError, match="--gpus"):
        visible_gpus(" , ", {})


def test_worker_devices() -> None:
    assert worker_devices("auto", ["0", "1"], 4, 1) == (["0", "1"], "auto")
    assert worker_devices("cuda", ["0", "1"], 4, 2) == (["0", "1", "0", "1"], "cuda")  # two models: one on each GPU
    assert worker_devices("cuda:1", ["4", "5"], 4, 3) == (["5", "5", "5"], "cuda")
    assert worker_devices("cpu", ["0", "1"], 3, 1) == ([None, None, None], "cpu")
    assert worker_devices("auto", [], 2, 1) == ([None, None], "auto")
    with pytest.raises(UserError, match="--device cuda: no CUDA device available"):
        worker_devices("cuda", [], 2, 1)
    with pytest.raises(UserError, match="only 2 GPU"):
        worker_devices("cuda:2", ["0", "1"], 2, 1)
    with pytest.raises(UserError, match="--workers-per-gpu"):
        worker_devices("cuda", ["0"], 2, 0)


def test_slurm_one_task_per_gpu() -> None:
    assert slurm_gpus_per_task("cuda", None) == 1 and slurm_gpus_per_task("auto", None) == 0 and slurm_gpus_per_task("auto", 1) == 1
    with pytest.raises(UserError, match="one GPU"):
        slurm_gpus_per_task("cuda", 2)


@pytest.mark.slow
def test_local_sweep_gives_each_worker_its_own_gpu(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    """A fake list of two GPUs on CPU: with --device auto each worker sets its own
    CUDA_VISIBLE_DEVICES (over submitit's ""), finds no CUDA there and trains on the CPU; run.json
    records which one each model's worker was given."""
    spec = load_study(str(study_file(epochs=1, conditions='[[conditions]]\nname = "init"\nvary = {init_seed = [1, 2, 3, 4]}\n')))
    study_dir = tmp_path / "runs" / "tiny"
    outcomes = run_sweep(spec, study_dir, Execution(device="auto", threads=1, quiet=True), executor="local", workers=1,
                         log_dir=str(tmp_path / "logs"), quiet=True, gpus="7,9")
    assert [o.status for o in outcomes] == ["complete"] * 4
    study = open_study(study_dir)
    given = {study.run_info(m)["worker"]["pid"]: study.run_info(m)["worker"]["cuda_visible_devices"] for m in study.model_ids()}
    assert set(given.values()) <= {"7", "9"} and len(given) == len(set(given.values()))  # one GPU per worker process
    assert all(study.run_info(m)["device"].startswith("cpu") for m in study.model_ids())


def test_sweep_cuda_without_gpu_is_one_line_error(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    run = subprocess.run([sys.executable, "-m", "model_runs", "sweep", str(study_file()), "--device", "cuda", "--gpus", "0", "--runs-dir",
                          str(tmp_path / "r"), "--workers-per-gpu", "0"], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.strip() == "error: --workers-per-gpu must be at least 1"
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-m", "model_runs", "sweep", str(study_file()), "--device", "cuda", "--runs-dir", str(tmp_path / "r")],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2 and run.stderr.strip() == "error: --device cuda: no CUDA device available (use --device cpu or auto)"
    assert not (tmp_path / "r").exists()


def test_train_cuda_without_gpu_is_one_line_error(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    run = subprocess.run([sys.executable, "-m", "model_runs", "train", str(study_file()), "--device", "cuda", "--runs-dir", str(tmp_path / "r"),
                          "--model", "base"], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.strip().splitlines() == ["error: --device cuda: no CUDA device available (use --device cpu or auto)"]
    assert not (tmp_path / "r").exists()
