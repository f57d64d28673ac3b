"""Test helpers: random-weight files in each zoo model's published layout, a tiny open_clip config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

# the classifier layer of each network, as named in its published file (before any prefix)
HEADS = {
    "cornet_rt": "decoder.linear", "bagnet33": "fc", "hrnet_w44": "classifier", "resnet152": "fc", "resnet50_l2_eps1": "fc",
    "resnet50_swsl": "fc", "resnet50_trained_on_SIN": "fc", "simclr_resnet50x1": "fc", "squeezenet1_1": "classifier.1",
    "vit_base_patch16_224": "head",
}

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1},
}


def register_tiny_clip(folder: Path) -> str:
    """Register a 1-layer open_clip config 'tiny-test-clip' (for fast zero-shot tests); returns its name."""
    import open_clip

    path = folder / "tiny-test-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(path)
    return "tiny-test-clip"


def published_layout(name: str, state: dict[str, torch.Tensor]) -> Any:
    """The object the authors' file holds, written from their descriptions (not from model_runs.zoo)."""
    if name in ("cornet_rt", "resnet50_trained_on_SIN"):  # saved from nn.DataParallel with the epoch and arch
        return {"epoch": 60, "arch": name, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    if name == "simclr_resnet50x1":  # tonylins/simclr-converter: {'state_dict': torchvision keys}
        return {"state_dict": dict(state)}
    if name == "resnet50_l2_eps1":  # robustness library AttackerModel in DataParallel
        mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        model: dict[str, torch.Tensor] = {"module.normalizer.new_mean": mean, "module.normalizer.new_std": std,
                                          "module.attacker.normalize.new_mean": mean, "module.attacker.normalize.new_std": std}
        model.update({f"module.model.{k}": v for k, v in state.items()})
        model.update({f"module.attacker.model.{k}": v for k, v in state.items()})
        return {"model": model, "epoch": 90}
    return dict(state)  # torch hub / timm / open_clip: the plain state dict


def write_published_file(name: str, folder: Path, head_class: int | None = None, **options: Any) -> Path:
    """Random weights of a zoo model saved under its published file name in its published layout;
    with `head_class`, the classifier's weights are zero and its bias is one-hot at that class."""
    from model_runs.zoo.registry import ZOO, build, inner_network

    torch.manual_seed(0)
    net = inner_network(build(name, **options))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    if head_class is not None:
        head = HEADS[name]
        state[f"{head}.weight"].zero_()
        state[f"{head}.bias"].zero_()
        state[f"{head}.bias"][head_class] = 10.0
    path = folder / ZOO[name].file_name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(published_layout(name, state), path)
    return path
