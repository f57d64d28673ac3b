"""Command line of model_runs: `python -m model_runs <verb> --help` explains every option."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labutil.bounds import MAX_LOADER_WORKERS, MAX_THREADS, MAX_WORKERS, check_range
from labutil.difficulty import DEFAULT_TOLERANCE, usable_tolerance
from labutil.errors import ArgumentParser, UserError
from labutil.paths import check_output_dir
from labutil.validate import float_type, non_negative_int, positive_int

DEFAULT_RUNS = "runs"


def _execution_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (how to run; recorded in run.json, not part of a model's definition)")
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N (default: auto)")
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto: bfloat16 autocast (no GradScaler) on GPUs that support it, else float32; fp16 = float16 autocast with a GradScaler (CUDA only) (default: auto)")
    g.add_argument("--amp", action="store_true", help="mixed precision also where auto would not use it: bfloat16 on the CPU, float16 + GradScaler on GPUs without bfloat16")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last memory format (default: on for CUDA, off on the CPU)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (first epoch slower while it compiles)")
    g.add_argument("--decoder", default="auto", choices=("auto", "pil", "tensor", "batched"),
                   help="image files: auto = training views decoded by torchvision.io and cropped with v2 uint8 kernels, evaluation in PIL "
                        "(the pixels stimuli render); pil = PIL for both (as before); tensor = torchvision for both; batched = as auto, but "
                        "training JPEGs are decoded in batches on the device (nvJPEG on CUDA) (default: auto)")
    g.add_argument("--image-cache", metavar="DIR", help="image files: keep each split resized to the evaluation resize as a memory-mapped uint8 "
                                                       "array in DIR (decoded once; training crops then come from the centre square)")
    g.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads per process (default: torch's choice; local sweeps split the cores, Slurm tasks use --cpus-per-task)")
    g.add_argument("--loader-workers", type=non_negative_int, default=None,
                   help="DataLoader processes for image-file datasets (default: the usable cores less one, at most 8; shared out in sweeps)")


def _location_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data locations")
    g.add_argument("--data-root", help="dataset root (ImageNet, CIFAR-100, ImageFolder); overrides [dataset] root and $IMAGENET_ROOT etc.")
    g.add_argument("--cache-dir", help="cache folder of generated datasets (default $TRIVIAL_OR_IMPOSSIBLE_CACHE or ~/.cache/trivial-or-impossible)")


def _slurm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Slurm (with --executor slurm: one job-array task per model)")
    g.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    g.add_argument("--time-limit", type=positive_int, default=60, metavar="MIN", help="time limit per task in minutes; tasks are requeued when it runs out (default: 60)")
    g.add_argument("--cpus-per-task", type=positive_int, default=4, help="CPUs per task (default: 4)")
    g.add_argument("--gpus-per-task", type=non_negative_int, default=None, help="GPUs per task, 0 or 1 (default: 1 with --device cuda, else 0: one task per GPU)")
    g.add_argument("--mem-gb", type=float_type(lo=0, lo_open=True), help="memory per task in GB (default: the partition's)")
    g.add_argument("--array-parallelism", type=positive_int, default=64, help="at most this many tasks at once (default: 64)")
    g.add_argument("--python", help="python executable on the compute nodes (default: this one, %s)" % sys.executable)
    g.add_argument("--setup", action="append", default=[], metavar="LINE", help="shell line run before each task, e.g. 'module load cuda' (repeatable)")
    g.add_argument("--max-requeues", type=non_negative_int, default=3, help="requeue a task at most this many times after timeout/preemption (default: 3)")
    g.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE", help="any further sbatch option, e.g. account=lab or qos=high (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m model_runs", description="Train and evaluate model ensembles and record every decision in a decisions store.")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=ArgumentParser)

    p = sub.add_parser("list", help="list shipped studies, datasets and models", description="List shipped studies, datasets (with their options) and model architectures.")
    p.add_argument("what", nargs="?", choices=("studies", "datasets", "models", "all"), default="all", help="what to list (default: all)")

    p = sub.add_parser("init", help="write a study file fitted to your own ImageFolder of images",
                       description="Look at an ImageFolder tree (ROOT/train/<class>/*, ROOT/val/<class>/*: classes, number and size of "
                                   "the images) and write a new study file whose recipe fits it (architecture and image size, batch size, "
                                   "learning rate, epochs), with example conditions to edit. Refuses to overwrite a file.")
    p.add_argument("study_file", metavar="STUDY_FILE", help="the study file to write (*.toml; must not exist)")
    p.add_argument("--dataset", choices=("imagefolder", "imagenet"), default="imagefolder", help="dataset kind (default: imagefolder)")
    p.add_argument("--root", required=True, metavar="DIR", help="the image tree: DIR/train/<class>/* and DIR/val/<class>/*")
    p.add_argument("--name", help="study name = its store folder <runs-dir>/<name> (default: from the file name)")

    p = sub.add_parser("train", help="train models of a study in this process", description="Train (or resume) models of a study one after another in this process, writing RUNS_DIR/<study>/.")
    p.add_argument("study", help="a shipped study name (see `list studies`) or a study .toml file")
    p.add_argument("--model", action="append", default=[], metavar="ID", help="train only this model (repeatable; default: every model)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS, help="folder of decisions stores (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _execution_options(p)
    _location_options(p)

    p = sub.add_parser("resume", help="continue the unfinished models of a study folder", description="Continue every unfinished model of an existing study folder (from its last checkpoint) in this process.")
    p.add_argument("study_dir", help="a study folder, e.g. runs/demo")
    p.add_argument("--model", action="append", default=[], metavar="ID", help="resume only this model (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _execution_options(p)
    _location_options(p)

    p = sub.add_parser("evaluate", help="evaluate pretrained models (evaluation-only study) or one checkpoint/weights file",
                       description="Either run an evaluation-only study (every model has epochs = 0, e.g. pretrained_zoo) into the store, "
                                   "or evaluate one checkpoint / weights file on a dataset's validation split and print accuracy and loss.")
    p.add_argument("study", nargs="?", help="an evaluation-only study (name or .toml file)")
    p.add_argument("--model", action="append", default=[], metavar="ID", help="evaluate only this model of the study (repeatable)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS, help="folder of decisions stores (default: runs)")
    p.add_argument("--checkpoint", help="a checkpoint written by training (models/<id>/checkpoints/epoch-NNNN.pt)")
    p.add_argument("--weights", help="a weights file (state dict) or 'torchvision:<WEIGHTS>' from the torch hub cache; needs --arch and --dataset")
    p.add_argument("--arch", help="architecture of --weights (see `list models`)")
    p.add_argument("--dataset", help="dataset of --weights (see `list datasets`); options via --dataset-option")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE", help="dataset option for --weights, e.g. resize=256 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _execution_options(p)
    _location_options(p)

    p = sub.add_parser("sweep", help="train every unfinished model of a study with local workers or on Slurm",
                       description="Train every model of a study that is not complete yet, with N local worker processes or as a Slurm job array "
                                   "(submitit). Complete models are skipped; interrupted ones resume from their last checkpoint.")
    p.add_argument("study", help="a shipped study name, a study .toml file, or an existing study folder (to finish it)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local", help="local worker processes or a Slurm job array (default: local)")
    p.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="local CPU worker processes (default: min(4, CPUs)); with GPUs the count is GPUs x --workers-per-gpu")
    p.add_argument("--gpus", help="local sweeps: GPU ids to use, e.g. 0,1 (default: $CUDA_VISIBLE_DEVICES or every GPU); each worker sees only its own")
    p.add_argument("--workers-per-gpu", type=int, default=1, help="local sweeps: workers sharing each GPU, for small models (default: 1)")
    p.add_argument("--pack", choices=("auto", "off"), default="auto",
                   help="auto: train models that differ only in seeds, learning rate or optimiser options together, one step for "
                        "all (small and torchvision CNNs on in-memory datasets; on the CPU only images of at most 256 values, e.g. "
                        "the digits demo, where it measured faster; the same decisions bit for bit on the CPU); off: one model at a "
                        "time (default: auto; docs/packing.md)")
    p.add_argument("--pack-size", type=int, default=16, help="at most this many models per packed group (default: 16)")
    p.add_argument("--model", action="append", default=[], metavar="ID", help="only this model (repeatable)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS, help="folder of decisions stores (default: runs)")
    p.add_argument("--log-dir", help="folder for submitit job files and logs (default: <study folder>/sweeps/<time>)")
    p.add_argument("--no-wait", action="store_true", help="return after submitting (Slurm); follow with `status`")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _execution_options(p)
    _location_options(p)
    _slurm_options(p)

    p = sub.add_parser("status", help="which models of a study folder are done, running or failed",
                       description="Show every model of a study folder: status (complete, running, interrupted, failed, pending), epochs and accuracy.")
    p.add_argument("study_dir", help="a study folder, e.g. runs/demo")

    p = sub.add_parser("migrate", help="rewrite a study folder's decisions in the current store format",
                       description="Rewrite the decisions of every model of a study folder written in store format 1 (Parquet) as format 2 "
                                   "(packed correctness bits and int16 predictions). Format-1 stores stay readable without this; it makes them "
                                   "small and fast to read. Safe to interrupt and rerun; models being trained are refused.")
    p.add_argument("study_dir", help="a study folder, e.g. runs/demo")
    _zoo_parser(sub)
    return parser


def _zoo_parser(sub: Any) -> None:
    p = sub.add_parser("zoo", help="the paper's eleven pretrained models: check weight files, rehearsal data, per-image tables",
                       description="The paper's eleven pretrained models (study pretrained_zoo, docs/zoo.md): check a published weight "
                                   "file, make ImageNet-shaped rehearsal data, export / import the per-image table of a store.")
    zsub = p.add_subparsers(dest="zoo_verb", required=True, metavar="ZOO_VERB", parser_class=ArgumentParser)
    q = zsub.add_parser("list", help="the zoo models, their published files and preprocessing",
                        description="List the zoo models: file name, file layout, normalisation and evaluation transform.")
    q = zsub.add_parser("check", help="load a weight file as a zoo model and say what is missing or unexpected",
                        description="Load FILE as zoo model MODEL (in its published layout) and list missing, unexpected and misshaped "
                                    "tensors and the file's SHA-256; exit status 2 when it does not fit.")
    q.add_argument("file", help="weight file (.pth, .pth.tar, .ckpt, .pt, .bin, .safetensors)")
    q.add_argument("--as", dest="model", required=True, metavar="MODEL", help="zoo model name (see `zoo list`), e.g. resnet50_l2_eps1")
    q = zsub.add_parser("rehearsal", help="write an ImageNet-shaped ImageFolder of synthetic JPEGs (the real 1,000 wnids)",
                        description="Write ROOT/val/<wnid>/ILSVRC2012_val_NNNNNNNN.JPEG (and optionally ROOT/train/...) with seeded "
                                    "synthetic images at ImageNet sizes, for rehearsing the pipeline without ILSVRC-2012. ROOT must be new or empty.")
    q.add_argument("root", help="folder to create")
    q.add_argument("--classes", type=int, default=1000, help="number of classes, spread evenly over the 1,000 (default: 1000)")
    q.add_argument("--wnid", action="append", default=[], help="use this class (repeatable; instead of --classes)")
    q.add_argument("--per-class", type=int, default=2, help="validation images per class (default: 2)")
    q.add_argument("--train-per-class", type=int, default=0, help="training images per class (default: 0, no train/)")
    q.add_argument("--seed", type=int, default=0, help="seed of the images (default: 0)")
    q = zsub.add_parser("export-table", help="write a store's per-image table in the authors' published format",
                        description="Write how many of a study's models classified each image correctly as a CSV in the format of "
                                    "the authors' imagenet_val_sota11_per_image.csv (docs/formats.md).")
    q.add_argument("study_dir", help="a study folder, e.g. runs/pretrained_zoo")
    q.add_argument("--out", required=True, help="CSV file to write (must not exist)")
    q.add_argument("--models", help="comma-separated model ids (default: every complete model)")
    q.add_argument("--epoch", default="final", help="epoch whose decisions count (default: each model's final)")
    q = zsub.add_parser("import-table", help="read a per-image table (published or exported) and print its split",
                        description="Validate a per-image table and print its trivial / in-between / impossible counts.")
    q.add_argument("table", help="per-image CSV (val_index, filepath, wnid, class_index, sota_n_correct, ...)")
    q.add_argument("--n-models", type=int, default=0, help="number of models behind the counts when the table has no n_models column")
    q.add_argument("-k", "--tolerance", type=int, default=DEFAULT_TOLERANCE,
                   help=f"models allowed to disagree (default: {DEFAULT_TOLERANCE}, as every command: the paper's shares)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "list": cmd_list, "init": cmd_init, "train": cmd_train, "resume": cmd_resume, "evaluate": cmd_evaluate, "sweep": cmd_sweep, "status": cmd_status,
        "migrate": cmd_migrate, "zoo": cmd_zoo,
    }[args.verb]
    return handler(args)


# ---------------------------------------------------------------------------------------------


def _execution(args: argparse.Namespace) -> Any:
    from model_runs.train import Execution

    if args.threads < 0 or (args.loader_workers is not None and args.loader_workers < 0):
        raise UserError("--threads and --loader-workers must not be negative")
    check_range("--threads", args.threads, 0, MAX_THREADS)
    if args.loader_workers is not None:  # None: scaled to the cores
        check_range("--loader-workers", args.loader_workers, 0, MAX_LOADER_WORKERS)
    if args.device not in ("auto", "cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UserError(f"--device {args.device}: choose auto, cpu, cuda or cuda:N")
    if args.device.startswith("cuda") and getattr(args, "verb", "") != "sweep":  # sweeps check the GPUs they are given
        from model_runs.train import resolve_device

        resolve_device(args.device)  # no CUDA: one-line error before any file is written
    return Execution(device=args.device, amp=args.amp, channels_last=args.channels_last, precision=args.precision, compile=args.compile,
                     decoder=args.decoder, image_cache=args.image_cache,
                     threads=args.threads, loader_workers=args.loader_workers, quiet=args.quiet)


def _location(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    if args.data_root:
        out["root"] = args.data_root
    if args.cache_dir:
        out["cache_dir"] = args.cache_dir
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from model_runs.datasets import DATASETS
    from model_runs.models import MODELS, timm_available
    from model_runs.study_files import describe_studies

    if args.what in ("studies", "all"):
        print("studies (python -m model_runs sweep NAME):")
        for name, dataset, n, desc in describe_studies():
            print(f"  {name:<20} {dataset:<12} {n:>3} models  {desc}")
    if args.what in ("datasets", "all"):
        print("datasets ([dataset] name = ...):")
        for name, cls in DATASETS.items():
            print(f"  {name:<12} {cls.description}")
            for key, opt in cls.options.items():
                print(f"      {key} = {opt.default!r}: {opt.help}")
    if args.what in ("models", "all"):
        print("models (arch = ...):")
        for name, entry in MODELS.items():
            print(f"  {name:<20} {entry.description}")
        print("  timm:<name>          any timm model" + ("" if timm_available() else " (timm is not installed: pip install timm)"))
    return 0


def _resolve_models(spec: Any, ids: list[str]) -> list[str]:
    return [m["model_id"] for m in spec.select(ids or None)]


def _print_outcomes(outcomes: list[Any], study_dir: Path) -> int:
    failed = [o for o in outcomes if o.status != "complete"]
    for o in outcomes:
        acc = f"val accuracy {o.accuracy:.4f}" if o.accuracy is not None else ""
        print(f"{o.model_id}: {o.status} {acc}{(' - ' + o.error) if o.error else ''}".rstrip())
    print(f"{study_dir}: {len(outcomes) - len(failed)} of {len(outcomes)} models complete")
    if failed:
        first = failed[0]
        raise UserError(f"{len(failed)} model(s) not complete; first: {first.model_id}: {first.error or first.status}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from model_runs.init_study import init_study, summary

    spec, found = init_study(Path(args.study_file), args.dataset, Path(args.root), args.name)
    print(summary(Path(args.study_file), spec, found))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from model_runs.runner import run_models
    from model_runs.study_files import load_study

    spec = load_study(args.study, _location(args))
    execution = _execution(args)
    ids = _resolve_models(spec, args.model)
    check_output_dir(args.runs_dir, "--runs-dir")
    study_dir = Path(args.runs_dir) / spec.name
    outcomes = run_models(spec, study_dir, ids, execution, stop_on_error=len(ids) == 1)
    return _print_outcomes(outcomes, study_dir)


def cmd_resume(args: argparse.Namespace) -> int:
    from model_runs.runner import model_status, run_models, spec_from_study_dir
    from model_runs.store import open_study

    study_dir = Path(args.study_dir)
    spec = spec_from_study_dir(study_dir, _location(args))
    check_output_dir(study_dir, "study folder")
    study = open_study(study_dir)
    ids = [m for m in _resolve_models(spec, args.model) if model_status(study, m) != "complete"]
    if not ids:
        print(f"{study_dir}: nothing to resume, every selected model is complete")
        return 0
    outcomes = run_models(spec, study_dir, ids, _execution(args), stop_on_error=len(ids) == 1)
    return _print_outcomes(outcomes, study_dir)


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.study and (args.checkpoint or args.weights):
        raise UserError("give either a study or --checkpoint/--weights, not both")
    if args.study:
        from model_runs.runner import run_models
        from model_runs.study_files import load_study

        spec = load_study(args.study, _location(args))
        ids = _resolve_models(spec, args.model)
        training = [m for m in ids if spec.model(m)["epochs"] > 0]
        if training:
            raise UserError(f"study '{spec.name}' trains models (e.g. '{training[0]}', epochs > 0); use train or sweep")
        check_output_dir(args.runs_dir, "--runs-dir")
        study_dir = Path(args.runs_dir) / spec.name
        _check_weight_files(spec, ids)
        return _print_outcomes(run_models(spec, study_dir, ids, _execution(args)), study_dir)
    from model_runs.evaluate import evaluate_checkpoint, evaluate_weights

    if args.checkpoint:
        result = evaluate_checkpoint(Path(args.checkpoint), _execution(args), _location(args))
    elif args.weights:
        if not args.arch or not args.dataset:
            raise UserError("--weights needs --arch and --dataset")
        result = evaluate_weights(args.weights, args.arch, args.dataset, _options(args.dataset_option), _execution(args), _location(args))
    else:
        raise UserError("give an evaluation-only study, --checkpoint FILE or --weights FILE")
    print(f"{result['what']}: val accuracy {result['accuracy']:.4f}, val loss {result['loss']:.4f} on {result['n_images']} images of {result['dataset']}")
    return 0


def _check_weight_files(spec: Any, ids: list[str]) -> None:
    """Every selected model's weight file exists, before anything is written (a missing one is one line naming it)."""
    from model_runs.models import MODELS, resolve_weights

    for model_id in ids:
        entry = spec.model(model_id)
        if not entry["weights"]:
            continue
        if MODELS.get(entry["arch"]) is not None and MODELS[entry["arch"]].family == "zoo":
            from model_runs.zoo.registry import resolve_zoo_weights

            resolve_zoo_weights(entry["weights"], entry["arch"].split(":", 1)[1])
        else:
            resolve_weights(entry["weights"], entry["arch"])


def _options(items: list[str]) -> dict[str, Any]:
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--dataset-option {item}: expected KEY=VALUE")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def cmd_sweep(args: argparse.Namespace) -> int:
    from model_runs.runner import spec_from_study_dir
    from model_runs.study_files import load_study
    from model_runs.sweep import SlurmOptions, run_sweep

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    check_range("--workers", args.workers, 1, MAX_WORKERS)
    check_range("--pack-size", args.pack_size, 1, 256)
    target = Path(args.study)
    if target.is_dir() and (target / "study.toml").is_file():
        spec, study_dir = spec_from_study_dir(target, _location(args)), target
    else:
        spec = load_study(args.study, _location(args))
        check_output_dir(args.runs_dir, "--runs-dir")
        study_dir = Path(args.runs_dir) / spec.name
    check_output_dir(study_dir, "study folder")
    if args.log_dir:
        check_output_dir(args.log_dir, "--log-dir")
    slurm = SlurmOptions(
        partition=args.partition, time_limit_min=args.time_limit, cpus_per_task=args.cpus_per_task, gpus_per_task=args.gpus_per_task,
        mem_gb=args.mem_gb, array_parallelism=args.array_parallelism, python=args.python, setup=args.setup,
        max_requeues=args.max_requeues, extra=_sbatch_extra(args.sbatch),
    )
    execution = _execution(args)
    outcomes = run_sweep(spec, study_dir, execution, args.executor, args.workers, args.model or None, slurm,
                         args.log_dir, wait=not args.no_wait, quiet=args.quiet, gpus=args.gpus, workers_per_gpu=args.workers_per_gpu,
                         pack=args.pack, pack_size=args.pack_size)
    if not outcomes:
        return 0
    return _print_outcomes(outcomes, study_dir)


def _sbatch_extra(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--sbatch {item}: expected KEY=VALUE")
        out[key.lstrip("-")] = value
    return out


def cmd_status(args: argparse.Namespace) -> int:
    from model_runs.status import print_status

    print_status(Path(args.study_dir))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from model_runs.store import STORE_FORMAT_VERSION, migrate_study

    migrated, current = migrate_study(Path(args.study_dir))
    print(f"{args.study_dir}: {migrated} models migrated to store format {STORE_FORMAT_VERSION}, {current} already in it")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    return {"list": _zoo_list, "check": _zoo_check, "rehearsal": _zoo_rehearsal, "export-table": _zoo_export,
            "import-table": _zoo_import}[args.zoo_verb](args)


def _zoo_list(args: argparse.Namespace) -> int:
    from model_runs.zoo.registry import ZOO, weights_dir

    print(f"zoo models (arch = \"zoo:NAME\"; weights = \"zoo\" reads {weights_dir()}/<file>):")
    for m in ZOO.values():
        norm = f"mean {list(m.mean)} std {list(m.std)}"
        print(f"  {m.name:<24} {m.file_name:<44} layout {m.layout.name:<17} resize {m.eval_resize} {m.eval_interpolation}, crop 224, {norm}")
    return 0


def _zoo_check(args: argparse.Namespace) -> int:
    from model_runs.zoo.registry import check_file

    ok, lines = check_file(Path(args.file), args.model)
    print("\n".join(lines))
    if not ok:
        raise UserError(lines[0] + " (details above)")
    return 0


def _zoo_rehearsal(args: argparse.Namespace) -> int:
    from model_runs.zoo.rehearsal import make_rehearsal

    counts = make_rehearsal(Path(args.root), args.classes, args.per_class, args.seed, args.wnid or None, args.train_per_class)
    print(f"{args.root}: {counts['val']} validation images of {counts['classes']} classes"
          + (f", {counts['train']} training images" if counts["train"] else ""))
    return 0


def _zoo_export(args: argparse.Namespace) -> int:
    from model_runs.per_image_table import export_table, split_counts

    models = [m for m in args.models.split(",") if m] if args.models else None
    epoch = args.epoch if args.epoch == "final" else _int_option("--epoch", args.epoch)
    table = export_table(Path(args.study_dir), Path(args.out), models, epoch)
    n_models = int(table["n_models"].min()) if len(table) else 1
    k = usable_tolerance(n_models)
    counts = split_counts(table, k)
    print(f"{args.out}: {len(table)} images, {int(table['n_models'].iloc[0])} models; (k = {k}) "
          + ", ".join(f"{name} {v}" for name, v in counts.items()))
    return 0


def _zoo_import(args: argparse.Namespace) -> int:
    from model_runs.per_image_table import read_table_file, split_counts

    table = read_table_file(Path(args.table), args.n_models)
    counts = split_counts(table, args.tolerance)
    print(f"{args.table}: {len(table)} images (k = {args.tolerance}); " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _int_option(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{name} {value}: expected an integer or 'final'") from None
