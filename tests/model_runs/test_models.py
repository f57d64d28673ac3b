"""The model registry: names to architectures, local weights only."""

from __future__ import annotations

from pathlib import Path

import pytest

from labutil.errors import UserError
from model_runs.models import MODELS, create_model, timm_available


@pytest.mark.parametrize(("name", "channels", "size"), [("linear", 1, 8), ("mlp", 1, 8), ("small_cnn", 1, 8), ("small_resnet", 3, 32), ("resnet18", 1, 32)])
def test_create_model_output_shape(name: str, channels: int, size: int) -> None:
    import torch

    model = create_model(name, 7, in_channels=channels, image_size=size)
    assert model(torch.zeros(2, channels, size, size)).shape == (2, 7)


def test_registry_names_and_errors() -> None:
    assert {"resnet18", "resnet50", "resnet152", "densenet121", "vgg11", "alexnet", "squeezenet1_1", "small_cnn", "mlp"} <= set(MODELS)
    with pytest.raises(UserError, match="unknown model 'resnet17'"):
        create_model("resnet17", 10)
    with pytest.raises(UserError, match=r"model 'mlp': bad model_options"):
        create_model("mlp", 10, in_channels=1, image_size=8, widht=3)
    if not timm_available():
        with pytest.raises(UserError, match="needs timm: pip install timm"):
            create_model("timm:vit_tiny_patch16_224", 10)


def test_weights_from_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.manual_seed(0)
    a = create_model("small_cnn", 10, in_channels=1, image_size=8)
    torch.save({"state_dict": {f"module.{k}": v for k, v in a.state_dict().items()}}, tmp_path / "w.pth")
    torch.manual_seed(1)
    b = create_model("small_cnn", 10, weights=tmp_path / "w.pth", in_channels=1, image_size=8)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    with pytest.raises(UserError, match=r"w\.pth: weights do not fit 'mlp'"):
        create_model("mlp", 10, weights=tmp_path / "w.pth", in_channels=1, image_size=8)
    with pytest.raises(UserError, match="weights file not found"):
        create_model("mlp", 10, weights=tmp_path / "none.pth", in_channels=1, image_size=8)
    # torchvision weights are looked up in the hub cache and never downloaded
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError, match=r"not found at .*torch/hub/checkpoints/resnet18-f37072fd\.pth; nothing is downloaded"):
        create_model("resnet18", 1000, weights="torchvision:IMAGENET1K_V1")
    with pytest.raises(UserError, match="torchvision has no weights NOPE"):
        create_model("resnet18", 1000, weights="torchvision:NOPE")
