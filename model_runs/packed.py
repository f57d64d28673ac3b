"""Small models packed: models of a study that differ only in seeds, learning rate or optimiser
options train together in one process, one forward/backward for all of them per step.

The models sit side by side along the channel axis, (batch, n_models * channels, H, W): a
convolution becomes one grouped convolution over all models, a batch norm one batch norm over
all their channels (so running statistics stay per model), and per-channel layers (ReLU, pooling,
residual additions) work unchanged. Every parameter and buffer of the packed module is the
concatenation of the models' own, each model reads its own batch (its own data order and
augmentation from its own seeds), and each keeps its own `torch.optim` optimiser and scheduler,
made by the same `make_optimizer` as the one-model path and stepping in place on that model's
slices: per-model learning rates, momentum, Nesterov and weight decay need nothing new, and a
packed model's checkpoints are those of the one-model path (either path resumes the other's).
Each model writes its own store entry through `ModelWriter`; its run.json differs only in
`execution.packed` (and in timings, which are the group's times shared out). The entry holds
what the study's [store] table asks for as in the one-model path (every epoch's validation and
training-pass true-class probability and margin, the training labels, the final activations of
the seeded subset), and the models of a group may differ in the recipe keys handled per model:
random labels (each its own targets), learning-rate schedule, warm-up and label smoothing. A model
that continues another (`continue_from`) trains alone.

Grouped layers rather than `torch.func.vmap`: vmap's batched backward kernels (bmm, batched
batch-norm and convolution gradients) sum in another order than the one-model kernels, so packed
models drifted away from their unpacked runs, and on 2 CPU cores vmap was slower than training
the models one after another. Concatenated batch norm and grouped convolutions give the one-model
result bit for bit on the CPU; where a grouped convolution does not for some shape (e.g. one input
channel per group), a probe on random data finds it once per shape and that layer runs one
convolution per model; linear layers always run one matmul per model; evaluation runs each model's
own network on its slices. So on the CPU, in deterministic mode, a packed model's
stored decisions equal its unpacked run's bit for bit (tests/model_runs/test_packed.py).
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import asdict
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from labutil.errors import DISK_FULL, DiskFull, UserError
from labutil.versions import software_versions
from model_runs.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from model_runs.conditions import (
    activation_subset,
    penultimate_layer,
    random_labels,
    store_options,
    true_class_stats,
)
from model_runs.datasets import DATASETS, ArrayDataset, Dataset
from model_runs.model_lock import ModelBusy, model_lock
from model_runs.pipeline import epoch_order, make_pipeline, training_subset
from model_runs.recipes import recipe_value
from model_runs.runner import ModelOutcome, run_one
from model_runs.store import STORE_OPTIONS_KEY, TRAIN_LABELS_FILE, ModelWriter, Study
from model_runs.study_files import StudySpec
from model_runs.train import (
    EvalResult,
    Execution,
    StopRequested,
    _autocast,
    _committed_train_rows,
    _device_name,
    _dynamics_rows,
    _epoch_metrics,
    _maybe_stop,
    _rounded,
    _train_decisions_from_state,
    _train_decisions_state,
    _train_rows_from_state,
    _train_rows_state,
    _worker,
    build_model,
    check_labels,
    eval_options,
    make_optimizer,
    model_config,
    pipeline_image_size,
    resolve_device,
    resolve_execution,
    set_determinism,
)

if TYPE_CHECKING:
    import torch

PACK_MODES = ("auto", "off")
DEFAULT_MAX_PACK = 16  # models per group: beyond this a CPU step gains little and a kill loses more
# On the CPU packing pays only where per-layer overhead outweighs arithmetic: measured 1.7x faster
# for 8x8 grey digits, 0.7x (slower) for 32x32 RGB Gaussian images (benchmarks/bench_packed.py).
CPU_MAX_INPUT_VALUES = 256  # channels x height x width of a training image
FIXED_IMAGE_SIZES = {"digits": 8}  # array datasets without an image_size option

# Keys in which the models of one group may differ (each model's own optimiser, scheduler, seeds).
VARYING_KEYS = frozenset({
    "model_id", "condition", "replicate", "init_seed", "data_seed", "aug_seed", "optimizer", "lr", "momentum", "nesterov",
    "weight_decay", "lr_step", "lr_gamma", "save_probabilities", "save_train_decisions",
    "lr_schedule", "warmup_epochs", "lr_peak_epoch", "random_labels", "random_labels_seed", "label_smoothing",
})
# Keys the packed loop knows and that must be equal within a group. A model entry with any other
# key (an option added to the one-model loop later) is never packed: it trains alone.
SHARED_KEYS = frozenset({
    "arch", "model_options", "weights", "num_classes", "epochs", "batch_size", "batch_split", "eval_batch_size", "augment",
    "eval_resize", "eval_interpolation", "augment_pad", "train_fraction", "train_part", "subset_seed", "deterministic",
})


def why_not_packable(entry: dict[str, Any], dataset: dict[str, Any], execution: Execution) -> str | None:
    """Why a model must train alone (one phrase), or None when it may be packed with its like
    (`dataset`: the study's [dataset] table)."""
    from model_runs.models import MODELS

    dataset_name = dataset["name"]
    if entry.get("continue_from"):
        return "continue_from (continues another model's checkpoint)"
    unknown = sorted(set(entry) - VARYING_KEYS - SHARED_KEYS)
    if unknown:
        return f"option(s) the packed loop does not know: {', '.join(unknown)}"
    if execution.compile:
        return "--compile"
    if execution.precision == "fp16":
        return "fp16 (GradScaler)"
    cls = DATASETS.get(dataset_name)
    if cls is None or not issubclass(cls, ArrayDataset):
        return f"dataset '{dataset_name}' is read from image files (packing needs an in-memory array dataset)"
    if MODELS.get(entry["arch"]) is None or MODELS[entry["arch"]].family not in ("small", "torchvision"):
        return f"architecture '{entry['arch']}' (zoo and timm models are not packed)"
    if entry["weights"]:
        return "pretrained weights"
    if entry["batch_split"] != 1:
        return "batch_split"
    if not entry["deterministic"]:
        return "deterministic = false"
    if entry["epochs"] < 1:
        return "evaluation only (epochs = 0)"
    values = input_values(dataset)
    if _on_cpu(execution.device) and values > CPU_MAX_INPUT_VALUES:
        return f"on the CPU packing is slower for images of {values} values (> {CPU_MAX_INPUT_VALUES}, measured)"
    unsupported = _unsupported(entry["arch"], _frozen(entry["model_options"]))
    if unsupported:
        return f"layers the packed loop cannot stack: {unsupported}"
    return None


def input_values(dataset: dict[str, Any]) -> int:
    """channels x height x width of an array dataset's images, from its [dataset] table."""
    cls = DATASETS[dataset["name"]]
    size = dataset.get("image_size") or FIXED_IMAGE_SIZES.get(dataset["name"])
    if size is None:
        option = cls.options.get("image_size")
        size = option.default if option is not None else 32
    return int(cls.channels) * int(size) ** 2


def _on_cpu(device: str) -> bool:
    if device == "auto":
        import torch

        return not torch.cuda.is_available()
    return device == "cpu"


def _frozen(options: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in options.items()))


@lru_cache(maxsize=64)
def _unsupported(arch: str, options: tuple[tuple[str, str], ...]) -> str:
    """`unsupported_layers` of an architecture, built on the meta device (no memory, no time)."""
    import ast

    import torch

    from model_runs.models import create_model

    kw = {k: ast.literal_eval(v) for k, v in options}
    with torch.device("meta"):
        return unsupported_layers(create_model(arch, 10, in_channels=3, image_size=32, **kw))


def pack_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What the models of one group share."""
    return tuple((k, repr(entry.get(k))) for k in sorted(SHARED_KEYS))


def plan_units(spec: StudySpec, model_ids: list[str], execution: Execution, pack: str = "auto", max_size: int = DEFAULT_MAX_PACK,
               workers: int = 1) -> list[list[str]]:
    """The work units of a sweep: groups of packable models with equal shared keys (at most
    `max_size`, split evenly), and every other model alone. With `pack` auto the groups are split
    further where that shortens the sweep on `workers` parallel workers (`balance_parts`), and the
    units are queued longest first, models that continue another model last (so that no worker
    waits for a source model still queued). `pack` off: one unit per model, in study order."""
    if pack not in PACK_MODES:
        raise UserError(f"--pack {pack}: choose {', '.join(PACK_MODES)}")
    if pack == "off":
        return [[m] for m in model_ids]
    groups: dict[tuple[Any, ...], list[str]] = {}
    units: list[list[str]] = []
    for model_id in model_ids:
        entry = spec.model(model_id)
        if why_not_packable(entry, spec.dataset, execution) is not None:
            units.append([model_id])
            continue
        key = pack_key(entry)
        if key not in groups:
            groups[key] = []
            units.append(groups[key])
        groups[key].append(model_id)
    parts = [-(-len(unit) // max(1, max_size)) for unit in units]
    if workers > 1:
        parts = balance_parts(spec, units, parts, workers)
    return queue_order(spec, _split(units, parts))


# An epoch of a packed group of k models costs PACK_BASE + PACK_PER_MODEL * k epochs of one model
# alone (evaluation, checkpoints and commits stay per model). Set from the demo with its [store]
# arrays on 2 shared CPU cores: in `sweep demo --workers 2` a packed member took about as long as a
# model trained alone (1.8 s against 0.9-1.8 s), in one process the 11-model group ran 1.06x-3x
# faster packed (benchmarks/bench_packed.py; docs/packing.md). Only the balance of a sweep's work
# units depends on it, never a result.
PACK_BASE, PACK_PER_MODEL = 0.1, 0.9


def unit_cost(spec: StudySpec, unit: list[str]) -> float:
    """Estimated time of a work unit in epochs of one model alone (epoch 0's evaluation counts one)."""
    entry = spec.model(unit[0])
    source = entry.get("continue_from")
    done = int(spec.model(source)["epochs"]) if source and source in {m["model_id"] for m in spec.models} else 0
    epochs = max(0, int(entry["epochs"]) - done) + 1
    return float(epochs) if len(unit) == 1 else epochs * (PACK_BASE + PACK_PER_MODEL * len(unit))


def sweep_makespan(spec: StudySpec, units: list[list[str]], workers: int) -> float:
    """Estimated wall time of `units` taken in queue order by `workers` workers (each takes the next
    unit when free; a model that continues another waits for it to finish)."""
    free = [0.0] * max(1, workers)
    finish: dict[str, float] = {}
    for unit in units:
        w = min(range(len(free)), key=free.__getitem__)
        start = free[w]
        for model_id in unit:
            source = spec.model(model_id).get("continue_from")
            if source in finish:
                start = max(start, finish[source])
        free[w] = start + unit_cost(spec, unit)
        finish.update({m: free[w] for m in unit})
    return max(free)


def balance_parts(spec: StudySpec, units: list[list[str]], parts: list[int], workers: int) -> list[int]:
    """Parts per unit that shorten the estimated sweep on `workers` workers: split the group whose
    next split shortens it most, while that gains more than 1 % (a split costs packing's gain)."""
    parts = list(parts)
    best = sweep_makespan(spec, queue_order(spec, _split(units, parts)), workers)
    while True:
        trials = []
        for i, unit in enumerate(units):
            if parts[i] < len(unit):
                trial = parts[:i] + [parts[i] + 1] + parts[i + 1 :]
                trials.append((sweep_makespan(spec, queue_order(spec, _split(units, trial)), workers), i, trial))
        if not trials:
            return parts
        span, _, trial = min(trials, key=lambda t: (t[0], t[1]))
        if span >= best * 0.99:
            return parts
        best, parts = span, trial


def queue_order(spec: StudySpec, units: list[list[str]]) -> list[list[str]]:
    """Units longest first (study order among equals), then those holding a model that continues
    another one, in study order."""
    def dependent(unit: list[str]) -> bool:
        return any(spec.model(m).get("continue_from") for m in unit)

    independent = sorted((u for u in units if not dependent(u)), key=lambda u: -unit_cost(spec, u))
    return independent + [u for u in units if dependent(u)]


def _split(units: list[list[str]], parts: list[int]) -> list[list[str]]:
    """Each unit split into its number of parts of even size (consecutive models, study order)."""
    out: list[list[str]] = []
    for unit, n_parts in zip(units, parts):
        out.extend(part.tolist() for part in np.array_split(np.array(unit, dtype=object), max(1, n_parts)))
    return out


# ---------------------------------------------------------------------------------------------
# Packed layers: n models side by side along the channel axis, (batch, n * channels, H, W)

# Module types a packed model may contain: per-channel layers work unchanged on the packed
# layout; convolutions, batch norms and linear layers are replaced by their packed forms.
PER_CHANNEL = ("ReLU", "MaxPool2d", "AdaptiveAvgPool2d", "AvgPool2d", "Flatten", "Identity", "Sequential", "BasicBlock", "Bottleneck", "ResNet")
PACKED = ("Conv2d", "BatchNorm2d", "Linear")


def unsupported_layers(model: torch.nn.Module) -> str:
    """Names of the layer types the packed loop cannot stack (dropout, attention, ...), or ''."""
    import torch

    bad = set()
    for m in model.modules():
        name = type(m).__name__
        if name not in PER_CHANNEL + PACKED:
            bad.add(name)
        elif isinstance(m, torch.nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
            bad.add("Flatten(start_dim != 1)")
        elif isinstance(m, torch.nn.Conv2d) and m.padding_mode != "zeros":
            bad.add("Conv2d(padding_mode)")
        elif isinstance(m, torch.nn.BatchNorm2d) and not (m.affine and m.track_running_stats and m.momentum is not None):
            bad.add("BatchNorm2d(options)")
    return ", ".join(sorted(bad))


@lru_cache(maxsize=1)
def _packed_classes() -> tuple[type, type]:
    import torch
    import torch.nn.functional as F

    class PackedConv2d(torch.nn.Module):
        """n Conv2d side by side: one grouped convolution where, for the input's shape and strides, it
        gives every model's output and gradients bit for bit as the model's own convolution (probed
        once per shape with random data), else one convolution per model."""

        def __init__(self, convs: list[torch.nn.Conv2d]) -> None:
            super().__init__()
            c = convs[0]
            self.n, self.in_per_model = len(convs), c.in_channels
            self.stride, self.padding, self.dilation, self.groups = c.stride, c.padding, c.dilation, c.groups
            self.weight = torch.nn.Parameter(torch.cat([m.weight.detach() for m in convs]))
            self.bias = torch.nn.Parameter(torch.cat([m.bias.detach() for m in convs])) if c.bias is not None else None
            self.exact: dict[tuple[Any, ...], bool] = {}  # (shape, strides) -> grouped kernel is exact

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            key = (tuple(x.shape), tuple(x.stride()))
            if key not in self.exact:
                self.exact[key] = _conv_exact(self, x)
            return self.compute(x, self.exact[key])

        def compute(self, x: torch.Tensor, grouped: bool, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
            """The convolution, grouped or per model, with these weights (default: the module's own)."""
            weight = self.weight if weight is None else weight
            bias = self.bias if bias is None else bias
            shared = x.shape[1] == self.in_per_model  # one batch for every model (evaluation)
            if grouped:
                if shared:
                    x = x.repeat(1, self.n, 1, 1)
                return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups * self.n)
            xs = [x] * self.n if shared else member_inputs(x, self.n)
            ws = weight.chunk(self.n)
            bs = bias.chunk(self.n) if bias is not None else [None] * self.n
            return torch.cat([F.conv2d(xi, wi, bi, self.stride, self.padding, self.dilation, self.groups) for xi, wi, bi in zip(xs, ws, bs)], 1)

    class PackedLinear(torch.nn.Module):
        """n Linear layers side by side: input (batch, n * in) or one (batch, in) for all, output (batch, n * out);
        one matmul per model (a batched matmul's weight gradients differ in the last bits)."""

        def __init__(self, linears: list[torch.nn.Linear]) -> None:
            super().__init__()
            self.n, self.in_per_model = len(linears), linears[0].in_features
            self.weight = torch.nn.Parameter(torch.cat([m.weight.detach() for m in linears]))
            self.bias = torch.nn.Parameter(torch.cat([m.bias.detach() for m in linears])) if linears[0].bias is not None else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            xs = [x] * self.n if x.shape[1] == self.in_per_model else member_inputs(x, self.n)
            ws = self.weight.chunk(self.n)
            bs = self.bias.chunk(self.n) if self.bias is not None else [None] * self.n
            return torch.cat([F.linear(xi, wi, bi) for xi, wi, bi in zip(xs, ws, bs)], 1)

    return PackedConv2d, PackedLinear


def pack_models(models: list[torch.nn.Module]) -> torch.nn.Module:
    """One module computing all `models` side by side (channels of model i at i*C..(i+1)*C-1); every
    parameter and buffer is the concatenation (dim 0) of the models' own."""
    import copy

    import torch

    PackedConv2d, PackedLinear = _packed_classes()
    packed = copy.deepcopy(models[0])
    n = len(models)
    for name, module in list(packed.named_modules()):
        members = [m.get_submodule(name) for m in models]
        if isinstance(module, torch.nn.Conv2d):
            new: torch.nn.Module = PackedConv2d(members)
        elif isinstance(module, torch.nn.Linear):
            new = PackedLinear(members)
        elif isinstance(module, torch.nn.BatchNorm2d):
            new = torch.nn.BatchNorm2d(module.num_features * n, eps=module.eps, momentum=module.momentum, device=module.weight.device)
            with torch.no_grad():
                for key in ("weight", "bias", "running_mean", "running_var"):
                    getattr(new, key).copy_(torch.cat([getattr(m, key).detach() for m in members]))
                new.num_batches_tracked.copy_(module.num_batches_tracked)
        else:
            continue
        parent, _, child = name.rpartition(".")
        setattr(packed.get_submodule(parent) if parent else packed, child, new)
    return packed


def member_tensor(tensor: torch.Tensor, n: int, i: int) -> torch.Tensor:
    """Model i's part of a packed parameter or buffer (a view); scalars (batch counts) are shared."""
    if tensor.dim() == 0:
        return tensor
    size = tensor.shape[0] // n
    return tensor[i * size : (i + 1) * size]


def member_inputs(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Each model's part of a packed activation, laid out in memory as the model's own would be:
    channels-last where the packed tensor is (a one-channel image batch of the array pipeline is,
    and the one-model path's kernels then run channels-last), else contiguous."""
    import torch

    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [xi.contiguous(memory_format=fmt) for xi in x.chunk(n, 1)]


def _conv_exact(conv: Any, like: torch.Tensor) -> bool:
    """Whether the grouped and the per-model convolution agree bit for bit (output, input and weight
    gradients) on random data of `like`'s shape and strides."""
    import torch

    gen = torch.Generator().manual_seed(0)
    data = torch.randn(like.shape, generator=gen)
    grad = None
    results = []
    with torch.enable_grad():
        for grouped in (True, False):
            x = torch.empty_strided(like.shape, like.stride(), device=like.device).copy_(data).requires_grad_()
            w = conv.weight.detach().clone().requires_grad_()
            b = conv.bias.detach().clone().requires_grad_() if conv.bias is not None else None
            out = conv.compute(x, grouped, w, b)
            if grad is None:
                grad = torch.randn(out.shape, generator=gen).to(out.device)
            grads = torch.autograd.grad(out, [t for t in (x, w, b) if t is not None], grad)
            results.append((out.detach(), *grads))
    return all(torch.equal(a, b) for a, b in zip(*results))


# ---------------------------------------------------------------------------------------------
# Running one unit


def run_unit(spec: StudySpec, study: Study, dataset: Dataset, model_ids: list[str], execution: Execution) -> list[ModelOutcome]:
    """Run a work unit: one model through the one-model path, several packed. Models of a group
    that cannot join it (busy, or resuming from another epoch than the rest) train alone afterwards."""
    if len(model_ids) == 1:
        return [run_one(spec, study, dataset, model_ids[0], execution)]
    outcomes: dict[str, ModelOutcome] = {}
    alone: list[str] = []
    outcomes.update(_run_group(spec, study, dataset, model_ids, execution, alone))
    for model_id in alone:
        outcomes[model_id] = run_one(spec, study, dataset, model_id, execution)
    return [outcomes[m] for m in model_ids if m in outcomes]


def _run_group(spec: StudySpec, study: Study, dataset: Dataset, model_ids: list[str], execution: Execution, alone: list[str]) -> dict[str, ModelOutcome]:
    """Lock every member, then train the packable ones together; fills `alone` with the others."""
    outcomes: dict[str, ModelOutcome] = {}
    with ExitStack() as locks:
        members = []
        for model_id in model_ids:
            existing = study.model_dir(model_id) / "run.json"
            if existing.is_file() and study.run_info(model_id).get("status") == "complete":
                alone.append(model_id)  # the one-model path checks its config and returns it
                continue
            try:
                locks.enter_context(model_lock(model_id, study.model_dir(model_id)))
            except ModelBusy as exc:
                outcomes[model_id] = ModelOutcome(model_id, "busy", error=str(exc))
                continue
            members.append(model_id)
        if len(members) < 2:
            alone.extend(members)
            return outcomes
        try:
            infos = PackedGroup(spec, study, dataset, members, execution).run(alone)
        except DiskFull:
            raise
        except UserError as exc:
            return {**outcomes, **{m: ModelOutcome(m, "failed", error=str(exc)) for m in members if m not in alone}}
        except (KeyboardInterrupt, SystemExit, StopRequested):
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno in DISK_FULL:
                raise
            import traceback

            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc} (a bug in the packed loop; traceback above or in the job log)"
            return {**outcomes, **{m: ModelOutcome(m, "failed", error=error) for m in members if m not in alone}}
    for model_id, info in infos.items():
        epochs = info.get("epochs", [])
        outcomes[model_id] = ModelOutcome(model_id, info.get("status", "?"), epochs[-1]["val_accuracy"] if epochs else None)
    return outcomes


class _Member:
    """One model of a packed group: its entry, writer, resume point, optimiser and scheduler."""

    def __init__(self, spec: StudySpec, study: Study, model_id: str) -> None:
        self.model_id = model_id
        self.entry = spec.model(model_id)
        self.config = model_config(spec, self.entry)
        self.store = spec.store
        self.study = study
        self.writer = ModelWriter(study, model_id)
        self.info: dict[str, Any] = {}
        self.opts: dict[str, Any] = {}  # its store options (run.json's store_options)
        self.labels: np.ndarray | None = None  # random labels: the labels it trains on, by sample index
        self.targets: Any = None  # the same: the labels it trains on, by sample index (on the device)
        self.last = -1  # newest committed epoch
        self.start = 0  # epoch whose state training starts from
        self.state: dict[str, Any] | None = None  # checkpoint to resume from
        self.pending: dict[str, Any] | None = None  # metrics of a checkpointed, uncommitted epoch
        self.pending_train: Any = None
        self.pending_rows: Any = None  # and its training-image probabilities and margins
        self.optimizer: Any = None
        self.scheduler: Any = None
        self.views: list[Any] = []  # its slices of the packed parameters, in `parameters()` order
        self.timings: dict[str, float] = {}

    def open(self, train_labels: np.ndarray) -> None:
        """Start (or reopen) the store entry and find the checkpoint to resume from, as `run_model` does
        (the same run.json start, store options and training labels)."""
        shuffled = bool(recipe_value(self.entry, "random_labels"))
        labels = random_labels(train_labels, recipe_value(self.entry, "random_labels_seed")) if shuffled else train_labels
        start_info: dict[str, Any] = {"condition": self.entry["condition"], "arch": self.entry["arch"], "config": self.config}
        if options := store_options(self.store, len(train_labels)):
            start_info[STORE_OPTIONS_KEY] = options
        if shuffled:
            start_info["random_labels"] = {"seed": recipe_value(self.entry, "random_labels_seed"), "share_changed": float(np.mean(train_labels != labels))}
        self.info = self.writer.start(start_info)
        if self.info.get("status") == "complete":
            return
        self.opts = dict(self.info.get(STORE_OPTIONS_KEY) or {})
        if (self.opts.get("train_probabilities") or shuffled) and not (self.writer.dir / TRAIN_LABELS_FILE).is_file():
            self.writer.save_train_labels(labels)
        self.labels = labels if shuffled else None
        committed = [int(e["epoch"]) for e in self.info.get("epochs", [])]
        self.last = committed[-1] if committed else -1
        self.timings = dict(self.info.get("timings", {}))
        for key in ("train_s", "eval_s", "checkpoint_s", "commit_s", "setup_s"):
            self.timings.setdefault(key, 0.0)
        total = self.entry["epochs"]
        usable = {e: p for e, p in list_checkpoints(self.writer.dir).items() if e <= self.last + 1 and e <= total}
        if usable:
            epoch, path = max(usable.items())
            self.state = load_checkpoint(path)
            self.start = epoch
            if epoch > self.last:
                self.pending = dict(self.state.get("metrics", {}))
                self.pending_train = _train_decisions_from_state(self.state.get("train_decisions"))
                self.pending_rows = _train_rows_from_state(self.state.get("train_dynamics"))

    def needs_commit_at_start(self) -> tuple[dict[str, Any], Any] | None:
        """The metrics and training rows to commit with an evaluation at the start epoch, or None when none is due."""
        if self.start == 0 and self.last < 0:
            return {}, None
        if self.pending is not None:
            return self.pending, self.pending_rows
        total = self.entry["epochs"]
        if self.start == total and self.entry["save_probabilities"] and not (self.writer.dir / "probabilities.npy").is_file():
            return _epoch_metrics(self.writer.info, self.start), _committed_train_rows(self.study, self.model_id, self.opts)
        return None


class PackedGroup:
    """The models of one group stacked on one device, trained and evaluated in lockstep."""

    def __init__(self, spec: StudySpec, study: Study, dataset: Dataset, model_ids: list[str], execution: Execution) -> None:
        self.spec = spec
        self.study = study
        self.dataset = dataset
        self.members = [_Member(spec, study, m) for m in model_ids]
        self.execution = execution

    def run(self, alone: list[str]) -> dict[str, dict[str, Any]]:
        """Train every member to its last epoch; members resuming from another epoch than most join `alone`."""
        t_setup = time.perf_counter()
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        self.device = resolve_device(self.execution.device)
        self.execution = resolve_execution(self.execution, self.device)
        if self.execution.threads > 0:
            torch.set_num_threads(self.execution.threads)
        if self.execution.precision == "fp16":  # auto precision on a GPU without bf16: needs a GradScaler per model
            alone.extend(m.model_id for m in self.members)
            return {}
        first = self.members[0].entry
        set_determinism(first["deterministic"], self.device)
        self.pipeline = make_pipeline(self.dataset, self.device, self.execution.channels_last, self.execution.loader_workers, need_train=True,
                                      decoder=self.execution.decoder, cache_dir=self.execution.image_cache, **eval_options(first))
        train_labels = self.pipeline.labels("train")
        out: dict[str, dict[str, Any]] = {}
        for m in self.members:
            try:
                m.open(train_labels)
            except UserError:  # e.g. a store entry of another configuration: the one-model path reports it
                alone.append(m.model_id)
                continue
            if m.info.get("status") == "complete":
                out[m.model_id] = m.info
        self.members = [m for m in self.members if m.model_id not in out and m.model_id not in alone]
        starts = [m.start for m in self.members]
        common = max(sorted(set(starts)), key=starts.count) if starts else 0
        alone.extend(m.model_id for m in self.members if m.start != common)
        self.members = [m for m in self.members if m.start == common]
        if len(self.members) < 2:  # nothing left to pack: the one-model path takes the rest
            alone.extend(m.model_id for m in self.members)
            return out
        try:
            self._setup(torch)
        except BaseException as exc:
            self._mark_failed(exc)
            raise
        share = (time.perf_counter() - t_setup) / len(self.members)
        for m in self.members:
            m.timings["setup_s"] += share
        out.update(self._train(common))
        return out

    def _setup(self, torch: Any) -> None:
        """Pipeline, the members' models (built and initialised as `build_model` does, or from their
        checkpoints), packed into one module, and each member's optimiser on its slices."""
        execution, first = self.execution, self.members[0].entry
        num_classes = first["num_classes"] or self.dataset.n_classes
        check_labels(self.pipeline.labels("val"), num_classes, f"{self.dataset.name} validation split")
        train_labels = self.pipeline.labels("train")
        check_labels(train_labels, num_classes, f"{self.dataset.name} training split")
        image_size = int(pipeline_image_size(self.pipeline, self.dataset))
        models = []
        for m in self.members:
            model = build_model(m.entry, self.dataset, image_size)
            if m.state is not None:
                model.load_state_dict(m.state["model"])
            models.append(model)
        n = len(models)
        self.net = pack_models(models).to(self.device)
        self.template = models[0].to(self.device)  # evaluation: one model's network on each member's slices
        if execution.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.indices = training_subset(train_labels, first["train_fraction"], first["train_part"], first["subset_seed"])  # true labels
        for m in self.members:
            if m.labels is not None:
                m.targets = torch.from_numpy(np.asarray(m.labels, dtype=np.int64)).to(self.device)
        self.layer = penultimate_layer(self.template) if any(m.opts.get("activations") for m in self.members) else None
        params = list(self.net.parameters())
        for i, m in enumerate(self.members):
            m.views = [member_tensor(p.detach(), n, i) for p in params]
            m.optimizer, m.scheduler = make_optimizer(_Params(m.views), m.entry)
            if m.state is not None:
                m.optimizer.load_state_dict(m.state["optimizer"])
                m.scheduler.load_state_dict(m.state["scheduler"])
        record = {**asdict(execution), "packed": {"size": n, "models": [m.model_id for m in self.members]}}
        for m in self.members:
            m.writer.update(versions=software_versions(), device=_device_name(self.device), execution=record,
                            data_location=self.spec.dataset_location(), worker=_worker())

    def _logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each member's logits (batch, classes), contiguous; `x` is (batch, n * C, H, W) or one batch for all."""
        out = self.net(x)
        return [li.contiguous() for li in out.float().chunk(len(self.members), 1)]

    def _evaluate(self, want_probs: list[bool], capture: list[np.ndarray | None]) -> list[EvalResult]:
        """Every member's `train.evaluate` result on the validation split (probabilities where
        `want_probs`, true-class probability and margin where its store options ask, activations of
        its `capture` images): each member's own network (`functional_call` on its slices, no copies)
        and the reductions of `train.evaluate`. Evaluation is not packed: a packed forward over one
        shared batch was slower on the CPU than the members one after another (the per-model layers'
        concatenations)."""
        import torch
        from torch.func import functional_call

        n_models = len(self.members)
        self.template.eval()
        states = [{k: member_tensor(v, n_models, i) for k, v in self.net.state_dict(keep_vars=True).items()} for i in range(n_models)]
        dynamics = [bool(m.opts.get("val_probabilities")) for m in self.members]
        held: list[torch.Tensor] = []
        hook = self.layer.register_forward_pre_hook(lambda _m, inputs: held.append(inputs[0].detach())) if self.layer is not None else None
        wants = [torch.from_numpy(np.asarray(c, dtype=np.int64)).to(self.device) if c is not None else None for c in capture]
        preds: list[list[Any]] = [[] for _ in range(n_models)]
        probs: list[list[Any]] = [[] for _ in range(n_models)]
        stats: list[list[Any]] = [[] for _ in range(n_models)]
        acts: list[list[Any]] = [[] for _ in range(n_models)]
        loss_sum = [torch.zeros((), device=self.device, dtype=torch.float64) for _ in range(n_models)]
        correct = [torch.zeros((), device=self.device, dtype=torch.int64) for _ in range(n_models)]
        n = 0
        try:
            with torch.no_grad(), _autocast(self.device, self.execution.precision):
                for x, y in self.pipeline.eval_batches(self.members[0].entry["eval_batch_size"]):
                    for i in range(n_models):
                        li = functional_call(self.template, states[i], (x,)).float()
                        loss_sum[i] += torch.nn.functional.cross_entropy(li, y, reduction="sum").double()
                        p = li.argmax(1)
                        correct[i] += (p == y).sum()
                        preds[i].append(p)
                        if want_probs[i]:
                            probs[i].append(torch.softmax(li, 1))
                        if dynamics[i]:
                            stats[i].append(true_class_stats(li, y))
                        want = wants[i]
                        if want is not None:
                            rows = want[(want >= n) & (want < n + len(y))] - n
                            acts[i].append(held.pop().flatten(1)[rows].float())
                        held.clear()
                    n += len(y)
        finally:
            if hook is not None:
                hook.remove()
        out = []
        for i in range(n_models):
            prediction = torch.cat(preds[i]).cpu().numpy() if preds[i] else np.zeros(0, dtype=np.int64)
            prob = torch.cat(probs[i]).cpu().numpy().astype(np.float32) if want_probs[i] and probs[i] else None
            result = EvalResult(prediction, float(loss_sum[i].item()) / max(n, 1), float(correct[i].item()) / max(n, 1), prob)
            if dynamics[i]:
                result.true_prob = torch.cat([t for t, _ in stats[i]]).cpu().numpy() if stats[i] else np.zeros(0, np.float32)
                result.margin = torch.cat([mg for _, mg in stats[i]]).cpu().numpy() if stats[i] else np.zeros(0, np.float32)
            if wants[i] is not None:
                result.activations = torch.cat(acts[i]).cpu().numpy() if acts[i] else np.zeros((0, 0), np.float32)
            out.append(result)
        return out

    def _evaluate_and_commit(self, epoch: int, metrics: dict[int, dict[str, Any]], train_dec: dict[int, Any], train_rows: dict[int, Any]) -> None:
        """Evaluate all members and commit `epoch` for those in `metrics` (member index -> metrics), with
        the learning-dynamics rows and final-epoch activations their store options ask for."""
        t0 = time.perf_counter()
        total = self.members[0].entry["epochs"]
        want = [i in metrics and m.entry["save_probabilities"] and epoch == total for i, m in enumerate(self.members)]
        capture = [activation_subset(self.study.n_images, m.opts["activations"], m.opts["activations_seed"])
                   if i in metrics and epoch == total and m.opts.get("activations") else None for i, m in enumerate(self.members)]
        results = self._evaluate(want, capture)
        eval_time = (time.perf_counter() - t0) / len(self.members)
        for i, m in enumerate(self.members):
            m.timings["eval_s"] += eval_time
        if not self.execution.log_decisions:
            return
        for i, m in enumerate(self.members):
            if i not in metrics:
                continue
            t0 = time.perf_counter()
            result = results[i]
            if capture[i] is not None:  # before the final epoch's commit, as the one-model path
                m.writer.save_activations(capture[i], result.activations)
            m.writer.commit_epoch(epoch, result.prediction, {"val_loss": result.loss, **metrics[i], "eval_time_s": round(eval_time, 4)},
                                  train_decisions=train_dec.get(i), dynamics=_dynamics_rows(m.opts, result, train_rows.get(i)))
            if result.probabilities is not None:
                m.writer.save_probabilities(result.probabilities)
            m.timings["commit_s"] += time.perf_counter() - t0

    def _train(self, start: int) -> dict[str, dict[str, Any]]:
        """Epochs start+1..last of every member, each checkpointed and then committed."""
        total = self.members[0].entry["epochs"]
        try:
            due = {i: c for i, m in enumerate(self.members) if (c := m.needs_commit_at_start()) is not None}
            if due:
                self._evaluate_and_commit(start, {i: c[0] for i, c in due.items()},
                                          {i: self.members[i].pending_train for i in due if self.members[i].pending is not None},
                                          {i: c[1] for i, c in due.items() if c[1] is not None})
            from tqdm import tqdm

            bar = tqdm(range(start + 1, total + 1), desc=f"packed x{len(self.members)}", unit="epoch", disable=self.execution.quiet,
                       initial=start, total=total, dynamic_ncols=True)
            for epoch in bar:
                t0 = time.perf_counter()
                metrics, train_dec, train_rows = self._train_epoch(epoch)
                share = (time.perf_counter() - t0) / len(self.members)
                for i, m in enumerate(self.members):
                    m.scheduler.step()
                    metrics[i]["train_time_s"] = round(share, 4)
                    m.timings["train_s"] += share
                self._checkpoint(epoch, metrics, train_dec, train_rows)  # every member's checkpoint before any commit
                self._evaluate_and_commit(epoch, metrics, train_dec, train_rows)
                _maybe_stop()
            bar.close()
        except DiskFull:
            raise
        except BaseException as exc:
            self._mark_failed(exc)
            raise
        out = {}
        for m in self.members:
            m.timings["total_s"] = sum(v for k, v in m.timings.items() if k.endswith("_s") and k != "total_s")
            m.writer.finish("complete", timings=_rounded(m.timings))
            out[m.model_id] = m.writer.info
        return out

    def _mark_failed(self, exc: BaseException) -> None:
        """Mark every member failed, as `run_model` does: not on a full disk, a stop or an interrupt
        (those stay resumable as they are)."""
        if isinstance(exc, (DiskFull, KeyboardInterrupt, SystemExit, StopRequested)) or isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return
        error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        for m in self.members:
            m.writer.finish("failed", error=error, timings=_rounded(m.timings))

    def _checkpoint(self, epoch: int, metrics: dict[int, dict[str, Any]], train_dec: dict[int, Any], train_rows: dict[int, Any]) -> None:
        """Each member's checkpoint in the one-model format (its own slices of the stacked tensors)."""
        for i, m in enumerate(self.members):
            t0 = time.perf_counter()
            state = {
                "model_id": m.model_id, "config": m.config,
                "model": {k: member_tensor(v, len(self.members), i).detach().clone() for k, v in self.net.state_dict().items()},
                "optimizer": m.optimizer.state_dict(), "scheduler": m.scheduler.state_dict(), "scaler": {},
                "metrics": metrics[i], "train_decisions": _train_decisions_state(train_dec.get(i)),
                "train_dynamics": _train_rows_state(train_rows.get(i)),
            }
            save_checkpoint(m.writer.dir, epoch, state)
            m.timings["checkpoint_s"] += time.perf_counter() - t0

    def _train_epoch(self, epoch: int) -> tuple[dict[int, dict[str, Any]], dict[int, Any], dict[int, Any]]:
        """One epoch of every member: each its own order, augmentation, labels (random labels) and label
        smoothing, one batched step for all; returns metrics, training decisions and training rows."""
        import math

        import torch

        members, n_models = self.members, len(self.members)
        self.net.train()
        batch_size = members[0].entry["batch_size"]
        keep = [m.entry["save_train_decisions"] and self.execution.log_decisions for m in members]
        streams = [self.pipeline.train_batches(epoch_order(self.indices, m.entry["data_seed"], epoch), batch_size, m.entry, epoch) for m in members]
        smoothing = [float(recipe_value(m.entry, "label_smoothing")) for m in members]
        records = [{k: torch.full((int(m.opts["n_train"]),), float("nan"), device=self.device) for k in ("probability", "margin")}
                   if m.opts.get("train_probabilities") else None for m in members]
        loss_sum = torch.zeros(n_models, device=self.device, dtype=torch.float64)
        correct = torch.zeros(n_models, device=self.device, dtype=torch.int64)
        seen = 0
        preds: list[list[Any]] = [[] for _ in members]
        idxs: list[list[Any]] = [[] for _ in members]
        labels: list[list[Any]] = [[] for _ in members]
        params = list(self.net.parameters())
        for parts in zip(*streams):
            x = torch.cat([p[0] for p in parts], 1)  # model i's channels at i*C..(i+1)*C-1, in its batches' memory format
            ys = [p[1] if m.targets is None else m.targets[p[2]] for p, m in zip(parts, members)]
            self.net.zero_grad(set_to_none=True)
            with _autocast(self.device, self.execution.precision):
                logits = self._logits(x)
                losses = [torch.nn.functional.cross_entropy(li, yi, label_smoothing=sm) for li, yi, sm in zip(logits, ys, smoothing)]
            torch.stack(losses).sum().backward()
            for i, m in enumerate(members):
                for view, p in zip(m.views, params):
                    view.grad = member_tensor(p.grad, n_models, i)
                m.optimizer.step()
            with torch.no_grad():
                p_all = [li.detach().argmax(1) for li in logits]
                loss_sum += torch.stack([loss.detach().double() for loss in losses]) * len(ys[0])
                correct += torch.stack([(pi == yi).sum() for pi, yi in zip(p_all, ys)])
                for record, li, yi, part in zip(records, logits, ys, parts):
                    if record is not None:
                        record["probability"][part[2]], record["margin"][part[2]] = true_class_stats(li.detach(), yi)
            seen += len(ys[0])
            for i in range(n_models):
                if keep[i]:
                    preds[i].append(p_all[i])
                    idxs[i].append(parts[i][2])
                    labels[i].append(ys[i])
        for m in members:  # the gradients are slices of this step's stacked ones: let them go
            for view in m.views:
                view.grad = None
        metrics: dict[int, dict[str, Any]] = {}
        train_dec: dict[int, Any] = {}
        for i, m in enumerate(members):
            loss = float(loss_sum[i].item()) / max(seen, 1)
            metrics[i] = {"train_loss": loss if math.isfinite(loss) else None, "train_accuracy": float(correct[i].item()) / max(seen, 1),
                          "lr": float(m.optimizer.param_groups[0]["lr"])}
            if keep[i] and preds[i]:
                p = torch.cat(preds[i]).cpu().numpy()
                train_dec[i] = (torch.cat(idxs[i]).cpu().numpy(), p, p == torch.cat(labels[i]).cpu().numpy())
        train_rows = {i: (r["probability"].cpu().numpy(), r["margin"].cpu().numpy()) for i, r in enumerate(records) if r is not None}
        return metrics, train_dec, train_rows


class _Params:
    """What `make_optimizer` needs of a model: its parameters (here one member's stacked slices)."""

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        self.tensors = tensors

    def parameters(self) -> list[torch.Tensor]:
        return list(self.tensors)
