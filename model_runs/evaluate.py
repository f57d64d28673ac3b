"""Evaluate one checkpoint or weights file on a dataset's validation split (nothing is stored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labutil.errors import UserError
from model_runs.checkpoints import load_checkpoint
from model_runs.datasets import open_dataset
from model_runs.pipeline import make_pipeline
from model_runs.train import Execution, check_labels, eval_options, evaluate, pipeline_image_size, resolve_device, resolve_execution


def _run(model_factory: Any, dataset_config: dict[str, Any], num_classes: int, execution: Execution, eval_batch_size: int,
         eval_opts: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    if execution.threads > 0:
        torch.set_num_threads(execution.threads)
    device = resolve_device(execution.device)
    execution = resolve_execution(execution, device)
    dataset = open_dataset(dataset_config)
    pipeline = make_pipeline(dataset, device, execution.channels_last, execution.loader_workers, need_train=False, decoder=execution.decoder,
                             cache_dir=execution.image_cache, **(eval_opts or {}))
    num_classes = num_classes or dataset.n_classes
    check_labels(pipeline.labels("val"), num_classes, f"{dataset.name} validation split")
    model = model_factory(dataset, pipeline_image_size(pipeline, dataset), num_classes).to(device)
    if execution.channels_last:
        model = model.to(memory_format=torch.channels_last)
    result = evaluate(model, pipeline, eval_batch_size, device, execution.precision, quiet=execution.quiet)
    return {"accuracy": result.accuracy, "loss": result.loss, "n_images": len(result.prediction), "dataset": dataset.name,
            "prediction": result.prediction}


def evaluate_checkpoint(path: Path, execution: Execution, location: dict[str, Any]) -> dict[str, Any]:
    """Accuracy and loss of a training checkpoint on the validation split of the dataset it was trained on."""
    from model_runs.models import create_model

    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    state = load_checkpoint(path)
    config = state.get("config")
    if not isinstance(config, dict) or "dataset" not in config or "model" not in state:
        raise UserError(f"{path}: not a model_runs checkpoint")

    def factory(dataset: Any, image_size: int, num_classes: int) -> Any:
        model = create_model(config["arch"], num_classes, in_channels=dataset.channels, image_size=image_size, **config.get("model_options", {}))
        model.load_state_dict(state["model"])
        return model

    out = _run(factory, {**config["dataset"], **location}, int(config.get("num_classes", 0)), execution, int(config.get("eval_batch_size", 256)), eval_options(config))
    out["what"] = f"{path} (model {state.get('model_id', '?')}, epoch {state.get('epoch', '?')})"
    return out


def evaluate_weights(weights: str, arch: str, dataset: str, options: dict[str, Any], execution: Execution, location: dict[str, Any]) -> dict[str, Any]:
    """Accuracy and loss of local pretrained weights for `arch` on a dataset's validation split."""
    from model_runs.models import create_model

    def factory(ds: Any, image_size: int, num_classes: int) -> Any:
        return create_model(arch, num_classes, weights=weights, in_channels=ds.channels, image_size=image_size)

    out = _run(factory, {"name": dataset, **options, **location}, 0, execution, 256)
    out["what"] = f"{arch} with {weights}"
    return out
