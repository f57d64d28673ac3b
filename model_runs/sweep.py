"""Sweeps over a study with submitit: N local workers, or one Slurm job-array task per model.

Already complete models are skipped. Local workers take work units one at a time from a shared
queue (a file under a lock), so long and short models balance. A unit is one model, or with
`pack = "auto"` a group of small models trained together (`model_runs.packed`; one line of the
queue, ids joined by commas; one Slurm array task). A Slurm task is requeued on preemption or
timeout through submitit's checkpointing and resumes from the model's last checkpoint.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labutil.errors import UserError
from labutil.io import atomic_write_text, pid_alive
from model_runs.devices import claim_device, visible_gpus, worker_devices
from model_runs.model_lock import busy_message
from model_runs.packed import DEFAULT_MAX_PACK, plan_units, run_unit
from model_runs.runner import ModelOutcome, model_status, prepare, run_one, spec_from_study_dir
from model_runs.store import Study, open_study
from model_runs.study_files import StudySpec
from model_runs.train import Execution, auto_loader_workers


@dataclass
class SlurmOptions:
    """sbatch settings of a Slurm sweep (one job-array task per model)."""

    partition: str | None = None
    time_limit_min: int = 60
    cpus_per_task: int = 4
    gpus_per_task: int | None = None  # None: 1 with --device cuda, else 0 (a model trains on one device)
    mem_gb: float | None = None
    array_parallelism: int = 64
    python: str | None = None  # interpreter on the nodes; default: this one
    setup: list[str] = field(default_factory=list)  # shell lines run before the task (module load ...)
    max_requeues: int = 3
    extra: dict[str, str] = field(default_factory=dict)  # further sbatch options, e.g. account, qos


# ---------------------------------------------------------------------------------------------
# Work queue of a local sweep


def write_queue(folder: Path, model_ids: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "queue.txt", "\n".join(model_ids) + "\n")
    atomic_write_text(folder / "queue.next", "0\n")


def claim_next(folder: Path) -> str | None:
    """Take the next model id from the queue (None when empty); safe across processes."""
    with open(folder / "queue.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ids = (folder / "queue.txt").read_text().split()
        pos = int((folder / "queue.next").read_text().strip() or 0)
        if pos >= len(ids):
            return None
        (folder / "queue.next").write_text(f"{pos + 1}\n")
        return ids[pos]


# ---------------------------------------------------------------------------------------------
# The callables that run inside submitit jobs (pickled by reference to this module)


class LocalWorker:
    """Trains models from the queue until it is empty; returns each model's outcome. A worker given
    a GPU sees only that one (it sets CUDA_VISIBLE_DEVICES itself, over submitit's "").

    The worker ends with the sweep that started it: when that process (`parent_pid`) is gone
    (killed), the model in training stops after its next committed epoch, releasing its lock, and
    no further model is taken, so a sweep run again takes over at once."""

    def __init__(self, study_dir: str, queue_dir: str, location: dict[str, Any], execution: Execution,
                 gpu: str | None = None, parent_pid: int | None = None) -> None:
        self.study_dir = study_dir
        self.queue_dir = queue_dir
        self.location = location
        self.execution = execution
        self.gpu = gpu
        self.parent_pid = os.getpid() if parent_pid is None else parent_pid

    def parent_gone(self) -> str | None:
        """Why this worker should stop (its sweep process has died), or None."""
        if pid_alive(self.parent_pid):
            return None
        return f"the sweep process (pid {self.parent_pid}) has ended"

    def __call__(self) -> list[dict[str, Any]]:
        from model_runs.datasets import open_dataset
        from model_runs.train import StopRequested, set_stop_check

        claim_device(self.gpu)
        spec = spec_from_study_dir(Path(self.study_dir), self.location)
        study = open_study(self.study_dir)
        dataset = open_dataset(spec.dataset)
        out = []
        set_stop_check(self.parent_gone)
        try:
            while not self.parent_gone() and (unit := claim_next(Path(self.queue_dir))) is not None:
                print(f"model {unit}: start", flush=True)
                for outcome in run_unit(spec, study, dataset, unit.split(","), self.execution):
                    print(f"model {outcome.model_id}: {outcome.status} {outcome.error}", flush=True)
                    out.append(asdict(outcome))
        except StopRequested as stop:
            print(f"stopping at a committed epoch: {stop}", flush=True)
        finally:
            set_stop_check(None)
        return out


def _checkpointable_base() -> type:
    import submitit

    return submitit.helpers.Checkpointable


class ModelTask(_checkpointable_base()):  # type: ignore[misc]
    """One work unit (a model, or packed models as ids joined by commas) in one Slurm array task; on
    timeout/preemption submitit requeues it and it resumes."""

    def __init__(self, study_dir: str, location: dict[str, Any], execution: Execution) -> None:
        self.study_dir = study_dir
        self.location = location
        self.execution = execution

    def __call__(self, unit: str) -> dict[str, Any] | list[dict[str, Any]]:
        from model_runs.datasets import open_dataset

        spec = spec_from_study_dir(Path(self.study_dir), self.location)
        study = open_study(self.study_dir)
        if "," not in unit:
            return asdict(run_one(spec, study, open_dataset(spec.dataset), unit, self.execution))
        return [asdict(o) for o in run_unit(spec, study, open_dataset(spec.dataset), unit.split(","), self.execution)]


# ---------------------------------------------------------------------------------------------
# Driving a sweep


def todo_models(study: Study, spec: StudySpec, model_ids: list[str] | None) -> list[str]:
    """The selected models that are not complete yet, in study order (continued models last); a model that another live
    process is training (its lock is held) is skipped with a message."""
    todo = []
    for m in spec.select(model_ids):
        model_id = m["model_id"]
        if model_status(study, model_id) == "complete":
            continue
        busy = busy_message(model_id, study.model_dir(model_id))
        if busy:
            print(f"skipping {busy}")
            continue
        todo.append(model_id)
    # a model that continues another (continue_from) goes after the others, so that its source is
    # trained (or under way) first; a worker that takes it while the source trains waits for it
    return sorted(todo, key=lambda m: bool(spec.model(m).get("continue_from")))


def sweep_folder(study_dir: Path, log_dir: str | None) -> Path:
    if log_dir:
        return Path(log_dir).expanduser().resolve()
    return (Path(study_dir) / "sweeps" / time.strftime("%Y%m%d-%H%M%S")).resolve()


def run_sweep(
    spec: StudySpec,
    study_dir: Path,
    execution: Execution,
    executor: str = "local",
    workers: int = 2,
    model_ids: list[str] | None = None,
    slurm: SlurmOptions | None = None,
    log_dir: str | None = None,
    wait: bool = True,
    quiet: bool = False,
    gpus: str | None = None,
    workers_per_gpu: int = 1,
    pack: str = "off",
    pack_size: int = DEFAULT_MAX_PACK,
) -> list[ModelOutcome]:
    """Train every incomplete model of the study with the chosen executor; returns the outcomes.

    Local sweeps with GPUs run `workers_per_gpu` workers on each GPU (`gpus`, default: the visible
    ones), each seeing only its own; without GPUs, `workers` CPU workers. `pack` auto (the CLI default) trains the
    models that `model_runs.packed` finds packable in groups of at most `pack_size`."""
    import submitit

    if executor == "local":
        slots, worker_device = worker_devices(execution.device, visible_gpus(gpus), workers, workers_per_gpu)
    study = prepare(spec, study_dir)
    todo = todo_models(study, spec, model_ids)
    parallel = len(slots) if executor == "local" else 1  # local: groups split to balance the workers
    units = [",".join(u) for u in plan_units(spec, todo, execution, pack, pack_size, workers=parallel)]
    if not todo:
        if not quiet:
            selected = spec.select(model_ids)
            if all(model_status(study, m["model_id"]) == "complete" for m in selected):
                print(f"{study_dir}: all {len(selected)} selected models are complete")
            else:
                print(f"{study_dir}: nothing to train; the selected models are complete or busy")
        return []
    folder = sweep_folder(study_dir, log_dir)
    location = spec.dataset_location()
    worker_exec = Execution(**{**asdict(execution), "quiet": True})
    if executor == "local":
        slots = slots[: max(1, len(units))]
        worker_exec.device = worker_device
        if worker_exec.threads <= 0:
            worker_exec.threads = max(1, (os.cpu_count() or 1) // len(slots))
        if worker_exec.loader_workers is None:  # the workers' loader processes share the cores too
            worker_exec.loader_workers = auto_loader_workers(max(1, (os.cpu_count() or 1) // len(slots)))
        write_queue(folder, units)
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=60 * 24 * 7)
        if not quiet and any(slots):
            print(f"{len(slots)} local workers on GPUs {','.join(str(g) for g in slots)}")
        jobs = [ex.submit(LocalWorker(str(Path(study_dir).resolve()), str(folder), location, worker_exec, gpu)) for gpu in slots]
    elif executor == "slurm":
        slurm = slurm or SlurmOptions()
        gpus_per_task = slurm_gpus_per_task(execution.device, slurm.gpus_per_task)
        if worker_exec.threads <= 0:  # torch would take every core of the node, not the task's share
            worker_exec.threads = slurm.cpus_per_task
        if worker_exec.loader_workers is None:
            worker_exec.loader_workers = auto_loader_workers(slurm.cpus_per_task)
        ex = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm", slurm_python=slurm.python, slurm_max_num_timeout=slurm.max_requeues)
        params: dict[str, Any] = {
            "name": f"model_runs-{spec.name}", "timeout_min": slurm.time_limit_min, "cpus_per_task": slurm.cpus_per_task,
            "slurm_array_parallelism": slurm.array_parallelism, "slurm_setup": list(slurm.setup),
        }
        if slurm.partition:
            params["slurm_partition"] = slurm.partition
        if gpus_per_task:
            params["slurm_gpus_per_task"] = gpus_per_task
        if slurm.mem_gb:
            params["mem_gb"] = slurm.mem_gb
        if slurm.extra:
            params["slurm_additional_parameters"] = dict(slurm.extra)
        ex.update_parameters(**params)
        task = ModelTask(str(Path(study_dir).resolve()), location, worker_exec)
        try:
            jobs = ex.map_array(task, units)
        except (subprocess_error(), FileNotFoundError, OSError) as exc:
            raise UserError(f"could not submit to Slurm: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}") from None
        if not quiet:
            print(f"submitted {len(jobs)} Slurm array tasks (job {jobs[0].job_id.split('_')[0]}); logs in {folder}")
    else:
        raise UserError(f"--executor {executor}: choose local or slurm")
    if not wait:
        return []
    try:
        gone = watch(study, spec, todo, jobs, quiet, on_slurm=executor == "slurm")
    except KeyboardInterrupt:
        for job in jobs:
            job.cancel(check=False)
        raise
    return collect(jobs, todo, study, folder, gone)


def slurm_gpus_per_task(device: str, requested: int | None) -> int:
    """GPUs per Slurm task: one per task (one model) with --device cuda unless given; more than one
    would sit idle, since a model trains on one device."""
    if requested is None:
        return 1 if device.startswith("cuda") else 0
    if requested < 0 or requested > 1:
        raise UserError(f"--gpus-per-task {requested}: a model trains on one GPU; use 0 or 1 (one task per GPU)")
    if device == "cpu" and requested:
        raise UserError("--gpus-per-task 1 with --device cpu would leave the GPU idle")
    return requested


def subprocess_error() -> type[Exception]:
    import subprocess

    return subprocess.CalledProcessError


# squeue states of a job that will not run again (a requeued task is PENDING or REQUEUED instead;
# PREEMPTED counts as unfinished, as in submitit, since a preempted task may come back).
SLURM_ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"})


def slurm_ended(jobs: list[Any]) -> set[str]:
    """Ids of the Slurm jobs/array tasks that squeue reports ended or no longer lists; empty when
    squeue fails. submitit learns of a task that died without a result (scancel, killed node) only
    through sacct, which clusters without accounting lack: without this a sweep would wait forever."""
    import subprocess

    arrays = sorted({str(job.job_id).split("_")[0] for job in jobs})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return set()
    if out.returncode != 0:
        return set()
    states = dict(line.split(None, 1) for line in out.stdout.splitlines() if len(line.split()) == 2)
    return {str(job.job_id) for job in jobs if states.get(str(job.job_id), "COMPLETED") in SLURM_ENDED}


def watch(study: Study, spec: StudySpec, todo: list[str], jobs: list[Any], quiet: bool, on_slurm: bool = False) -> set[str]:
    """Show overall progress (committed epochs of all models) until every job has ended; returns
    the ids of Slurm jobs that ended without a result file (cancelled, killed)."""
    from labutil.progress import progress

    totals = {m: spec.model(m)["epochs"] + 1 for m in todo}
    bar = progress(total=sum(totals.values()), desc=f"sweep {spec.name}", unit="epoch", disable=quiet, dynamic_ncols=True)
    gone: set[str] = set()
    next_squeue = time.monotonic() + 5
    while True:
        if on_slurm and time.monotonic() >= next_squeue:
            waiting = [job for job in jobs if not job.done()]
            gone |= {j for j in slurm_ended(waiting) if not _has_result(jobs, j)} if waiting else set()
            next_squeue = time.monotonic() + 5
        finished = all(str(job.job_id) in gone or job.done() for job in jobs)
        done, running, failed, complete = 0, [], 0, 0
        for m in todo:
            path = study.model_dir(m) / "run.json"
            if not path.is_file():
                continue
            try:
                info = study.run_info(m)
            except UserError:
                continue
            done += len(info.get("epochs", []))
            status = info.get("status")
            failed += status == "failed"
            complete += status == "complete"
            if status == "running":
                running.append(m)
        bar.n = min(done, bar.total)
        bar.set_postfix_str(f"complete {complete}/{len(todo)} failed {failed} running {','.join(running[:3])}", refresh=False)
        bar.refresh()
        if finished:
            break
        time.sleep(0.5)
    bar.close()
    return gone


def _has_result(jobs: list[Any], job_id: str) -> bool:
    return any(str(job.job_id) == job_id and job.paths.result_pickle.exists() for job in jobs)


def collect(jobs: list[Any], todo: list[str], study: Study, folder: Path, gone: set[str] | None = None) -> list[ModelOutcome]:
    """Outcomes of every model, from the jobs' results or, when a job died, from the store."""
    outcomes: dict[str, ModelOutcome] = {}
    for job in jobs:
        if str(job.job_id) in (gone or set()) and not job.paths.result_pickle.exists():
            print(f"warning: Slurm job {job.job_id} ended without a result (cancelled or killed; log: {job.paths.stderr})")
            continue
        try:
            result = job.result()
        except Exception as exc:  # noqa: BLE001 - a crashed job; its models are read from the store below
            last = [line for line in str(exc).strip().splitlines() if line.strip()]
            print(f"warning: job {job.job_id} failed: {last[-1] if last else exc} (log: {job.paths.stderr})")
            continue
        for r in result if isinstance(result, list) else [result]:
            outcomes[r["model_id"]] = ModelOutcome(**r)
    for m in todo:
        if m not in outcomes:
            status = model_status(study, m)
            error = study.run_info(m).get("error", "") if status != "pending" else "never started"
            outcomes[m] = ModelOutcome(m, status, error=str(error or f"job ended early; see logs in {folder}"))
    return [outcomes[m] for m in todo]
