"""Train (or only evaluate) one model of a study and record every epoch's decisions in the store.

Order of events per epoch: train, evaluate on the validation set, write the checkpoint, commit the
epoch's decisions through `ModelWriter.commit_epoch`. Epoch 0 is the evaluation before training.
A rerun of a model resumes from its newest checkpoint; in deterministic mode on CPU the stored
decisions equal those of an uninterrupted run, because every random choice derives from the
recorded seeds and the epoch number.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labutil.errors import DISK_FULL, DiskFull, UserError
from labutil.versions import software_versions
from model_runs.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from model_runs.conditions import (activation_subset, continuation_source, copy_source_epochs, make_scheduler, penultimate_layer, random_labels,
                                   recipe_value, store_options, true_class_stats)
from model_runs.datasets import Dataset, open_dataset
from model_runs.model_lock import model_lock
from model_runs.pipeline import epoch_order, make_pipeline, seed_from, training_subset
from model_runs.store import STORE_OPTIONS_KEY, TRAIN_LABELS_FILE, ModelWriter, Study, create_study
from model_runs.recipes import recipe_value
from model_runs.study_files import StudySpec

if TYPE_CHECKING:
    import torch


@dataclass
class Execution:
    """How to run (not what to run): device and speed switches; recorded in run.json, not in config."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # mixed precision also where `precision = auto` would not use it (bf16 on CPU, fp16 on GPUs without bf16)
    channels_last: bool | None = None  # None: on for CUDA, off on CPU
    precision: str = "auto"  # auto (bf16 autocast on GPUs that support it, else fp32) | fp32 | bf16 | fp16 (CUDA, with a GradScaler)
    compile: bool = False  # torch.compile the model (forward and backward) for training and evaluation
    decoder: str = "auto"  # image files: auto (training views via torchvision.io + v2 uint8 kernels, evaluation in PIL) | pil | tensor | batched
    image_cache: str | None = None  # image files: folder of memory-mapped caches of the resized images (decoded once)
    threads: int = 0  # torch CPU threads; 0 = torch's default
    loader_workers: int | None = None  # DataLoader processes for image-file datasets; None: scaled to the cores
    quiet: bool = False  # no progress bars
    log_decisions: bool = True  # False only for benchmarks: train without storing per-image decisions


@dataclass
class EvalResult:
    prediction: np.ndarray  # int (n_images,)
    loss: float
    accuracy: float
    probabilities: np.ndarray | None = None
    true_prob: np.ndarray | None = None  # float32 (n_images,): softmax probability of the true class
    margin: np.ndarray | None = None  # float32 (n_images,): true_prob minus the largest other class probability
    activations: np.ndarray | None = None  # float32 (k, d): penultimate-layer inputs of the `capture` images


def resolve_device(name: str) -> "torch.device":
    """'auto' picks CUDA when available; asking for CUDA without one is a one-line error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device available (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device (auto, cpu, cuda, cuda:N)") from None


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_execution(execution: Execution, device: "torch.device") -> Execution:
    """The execution with `precision` and `channels_last` decided for this device (what run.json records).

    auto precision: bf16 autocast (no GradScaler) on CUDA devices that support bf16, fp32 elsewhere;
    `amp` asks for mixed precision everywhere (bf16 on CPU, fp16 + GradScaler on older GPUs)."""
    import dataclasses

    import torch

    if execution.precision not in PRECISIONS:
        raise UserError(f"--precision {execution.precision}: choose {', '.join(PRECISIONS)}")
    bf16_ok = device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported())
    precision = execution.precision
    if precision == "auto":
        if device.type == "cuda" and (bf16_ok or execution.amp):
            precision = "bf16" if bf16_ok else "fp16"
        else:
            precision = "bf16" if execution.amp else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise UserError("--precision fp16 needs a CUDA device (use bf16 on the CPU)")
    if precision == "bf16" and not bf16_ok:
        raise UserError(f"--precision bf16: {_device_name(device)} does not support bfloat16 (use fp16 or fp32)")
    channels_last = device.type == "cuda" if execution.channels_last is None else bool(execution.channels_last)
    workers = auto_loader_workers() if execution.loader_workers is None else int(execution.loader_workers)
    return dataclasses.replace(execution, precision=precision, channels_last=channels_last, amp=precision != "fp32", loader_workers=workers)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a Slurm task's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_loader_workers(cores: int | None = None) -> int:
    """DataLoader processes for the cores at hand: one core stays with the training process, at most 8
    (so 2 cores give 1 worker, never torch's warning about more workers than cores)."""
    cores = usable_cores() if cores is None else cores
    return max(0, min(8, cores - 1))


def set_determinism(deterministic: bool, device: "torch.device") -> None:
    """Deterministic algorithms and cuDNN settings, or the fast non-deterministic ones.

    CPU kernels are deterministic for a fixed thread count anyway; `use_deterministic_algorithms`
    is only switched for CUDA, as it costs seconds of imports (torch._dynamo) per process.
    """
    import torch

    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    if device.type == "cuda" and torch.are_deterministic_algorithms_enabled() != deterministic:
        torch.use_deterministic_algorithms(deterministic, warn_only=True)


def prepare_study(spec: StudySpec, study_dir: Path) -> tuple[Study, Dataset]:
    """Open the dataset and create (or reopen the matching) study folder in the store."""
    dataset = open_dataset(spec.dataset)
    images = dataset.val_images()
    labels = images["label"].to_numpy()
    for entry in spec.models:
        check_labels(labels, entry["num_classes"] or dataset.n_classes, f"{dataset.name} validation split (model '{entry['model_id']}')")
    from model_runs.data_location import check_record, new_record, store_record
    from model_runs.study_advice import print_advice

    record = new_record(dataset)
    check_record(study_dir, record)  # before anything is written
    study = create_study(study_dir, spec.definition(), images)
    note = store_record(study, record)
    if note:
        print(note, file=sys.stderr)
    print_advice(spec, study, dataset)
    return study, dataset


def build_model(entry: dict[str, Any], dataset: Dataset, image_size: int) -> "torch.nn.Module":
    import torch

    from model_runs.models import create_model

    num_classes = entry["num_classes"] or dataset.n_classes
    torch.manual_seed(seed_from(entry["init_seed"]))
    return create_model(
        entry["arch"], num_classes, weights=entry["weights"] or None, in_channels=dataset.channels,
        image_size=image_size, **entry["model_options"],
    )


def make_optimizer(model: "torch.nn.Module", entry: dict[str, Any]) -> tuple[Any, Any]:
    import torch

    params = model.parameters()
    if entry["optimizer"] == "sgd":
        opt = torch.optim.SGD(params, lr=entry["lr"], momentum=entry["momentum"], nesterov=entry["nesterov"], weight_decay=entry["weight_decay"])
    elif entry["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=entry["lr"], weight_decay=entry["weight_decay"])
    else:
        opt = torch.optim.AdamW(params, lr=entry["lr"], weight_decay=entry["weight_decay"])
    return opt, make_scheduler(opt, entry)


def evaluate(model: "torch.nn.Module", pipeline: Any, batch_size: int, device: "torch.device", amp: bool | str, probabilities: bool = False,
             quiet: bool = True, dynamics: bool = False, capture: np.ndarray | None = None, layer: "torch.nn.Module | None" = None) -> EvalResult:
    """Predictions for every validation image, gathered on the device and copied once (`amp`: a
    resolved precision, or a bool for the older switch). `dynamics`: also the true-class probability
    and margin of every image; `capture`: ascending image indices whose input to `layer` (the
    penultimate representation) is returned as activations."""
    import torch
    from labutil.progress import progress

    model.eval()
    preds, probs, p_true, margins, acts = [], [], [], [], []
    held: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _m, inputs: held.append(inputs[0].detach())) if capture is not None and layer is not None else None
    want = torch.from_numpy(np.asarray(capture, dtype=np.int64)).to(device) if hook is not None else None
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    n = 0
    with torch.inference_mode(), _autocast(device, amp):
        batches = progress(pipeline.eval_batches(batch_size), total=-(-pipeline.n("val") // batch_size), desc="  validation", unit="batch",
                       leave=False, disable=quiet, dynamic_ncols=True)
        for x, y in batches:
            logits = model(x).float()
            loss_sum += torch.nn.functional.cross_entropy(logits, y, reduction="sum").double()
            p = logits.argmax(1)
            correct += (p == y).sum()
            preds.append(p)
            if probabilities:
                probs.append(torch.softmax(logits, 1))
            if dynamics:
                pt, mg = true_class_stats(logits, y)
                p_true.append(pt)
                margins.append(mg)
            if want is not None:
                rows = want[(want >= n) & (want < n + len(y))] - n
                acts.append(held.pop().flatten(1)[rows].float())
                held.clear()
            n += len(y)
    if hook is not None:
        hook.remove()
    prediction = torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)
    prob = torch.cat(probs).cpu().numpy().astype(np.float32) if probabilities and probs else None
    result = EvalResult(prediction, float(loss_sum.item()) / max(n, 1), float(correct.item()) / max(n, 1), prob)
    if dynamics:
        result.true_prob = torch.cat(p_true).cpu().numpy() if p_true else np.zeros(0, np.float32)
        result.margin = torch.cat(margins).cpu().numpy() if margins else np.zeros(0, np.float32)
    if want is not None:
        result.activations = torch.cat(acts).cpu().numpy() if acts else np.zeros((0, 0), np.float32)
    return result


def _autocast(device: "torch.device", precision: bool | str) -> Any:
    """Autocast for a resolved precision (fp32: off); True means the older `amp` (fp16 on CUDA, bf16 on CPU)."""
    import torch

    if precision is True:
        precision = "fp16" if device.type == "cuda" else "bf16"
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=precision in ("fp16", "bf16"))


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Every label must be a class the model can predict."""
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(np.flatnonzero((labels < 0) | (labels >= num_classes))[0])
        raise UserError(f"{where}: image {bad} has label {int(labels[bad])} outside the class range 0..{num_classes - 1}")


class StopRequested(BaseException):
    """Raised after a committed epoch when the stop check asks to end (a sweep worker whose
    parent died); the run is not marked failed, so the next sweep or resume takes it over."""


_stop_check: Callable[[], str | None] | None = None


def set_stop_check(check: Callable[[], str | None] | None) -> None:
    """Install a check called after every committed epoch: a reason (str) stops the run there."""
    global _stop_check
    _stop_check = check


def _maybe_stop() -> None:
    reason = _stop_check() if _stop_check is not None else None
    if reason:
        raise StopRequested(reason)


def _worker() -> dict[str, Any]:
    out: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        if os.environ.get(var):
            out[var.lower()] = os.environ[var]
    if "CUDA_VISIBLE_DEVICES" in os.environ:  # the GPU(s) this process was given ("" = none)
        out["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return out


def eval_options(entry: dict[str, Any]) -> dict[str, Any]:
    """A model's evaluation resize/interpolation for image-file datasets (defaults for older stores)."""
    return {"eval_resize": int(entry.get("eval_resize", 0)), "eval_interpolation": str(entry.get("eval_interpolation", "bilinear"))}


def model_config(spec: StudySpec, entry: dict[str, Any]) -> dict[str, Any]:
    """Everything that defines a model's run (compared on resume): its study entry and the dataset."""
    return {"study": spec.name, **entry, "dataset": spec.dataset_definition()}


def run_model(spec: StudySpec, study: Study, dataset: Dataset, model_id: str, execution: Execution) -> dict[str, Any]:
    """Train/evaluate one model to its last epoch, resuming from its checkpoint; returns run.json."""
    entry = spec.model(model_id)
    writer = ModelWriter(study, model_id)
    config = model_config(spec, entry)
    existing = study.model_dir(model_id) / "run.json"
    if existing.is_file() and study.run_info(model_id).get("status") == "complete":
        if study.run_info(model_id).get("config") != config:
            raise UserError(f"{existing}: model exists with a different configuration; remove it or use another id")
        return study.run_info(model_id)
    source = entry.get("continue_from")
    if source and not (existing.is_file() and study.committed_epochs(model_id)):
        _ensure_source(spec, study, dataset, model_id, source, execution)
    with model_lock(model_id, study.model_dir(model_id)):  # one writer per model; ModelBusy if taken
        return _run_model_locked(spec, study, dataset, model_id, execution, entry, writer, config)


def _ensure_source(spec: StudySpec, study: Study, dataset: Dataset, model_id: str, source: str, execution: Execution) -> None:
    """Make sure the model that `model_id` continues from is complete: train it first here, or wait
    while another live process trains it (polling its lock); its failure is this model's failure."""
    from model_runs.model_lock import ModelBusy

    waiting = False
    while True:
        try:
            run_model(spec, study, dataset, source, execution)
            return
        except ModelBusy:
            if not waiting:  # one line (also in a sweep worker's log)
                print(f"{model_id}: waiting for '{source}' (trained by another process) to continue from it", flush=True)
            waiting = True
            _maybe_stop()
            time.sleep(2.0)
        except UserError as exc:
            raise UserError(f"{model_id} continues '{source}', which failed: {exc}") from None


def _run_model_locked(
    spec: StudySpec, study: Study, dataset: Dataset, model_id: str, execution: Execution, entry: dict[str, Any], writer: ModelWriter,
    config: dict[str, Any],
) -> dict[str, Any]:
    """The body of `run_model`, run while this process holds the model's lock."""
    t_setup = time.perf_counter()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    device = resolve_device(execution.device)
    execution = resolve_execution(execution, device)
    if execution.threads > 0:
        torch.set_num_threads(execution.threads)
    set_determinism(entry["deterministic"], device)
    pipeline = make_pipeline(dataset, device, execution.channels_last, execution.loader_workers, need_train=entry["epochs"] > 0,
                             decoder=execution.decoder, cache_dir=execution.image_cache, **eval_options(entry))
    num_classes = entry["num_classes"] or dataset.n_classes
    check_labels(pipeline.labels("val"), num_classes, f"{dataset.name} validation split")
    train_labels = pipeline.labels("train")
    check_labels(train_labels, num_classes, f"{dataset.name} training split")
    shuffled = bool(recipe_value(entry, "random_labels"))
    if shuffled:  # one seeded permutation of the labels, the same in every epoch and on resume
        true_labels, train_labels = train_labels, random_labels(train_labels, recipe_value(entry, "random_labels_seed"))
    targets = torch.from_numpy(np.asarray(train_labels, dtype=np.int64)).to(device) if shuffled else None
    image_size = int(pipeline_image_size(pipeline, dataset))
    model = build_model(entry, dataset, image_size).to(device)
    if execution.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer, scheduler = make_optimizer(model, entry)
    scaler = torch.amp.GradScaler(device.type, enabled=execution.precision == "fp16")
    net = torch.compile(model) if execution.compile else model  # checkpoints hold `model`'s own state dict

    start_info: dict[str, Any] = {"condition": entry["condition"], "arch": entry["arch"], "config": config}
    if options := store_options(spec.store, len(train_labels)):
        start_info[STORE_OPTIONS_KEY] = options
    if shuffled:
        start_info["random_labels"] = {"seed": recipe_value(entry, "random_labels_seed"), "share_changed": float(np.mean(true_labels != train_labels))}
    info = writer.start(start_info)
    if info.get("status") == "complete":
        return info
    opts = dict(info.get(STORE_OPTIONS_KEY) or {})  # the model's own, recorded when it was first started
    if (opts.get("train_probabilities") or shuffled) and not (writer.dir / TRAIN_LABELS_FILE).is_file():
        writer.save_train_labels(train_labels)
    if entry.get("continue_from") and not info.get("epochs"):
        info = _start_continuation(spec, study, writer, entry, opts, quiet=execution.quiet)
    writer.update(
        versions=software_versions(), device=_device_name(device), execution=asdict(execution),
        data_location=spec.dataset_location(), worker=_worker(),
    )
    committed = [int(e["epoch"]) for e in info.get("epochs", [])]
    last = committed[-1] if committed else -1
    timings = dict(info.get("timings", {}))
    timings.setdefault("train_s", 0.0)
    timings.setdefault("eval_s", 0.0)
    timings.setdefault("checkpoint_s", 0.0)
    timings.setdefault("commit_s", 0.0)
    total_epochs = entry["epochs"]

    start_epoch = 0
    pending: dict[str, Any] | None = None  # metrics of a checkpointed but uncommitted epoch
    pending_train: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # and its training decisions
    pending_rows: tuple[np.ndarray, np.ndarray] | None = None  # and its training-image probabilities and margins
    usable = {e: p for e, p in list_checkpoints(writer.dir).items() if e <= last + 1 and e <= total_epochs}
    if usable:
        epoch, path = max(usable.items())
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch = epoch
        if epoch > last:
            pending = dict(state.get("metrics", {}))
            pending_train = _train_decisions_from_state(state.get("train_decisions"))
            pending_rows = _train_rows_from_state(state.get("train_dynamics"))
    indices = training_subset(true_labels if shuffled else train_labels, entry["train_fraction"], entry["train_part"], entry["subset_seed"]) if total_epochs else np.zeros(0, dtype=np.int64)
    layer = penultimate_layer(model) if opts.get("activations") else None
    capture_index = activation_subset(study.n_images, opts["activations"], opts["activations_seed"]) if opts.get("activations") else None
    timings["setup_s"] = timings.get("setup_s", 0.0) + time.perf_counter() - t_setup

    def evaluate_and_commit(epoch: int, metrics: dict[str, Any], train_dec: Any = None, train_rows: Any = None) -> EvalResult:
        t0 = time.perf_counter()
        want_probs = entry["save_probabilities"] and epoch == total_epochs
        capture = capture_index if epoch == total_epochs else None
        result = evaluate(net, pipeline, entry["eval_batch_size"], device, execution.precision, want_probs, quiet=execution.quiet,
                          dynamics=bool(opts.get("val_probabilities")), capture=capture, layer=layer)
        eval_time = time.perf_counter() - t0
        timings["eval_s"] += eval_time
        t0 = time.perf_counter()
        if execution.log_decisions:
            epoch_metrics = {"val_loss": result.loss, **metrics, "eval_time_s": round(eval_time, 4)}
            if capture is not None:  # before the final epoch's commit; read only once the model is complete
                writer.save_activations(capture, result.activations)
            writer.commit_epoch(epoch, result.prediction, epoch_metrics, train_decisions=train_dec,
                                dynamics=_dynamics_rows(opts, result, train_rows))
            if result.probabilities is not None:
                writer.save_probabilities(result.probabilities)
        timings["commit_s"] += time.perf_counter() - t0
        return result

    try:
        if start_epoch == 0 and last < 0:
            evaluate_and_commit(0, {})
        elif pending is not None:
            evaluate_and_commit(start_epoch, pending, pending_train, pending_rows)
        elif start_epoch == total_epochs and entry["save_probabilities"] and not (writer.dir / "probabilities.npy").is_file():
            evaluate_and_commit(start_epoch, _epoch_metrics(writer.info, start_epoch), train_rows=_committed_train_rows(study, model_id, opts))
        from labutil.progress import progress

        epochs_bar = progress(range(start_epoch + 1, total_epochs + 1), desc=f"{model_id}", unit="epoch", disable=execution.quiet or total_epochs == 0,
                          initial=start_epoch, total=total_epochs, dynamic_ncols=True)
        for epoch in epochs_bar:
            t0 = time.perf_counter()
            record = _train_record(opts, device)
            metrics, train_dec = train_epoch(net, optimizer, scaler, pipeline, entry, indices, epoch, device, execution, model_id,
                                             targets=targets, record=record)
            train_rows = None if record is None else (record["probability"].cpu().numpy(), record["margin"].cpu().numpy())
            scheduler.step()
            metrics["train_time_s"] = round(time.perf_counter() - t0, 4)
            timings["train_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            state = {
                "model_id": model_id, "config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "metrics": metrics, "train_decisions": _train_decisions_state(train_dec),
                "train_dynamics": _train_rows_state(train_rows),
            }
            save_checkpoint(writer.dir, epoch, state)
            timings["checkpoint_s"] += time.perf_counter() - t0
            result = evaluate_and_commit(epoch, metrics, train_dec, train_rows)  # run.json gets totals at the end, per-epoch times here
            _maybe_stop()  # e.g. a sweep worker whose parent died: stop here, at a committed epoch
            epochs_bar.set_postfix(train_loss=f"{metrics['train_loss']:.3f}" if metrics["train_loss"] is not None else "nan",
                                   val_acc=f"{result.accuracy:.3f}")
        epochs_bar.close()
    except DiskFull:  # nothing is marked: the run stays resumable once there is space again
        raise
    except UserError as exc:
        writer.finish("failed", error=str(exc), timings=_rounded(timings))
        raise
    except BaseException as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise
        if not isinstance(exc, (KeyboardInterrupt, SystemExit, StopRequested)):
            writer.finish("failed", error=f"{type(exc).__name__}: {exc}", timings=_rounded(timings))
        raise
    timings["total_s"] = sum(v for k, v in timings.items() if k.endswith("_s") and k != "total_s")
    writer.finish("complete", timings=_rounded(timings))
    return writer.info


def _start_continuation(spec: StudySpec, study: Study, writer: ModelWriter, entry: dict[str, Any], opts: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """Take over the source model's committed epochs and final checkpoint (the usual resume then
    trains the extra epochs), or note in run.json why this model trains from scratch instead."""
    source = entry["continue_from"]
    ckpt, why = continuation_source(study, entry, model_config(spec, spec.model(source)), opts)
    if ckpt is None:
        if not quiet:
            print(f"{writer.model_id}: training from scratch, not continuing from '{source}': {why}", flush=True)
        writer.update(continued_from=None, continue_note=why)
    else:
        copy_source_epochs(study, writer, source, ckpt)
    return writer.info


def _train_record(opts: dict[str, Any], device: "torch.device") -> dict[str, "torch.Tensor"] | None:
    """Per-training-image true-class probability and margin of one epoch (NaN where not seen), on the device."""
    import torch

    if not opts.get("train_probabilities"):
        return None
    n = int(opts["n_train"])
    return {k: torch.full((n,), float("nan"), device=device) for k in ("probability", "margin")}


def _dynamics_rows(opts: dict[str, Any], result: EvalResult, train_rows: tuple[np.ndarray, np.ndarray] | None) -> dict[tuple[str, str], np.ndarray] | None:
    """The learning-dynamics rows of one epoch the model's store options ask for (training rows NaN
    for an epoch without a training pass: epoch 0)."""
    rows: dict[tuple[str, str], np.ndarray] = {}
    if opts.get("val_probabilities"):
        rows[("val", "probability")], rows[("val", "margin")] = result.true_prob, result.margin
    if opts.get("train_probabilities"):
        nan = np.full(int(opts["n_train"]), np.nan, dtype=np.float32)
        rows[("train", "probability")], rows[("train", "margin")] = train_rows if train_rows is not None else (nan, nan)
    return rows or None


def _committed_train_rows(study: Study, model_id: str, opts: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The last committed epoch's training rows (re-committed when that epoch is evaluated again)."""
    if not opts.get("train_probabilities"):
        return None
    prob, margin = study.epoch_probabilities(model_id, "train"), study.epoch_margins(model_id, "train")
    assert prob is not None and margin is not None
    return prob[-1], margin[-1]


def _train_rows_state(rows: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
    import torch

    if rows is None:
        return {}
    return {"probability": torch.from_numpy(np.asarray(rows[0], dtype=np.float16)), "margin": torch.from_numpy(np.asarray(rows[1], dtype=np.float16))}


def _train_rows_from_state(state: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray] | None:
    if not state:
        return None
    return state["probability"].numpy(), state["margin"].numpy()


def _train_decisions_state(train_dec: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> dict[str, Any]:
    """An epoch's training decisions as tensors for its checkpoint ({} when not kept), so that a run
    resumed from a checkpoint of an uncommitted epoch commits them with that epoch."""
    import torch

    if train_dec is None:
        return {}
    sample_index, prediction, correct = train_dec
    return {
        "sample_index": torch.from_numpy(np.asarray(sample_index, dtype=np.int32)),
        "prediction": torch.from_numpy(np.asarray(prediction, dtype=np.int32)),
        "correct": torch.from_numpy(np.asarray(correct, dtype=bool)),
    }


def _train_decisions_from_state(state: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    if not state:
        return None
    return state["sample_index"].numpy(), state["prediction"].numpy(), state["correct"].numpy()


def _epoch_metrics(info: dict[str, Any], epoch: int) -> dict[str, Any]:
    for e in info.get("epochs", []):
        if int(e["epoch"]) == epoch:
            return {k: v for k, v in e.items() if k not in ("epoch", "val_accuracy", "val_loss")}
    return {}


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in timings.items()}


def _device_name(device: "torch.device") -> str:
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        uuid = getattr(props, "uuid", None)
        return f"{device} ({props.name}{f', GPU-{uuid}' if uuid else ''})"
    return f"cpu ({torch.get_num_threads()} threads)"


def pipeline_image_size(pipeline: Any, dataset: Dataset) -> int:
    """Side length of the network's input images (needed by the small fully connected networks)."""
    from model_runs.datasets import ArrayDataset, FileDataset

    if isinstance(dataset, ArrayDataset):
        return int(pipeline.tensors["val"][0].shape[-1])
    assert isinstance(dataset, FileDataset)
    return dataset.eval_sizes[1]


def train_epoch(
    model: "torch.nn.Module", optimizer: Any, scaler: Any, pipeline: Any, entry: dict[str, Any], indices: np.ndarray,
    epoch: int, device: "torch.device", execution: Execution, model_id: str, targets: "torch.Tensor | None" = None,
    record: dict[str, "torch.Tensor"] | None = None,
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """One epoch of training; returns its metrics and (optionally) the training-batch decisions.

    `targets`: the labels to train on by sample index (random labels) instead of the pipeline's;
    `record`: tensors by sample index that get each seen image's true-class probability and margin."""
    import torch
    from labutil.progress import progress

    model.train()
    torch.manual_seed(seed_from(entry["aug_seed"], epoch, 1))  # dropout and other in-model randomness
    order = epoch_order(indices, entry["data_seed"], epoch)
    batch_size, split = entry["batch_size"], entry["batch_split"]
    keep_train = entry["save_train_decisions"] and execution.log_decisions
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    preds, sample_idx, labels = [], [], []
    n_batches = pipeline.n_train_batches(len(order), batch_size)
    smoothing = float(recipe_value(entry, "label_smoothing"))
    bar = progress(total=n_batches, desc=f"  epoch {epoch}/{entry['epochs']}", leave=False, disable=execution.quiet, unit="batch", dynamic_ncols=True)
    last_post = time.monotonic()
    for step, (x, y, idx) in enumerate(pipeline.train_batches(order, batch_size, entry, epoch)):
        if targets is not None:
            y = targets[idx]
        for xs, ys, ids in zip(x.chunk(split), y.chunk(split), idx.chunk(split)):
            with _autocast(device, execution.precision):
                logits = model(xs)
                loss = torch.nn.functional.cross_entropy(logits.float(), ys, label_smoothing=smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            p = logits.detach().argmax(1)
            if record is not None:
                record["probability"][ids], record["margin"][ids] = true_class_stats(logits.detach(), ys)
            loss_sum += loss.detach().double() * len(ys)
            correct += (p == ys).sum()
            if keep_train:
                preds.append(p)
        seen += len(y)
        if keep_train:
            sample_idx.append(idx)
            labels.append(y)
        bar.update(1)
        if not execution.quiet and (time.monotonic() - last_post > 0.5 or step + 1 == n_batches):
            bar.set_postfix(loss=f"{loss_sum.item() / max(seen, 1):.3f}", acc=f"{correct.item() / max(seen, 1):.3f}")
            last_post = time.monotonic()
    bar.close()
    metrics = {
        "train_loss": float(loss_sum.item()) / max(seen, 1),
        "train_accuracy": float(correct.item()) / max(seen, 1),
        "lr": float(optimizer.param_groups[0]["lr"]),
    }
    crop = getattr(pipeline, "train_crop", None)
    if crop is not None:  # image files: the side of this epoch's training crops (progressive resizing)
        metrics["train_crop"] = int(crop(entry, epoch))
    if not math.isfinite(metrics["train_loss"]):  # diverged: JSON has no NaN
        metrics["train_loss"] = None
    train_dec = None
    if keep_train and preds:
        p_all = torch.cat(preds).cpu().numpy()
        i_all = torch.cat(sample_idx).cpu().numpy()
        y_all = torch.cat(labels).cpu().numpy()
        train_dec = (i_all, p_all, p_all == y_all)
    return metrics, train_dec
