"""SIGKILL of a local sweep's parent process: its workers stop at their next committed epoch,
release the model locks and take no further model; a sweep run again takes over and completes
every model with the decisions of an uninterrupted run."""

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

from model_runs.model_lock import busy_message
from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from labutil.io import pid_alive
from model_runs.sweep import LocalWorker
from model_runs.train import Execution

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 60  # long enough that a model rarely finishes before the other worker has started


def _sweep(study: Path, runs: Path, env: dict[str, str], pack: str = "off") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "model_runs", "sweep", str(study), "--runs-dir", str(runs),
                             "--workers", "2", "--device", "cpu", "--threads", "1", "--quiet", "--pack", pack], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _infos(models: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(models.glob("*/run.json")):
        try:
            out[p.parent.name] = json.loads(p.read_text())
        except json.JSONDecodeError:
            pass
    return out


def test_parent_gone_is_noticed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    worker = LocalWorker("s", "q", {}, Execution(), parent_pid=child.pid)
    child.wait()
    assert not pid_alive(child.pid) and "has ended" in worker.parent_gone()
    assert LocalWorker("s", "q", {}, Execution()).parent_gone() is None  # this process: alive


def test_zombie_parent_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # exited but not reaped: a zombie, which os.kill(pid, 0) still finds
        with open(f"/proc/{child.pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    assert not pid_alive(child.pid)
    child.wait()


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize("pack", ["off", "auto"])
def test_sigkill_of_the_sweep_parent_stops_its_workers(tmp_path: Path, study_file: Callable[..., Path], pack: str) -> None:
    """Models one at a time (two taken, the third never), or packed (two in one group, the third
    alone on the other worker: all three taken)."""
    path = study_file(name="orphan", epochs=EPOCHS, train_per_class=30, val_per_class=10)
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = _sweep(path, runs, env, pack)
    models = runs / "orphan" / "models"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        infos = _infos(models)
        # every worker busy: a model may finish before the other worker has started (a fast machine),
        # and that worker then takes the next one; wait until the running models fill both workers
        if sum(i.get("status") == "running" and len(i.get("epochs", [])) >= 3 for i in infos.values()) >= (2 if pack == "off" else 3):
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = _infos(models)
    killed_at = {m: len(i["epochs"]) for m, i in at_kill.items()}
    done_before = {m for m, i in at_kill.items() if i["status"] == "complete"}
    workers = {i["worker"]["pid"] for i in at_kill.values()}
    t0 = time.monotonic()
    while any(pid_alive(pid) for pid in workers) and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    stopped_in = time.monotonic() - t0
    assert not any(pid_alive(pid) for pid in workers), "workers still running a minute after their sweep died"
    infos = _infos(models)
    study = open_study(runs / "orphan")
    assert set(infos) == set(at_kill)  # no model taken after the kill
    for m, info in infos.items():
        assert busy_message(m, study.model_dir(m)) is None, m  # lock released
        if m in done_before:
            assert info["status"] == "complete" and len(info["epochs"]) == EPOCHS + 1, m
            continue
        assert info["status"] == "running", m
        assert len(info["epochs"]) <= killed_at[m] + 2, (m, killed_at[m], len(info["epochs"]))  # next commit
        assert len(info["epochs"]) < EPOCHS + 1
    # unpacked, two models under way and the third never taken unless one finished before the kill
    assert len(infos) == (2 + len(done_before) if pack == "off" else 3)
    packed = {m: "packed" in i["execution"] for m, i in infos.items()}
    # auto on 2 workers: the units balance, base and init-1 packed on one worker, init-2 alone on the other
    assert packed == ({m: False for m in infos} if pack == "off" else {"base": True, "init-1": True, "init-2": False})
    assert stopped_in < 30, stopped_in

    again = _sweep(path, runs, env, pack)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    study = open_study(runs / "orphan")
    assert study.model_ids(status="complete") == ["base", "init-1", "init-2"]
    assert {m: study.run_info(m)["attempts"] for m in infos} == {m: 1 if m in done_before else 2 for m in infos}
    spec = load_study(str(path))
    run_models(spec, tmp_path / "inline" / "orphan", ["init-1"], Execution(device="cpu", threads=1, quiet=True))
    np.testing.assert_array_equal(open_study(tmp_path / "inline" / "orphan").epoch_decisions("init-1").prediction,
                                  study.epoch_decisions("init-1").prediction)
