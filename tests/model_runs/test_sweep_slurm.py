"""`python -m model_runs sweep --executor slurm` against a real single-node Slurm (tests/slurm_cluster.py).

The sweep runs as a user would type it, in a subprocess that reaches the test cluster through
SLURM_CONF: one job-array task per model, every model lands complete in the store. Tasks
interrupted mid-run (requeued by Slurm, or signalled and requeued by submitit) resume from their
checkpoints and store exactly the decisions of uninterrupted local runs (deterministic, CPU); a
task cancelled mid-run ends the sweep, and the next sweep finishes its model.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labutil.io import read_json
from model_runs.model_lock import busy_message
from model_runs.store import open_study

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(420)]


def _sweep_cmd(study: Path, runs: Path, cluster, *extra: str, pack: str = "off") -> list[str]:
    """The sweep command; `--pack off` unless asked: these tests pin one model per array task."""
    return [
        sys.executable, "-m", "model_runs", "sweep", str(study), "--executor", "slurm", "--runs-dir", str(runs),
        "--partition", cluster.partition, "--cpus-per-task", "1", "--time-limit", "10",
        "--threads", "1", "--device", "cpu", "--pack", pack, *extra,
    ]


def test_packed_sweep_on_slurm_trains_the_group_in_one_task(slurm_cluster, study_file, tmp_path):
    """With --pack auto (the CLI default) the three same-architecture models are one work unit: one
    Slurm task trains them side by side, each with its own complete store entry."""
    study_path = study_file(name="slurm-packed", epochs=2, train_per_class=8, val_per_class=6)
    runs = tmp_path / "runs"
    out = subprocess.run(_sweep_cmd(study_path, runs, slurm_cluster, "--quiet", pack="auto"), env=slurm_cluster.env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=360)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n{slurm_cluster.logs()}"
    study = open_study(runs / "slurm-packed")
    ids = ["base", "init-1", "init-2"]
    assert study.model_ids(status="complete") == ids
    infos = [study.run_info(m) for m in ids]
    assert all(i["execution"]["packed"]["size"] == 3 and sorted(i["execution"]["packed"]["models"]) == ids for i in infos)
    assert len({i["worker"]["slurm_job_id"] for i in infos}) == 1  # one task
    _check_decisions_match_labels(study)


def _check_decisions_match_labels(study) -> None:
    labels = study.images["label"].to_numpy()
    for model_id in study.model_ids():
        e = study.epoch_decisions(model_id)
        np.testing.assert_array_equal(e.correct, e.prediction == labels[None, :])


def test_sweep_of_three_models_on_slurm_lands_in_the_store(slurm_cluster, study_file, tmp_path):
    study_path = study_file(name="slurm-three", epochs=2, train_per_class=8, val_per_class=6)
    runs = tmp_path / "runs"
    t0 = time.monotonic()
    out = subprocess.run(
        _sweep_cmd(study_path, runs, slurm_cluster, "--quiet", "--log-dir", str(tmp_path / "sweep-logs")),
        env=slurm_cluster.env, cwd=tmp_path, capture_output=True, text=True, timeout=360,
    )
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, f"sweep failed ({elapsed:.0f} s):\n{out.stdout}\n{out.stderr}\n{slurm_cluster.logs()}"
    assert "3 of 3 models complete" in out.stdout

    study = open_study(runs / "slurm-three")
    ids = ["base", "init-1", "init-2"]
    assert study.model_ids(status="complete") == ids
    final = study.final_decisions()
    assert final.model_ids == ids
    assert final.correct.shape == (3, 60)  # 6 validation images for each of the 10 digits
    assert final.correct.dtype == bool
    assert list(final.epochs) == [2, 2, 2]
    for model_id in ids:
        assert study.committed_epochs(model_id) == [0, 1, 2]
    _check_decisions_match_labels(study)

    # Each model ran as its own task of one Slurm job array on this cluster.
    workers = [study.run_info(m)["worker"] for m in ids]
    assert len({w["slurm_array_job_id"] for w in workers}) == 1
    assert sorted(w["slurm_array_task_id"] for w in workers) == ["0", "1", "2"]
    array_id = workers[0]["slurm_array_job_id"]
    slurm_cluster.wait_for(lambda: not slurm_cluster.active_jobs(), 60, "the array tasks to exit")
    states = dict(slurm_cluster.jobs())
    assert [states.get(f"{array_id}_{t}") for t in range(3)] == ["COMPLETED"] * 3

    # A second sweep finds nothing to do and submits nothing.
    known = {j.split("_")[0] for j, _ in slurm_cluster.jobs()}
    again = subprocess.run(
        _sweep_cmd(study_path, runs, slurm_cluster), env=slurm_cluster.env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "all 3 selected models are complete" in again.stdout
    assert {j.split("_")[0] for j, _ in slurm_cluster.jobs()} <= known


def _wait_for_epochs(run_json: Path, proc: subprocess.Popen, n: int, timeout: float) -> dict:
    """run.json once at least `n` epochs are committed and the model is still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"sweep ended early:\n{proc.communicate()[0]}"
        if run_json.is_file():
            info = read_json(run_json)
            if len(info.get("epochs", [])) >= n:
                return info
        time.sleep(0.1)
    raise AssertionError(f"{run_json}: fewer than {n} committed epochs after {timeout:.0f} s")


def _task_id(info: dict) -> str:
    """The Slurm id (ARRAYJOB_TASK) of the array task that wrote this run.json."""
    return f"{info['worker']['slurm_array_job_id']}_{info['worker']['slurm_array_task_id']}"


def _act_at_epoch(runs: Path, actions: dict, proc: subprocess.Popen, n: int, timeout: float) -> dict:
    """Call actions[model_id](task id) as soon as `n` epochs of the model are committed; returns
    {model_id: run.json as it stood right after the action}."""
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(actions):
        assert time.monotonic() < deadline, f"models {list(actions)} did not all reach {n} epochs: {list(seen)} did"
        assert proc.poll() is None, f"sweep ended early:\n{proc.communicate()[0]}"
        for model_id, action in actions.items():
            run_json = runs / "models" / model_id / "run.json"
            if model_id in seen or not run_json.is_file():
                continue
            info = read_json(run_json)
            if len(info.get("epochs", [])) >= n:
                action(_task_id(info))
                seen[model_id] = read_json(run_json)
        time.sleep(0.05)
    return seen


@pytest.mark.slow
def test_preempted_tasks_resume_from_checkpoint_with_the_decisions_of_a_local_run(slurm_cluster, study_file, tmp_path):
    epochs = 8
    study_path = study_file(
        name="slurm-requeue", arch="small_cnn", epochs=epochs, batch_size=10, train_per_class=60, val_per_class=10,
        conditions='[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\nvary = {init_seed = [1]}\n',
    )
    runs = tmp_path / "runs" / "slurm-requeue"
    logs = tmp_path / "logs"
    proc = subprocess.Popen(
        _sweep_cmd(study_path, tmp_path / "runs", slurm_cluster, "--quiet", "--log-dir", str(logs)),
        env=slurm_cluster.env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )

    def freeze(task: str) -> None:  # SIGSTOP: nothing the task stored can change any more
        slurm_cluster.run("scontrol", "suspend", task)

    def preempt(task: str) -> None:  # as submitit's own tests preempt a job: SIGTERM, then USR2
        slurm_cluster.run("scancel", "--signal=TERM", task)
        slurm_cluster.run("scancel", "--signal=USR2", task)

    try:
        # Both tasks run at once (2 CPUs); each is interrupted mid-run, after epochs 0 and 1.
        before = _act_at_epoch(runs, {"base": freeze, "init-1": preempt}, proc, 2, timeout=240)
        requeued, signalled = _task_id(before["base"]), _task_id(before["init-1"])
        # "base" is requeued by Slurm, as on preemption with PreemptMode=REQUEUE: killed where it
        # stands, back to pending (held, because it was suspended: release it). "init-1" caught
        # USR2 (what Slurm sends 90 s before the time limit), saved its submitit state and requeued
        # itself (counted as a timeout: its 10 min limit is too short for submitit to call it a preemption).
        slurm_cluster.run("scontrol", "requeue", requeued)
        slurm_cluster.run("scontrol", "release", requeued)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{output}\n{slurm_cluster.logs()}"
    for info in before.values():
        assert info["status"] == "running" and 1 <= len(info["epochs"]) - 1 < epochs, info["epochs"]
    signal_log = "".join(p.read_text() for p in logs.glob(f"{signalled}/*_log.out"))
    assert "Caught signal SIGUSR2" in signal_log and f"Requeued job {signalled}" in signal_log

    study = open_study(runs)
    assert study.model_ids(status="complete") == ["base", "init-1"]
    slurm_cluster.wait_for(lambda: not slurm_cluster.active_jobs(), 60, "the array tasks to exit")
    for model_id, task in (("base", requeued), ("init-1", signalled)):
        info = study.run_info(model_id)
        assert info["status"] == "complete" and info["attempts"] == 2, model_id
        assert study.committed_epochs(model_id) == list(range(epochs + 1))
        job = slurm_cluster.run("scontrol", "show", "job", task).stdout
        assert "Restarts=1" in job and "JobState=COMPLETED" in job, job

    # The same models trained in one go, locally, store the same decisions and losses.
    ref_runs = tmp_path / "ref"
    local = subprocess.run(
        [sys.executable, "-m", "model_runs", "train", str(study_path), "--runs-dir", str(ref_runs),
         "--threads", "1", "--device", "cpu", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert local.returncode == 0, local.stderr
    ref = open_study(ref_runs / "slurm-requeue")
    for model_id in ("base", "init-1"):
        got, want = study.epoch_decisions(model_id), ref.epoch_decisions(model_id)
        np.testing.assert_array_equal(got.epochs, want.epochs)
        np.testing.assert_array_equal(got.prediction, want.prediction)
        np.testing.assert_array_equal(got.correct, want.correct)
        losses = [e["val_loss"] for e in study.run_info(model_id)["epochs"]]
        assert losses == [e["val_loss"] for e in ref.run_info(model_id)["epochs"]]
        assert ref.run_info(model_id)["attempts"] == 1
    assert not np.array_equal(study.epoch_decisions("base").prediction, study.epoch_decisions("init-1").prediction)


@pytest.mark.slow
def test_cancelled_task_ends_the_sweep_and_the_next_sweep_finishes_the_model(slurm_cluster, study_file, tmp_path):
    study_path = study_file(
        # epochs long enough (small CNN, 600 training images, batches of 10) that the task is still
        # training when it is frozen and cancelled after its first epoch
        name="slurm-cancel", arch="small_cnn", epochs=4, batch_size=10, train_per_class=60, val_per_class=10,
        conditions='[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\nvary = {init_seed = [1]}\n',
    )
    runs = tmp_path / "runs"
    run_json = runs / "slurm-cancel" / "models" / "base" / "run.json"
    proc = subprocess.Popen(
        _sweep_cmd(study_path, runs, slurm_cluster, "--quiet"), env=slurm_cluster.env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        task = _task_id(_wait_for_epochs(run_json, proc, 1, timeout=240))
        slurm_cluster.run("scontrol", "suspend", task)  # freeze it mid-run, then cancel it
        slurm_cluster.run("scancel", task)
        t0 = time.monotonic()
        output, errors = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # The sweep notices the task ended without a result (no sacct here: through squeue) and says so.
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 2, f"{output}\n{errors}"
    assert "ended without a result" in output
    assert "1 of 2 models complete" in output
    assert errors.strip().splitlines()[-1].startswith("error: 1 model(s) not complete; first: base")
    study = open_study(runs / "slurm-cancel")
    assert study.model_ids(status="complete") == ["init-1"]
    # The task's process may outlive its queue entry while it stops (here no cgroup kills it at
    # once): until then a sweep skips the model as busy, naming the process. Wait for it, as a user would.
    deadline = time.monotonic() + 90
    while busy_message("base", study.model_dir("base")) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert busy_message("base", study.model_dir("base")) is None, "the cancelled task still holds the model's lock"

    again = subprocess.run(
        _sweep_cmd(runs / "slurm-cancel", tmp_path / "unused", slurm_cluster, "--quiet"), env=slurm_cluster.env,
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
    assert "base: complete" in again.stdout and "1 of 1 models complete" in again.stdout
    info = study.run_info("base")
    assert info["status"] == "complete" and info["attempts"] == 2
    assert study.committed_epochs("base") == [0, 1, 2, 3, 4]
    _check_decisions_match_labels(study)
