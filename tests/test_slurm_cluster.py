"""The Slurm test harness itself: the node, plain sbatch and submitit job arrays on the real cluster.

Requeue and preemption are tested with the sweeps, in tests/model_runs/test_sweep_slurm.py.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(180)]
HERE = Path(__file__).resolve().parent


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_node_is_this_host_with_its_cpus_and_memory(slurm_cluster):
    node, cpus, memory, state, partition = slurm_cluster.run("sinfo", "-h", "-N", "-o", "%N %c %m %T %P").stdout.split()
    assert node == socket.gethostname().split(".")[0]
    assert int(cpus) == slurm_cluster.cpus and int(cpus) in {os.cpu_count(), len(os.sched_getaffinity(0))}
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    assert 0.9 * total_mb <= int(memory) <= total_mb
    assert (state, partition) == ("idle", f"{slurm_cluster.partition}*")


def test_sbatch_wrap_runs_on_the_node(slurm_cluster, tmp_path):
    out_file = tmp_path / "hostname.txt"
    job_id = slurm_cluster.run(
        "sbatch", "--parsable", "-o", str(out_file), "--wrap", "hostname; echo conf=$SLURM_CONF"
    ).stdout.strip()
    _wait(lambda: dict(slurm_cluster.jobs()).get(job_id) == "COMPLETED", 60, f"job {job_id}")
    lines = out_file.read_text().split()
    assert lines == [slurm_cluster.node, f"conf={slurm_cluster.conf}"]


@pytest.fixture
def submitit_executor(slurm_cluster, tmp_path, monkeypatch):
    """A submitit Slurm executor on the test cluster whose jobs can import this test module."""
    submitit = pytest.importorskip("submitit")
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=5, slurm_partition=slurm_cluster.partition, cpus_per_task=1)
    return executor


def _square(x: int) -> tuple[int, str | None]:
    return x * x, os.environ.get("SLURM_ARRAY_TASK_ID")


def test_submitit_map_array(submitit_executor):
    jobs = submitit_executor.map_array(_square, [1, 2, 3])
    assert [job.result() for job in jobs] == [(1, "0"), (4, "1"), (9, "2")]
