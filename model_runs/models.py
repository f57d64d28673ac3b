"""One model registry: `create_model(name, num_classes, weights=None, **kw)`.

Names map to builders in a dict (never `eval`): torchvision architectures, small networks for
8x8 digits and small Gaussian images, `timm:<name>`, and the paper's eleven pretrained models as
`zoo:<name>` (`model_runs.zoo`: CLIP zero-shot, CORnet-RT, BagNet-33, the robust, SIN, SWSL, SimCLR
ResNet-50s, ...), each loading its authors' published weight file. Pretrained weights come only
from local files, the torch hub cache or the local Hugging Face cache; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labutil.errors import UserError

if TYPE_CHECKING:
    import torch.nn as nn


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: how to build it and what it is."""

    build: Callable[..., "nn.Module"]
    description: str
    family: str  # "small" | "torchvision" | "zoo"


# ---------------------------------------------------------------------------------------------
# Small networks (digits 8x8, Gaussian/CIFAR 32x32)


def _linear(num_classes: int, in_channels: int, image_size: int) -> "nn.Module":
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


def _mlp(num_classes: int, in_channels: int, image_size: int, width: int = 64, depth: int = 1, dropout: float = 0.0) -> "nn.Module":
    import torch.nn as nn

    layers: list[nn.Module] = [nn.Flatten()]
    n_in = in_channels * image_size * image_size
    for _layer in range(depth):
        layers += [nn.Linear(n_in, width), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = width
    layers.append(nn.Linear(n_in, num_classes))
    return nn.Sequential(*layers)


def _conv_bn(n_in: int, n_out: int, stride: int = 1) -> list["nn.Module"]:
    import torch.nn as nn

    return [nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU(inplace=True)]


def _small_cnn(num_classes: int, in_channels: int, image_size: int, width: int = 16) -> "nn.Module":
    import torch.nn as nn

    return nn.Sequential(
        *_conv_bn(in_channels, width),
        *_conv_bn(width, width),
        nn.MaxPool2d(2),
        *_conv_bn(width, 2 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def _small_resnet(num_classes: int, in_channels: int, image_size: int, width: int = 16, blocks: int = 1) -> "nn.Module":
    """A ResNet for small images: 3x3 stem, three stages of basic blocks (width, 2x, 4x), strides 1, 2, 2."""
    import torch.nn as nn
    from torchvision.models.resnet import BasicBlock

    layers: list[nn.Module] = _conv_bn(in_channels, width)
    n_in = width
    for stage, n_out in enumerate((width, 2 * width, 4 * width)):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            down = None
            if stride != 1 or n_in != n_out:
                down = nn.Sequential(nn.Conv2d(n_in, n_out, 1, stride=stride, bias=False), nn.BatchNorm2d(n_out))
            layers.append(BasicBlock(n_in, n_out, stride=stride, downsample=down))
            n_in = n_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(n_in, num_classes)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------
# torchvision architectures


def _torchvision(attr: str) -> Callable[..., "nn.Module"]:
    def build(num_classes: int, in_channels: int, image_size: int, **kw: Any) -> "nn.Module":
        import torch.nn as nn
        import torchvision.models as tvm

        model = getattr(tvm, attr)(weights=None, num_classes=num_classes, **kw)
        if in_channels != 3:
            return nn.Sequential(_RepeatChannels(3), model)
        return model

    return build


def _repeat_channels_class() -> type:
    import torch.nn as nn

    class RepeatChannels(nn.Module):
        """Repeat a 1-channel input to the 3 channels torchvision architectures expect."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.channels = channels

        def forward(self, x):  # type: ignore[no-untyped-def]
            return x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x

    return RepeatChannels


def _RepeatChannels(channels: int) -> "nn.Module":
    return _repeat_channels_class()(channels)


_TORCHVISION = {
    "alexnet": "AlexNet (Krizhevsky et al. 2012)",
    "vgg11": "VGG-11", "vgg11_bn": "VGG-11 with batch norm", "vgg16": "VGG-16", "vgg19": "VGG-19",
    "resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50", "resnet101": "ResNet-101",
    "resnet152": "ResNet-152", "wide_resnet50_2": "Wide ResNet-50-2", "resnext50_32x4d": "ResNeXt-50 32x4d",
    "densenet121": "DenseNet-121", "densenet169": "DenseNet-169", "densenet201": "DenseNet-201",
    "squeezenet1_0": "SqueezeNet 1.0", "squeezenet1_1": "SqueezeNet 1.1",
    "mobilenet_v2": "MobileNetV2", "mobilenet_v3_small": "MobileNetV3 small", "mobilenet_v3_large": "MobileNetV3 large",
    "shufflenet_v2_x1_0": "ShuffleNetV2 1.0x", "efficientnet_b0": "EfficientNet-B0", "regnet_y_400mf": "RegNetY-400MF",
    "convnext_tiny": "ConvNeXt-T", "vit_b_16": "ViT-B/16", "swin_t": "Swin-T",
}

MODELS: dict[str, ModelEntry] = {
    "linear": ModelEntry(_linear, "softmax regression on the pixels", "small"),
    "mlp": ModelEntry(_mlp, "multi-layer perceptron (options: width, depth, dropout)", "small"),
    "small_cnn": ModelEntry(_small_cnn, "3 conv-BN-ReLU layers, global pooling (option: width); for 8x8-32x32 images", "small"),
    "small_resnet": ModelEntry(_small_resnet, "ResNet for small images, 3 stages (options: width, blocks)", "small"),
    **{name: ModelEntry(_torchvision(name), f"torchvision {desc}", "torchvision") for name, desc in _TORCHVISION.items()},
}


def _zoo_entries() -> dict[str, ModelEntry]:
    from model_runs.zoo.registry import zoo_builders

    return {f"zoo:{name}": ModelEntry(make, f"paper model: {desc}", "zoo") for name, (make, desc) in zoo_builders().items()}


MODELS.update(_zoo_entries())


def timm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("timm") is not None


def check_model_name(name: str, where: str = "") -> None:
    """A one-line error for an unknown architecture name."""
    if name in MODELS:
        return
    if name.startswith("timm:"):
        if not timm_available():
            raise UserError(f"{where}model '{name}' needs timm: pip install timm")
        return
    raise UserError(f"{where}unknown model '{name}' (see `python -m model_runs list models`)")


# Set by the recipe and the dataset, never through model_options.
_FIXED_OPTIONS = frozenset({"num_classes", "in_channels", "image_size", "weights", "progress", "pretrained", "in_chans"})


def _named_parameters(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    """Keyword parameter names of a callable, and whether it also takes **kwargs."""
    import inspect

    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def model_option_names(name: str) -> set[str] | None:
    """The `model_options` keys an architecture accepts (from its builder's signature, for
    torchvision also the model class's), or None when they cannot be known without building it (timm)."""
    if name.startswith("timm:") or name not in MODELS:
        return None
    names, var_kw = _named_parameters(MODELS[name].build)
    if MODELS[name].family == "torchvision":
        import torchvision.models as tvm

        builder = getattr(tvm, name)
        names, var_kw = _named_parameters(builder)
        cls = _return_class(builder)
        if var_kw and cls is not None:
            class_names, var_kw = _named_parameters(cls.__init__)
            names |= class_names
    return None if var_kw else names - _FIXED_OPTIONS


def _return_class(fn: Callable[..., Any]) -> type | None:
    """The class a torchvision builder returns (its return annotation), if it is one."""
    import inspect

    ret = inspect.signature(fn).return_annotation
    return ret if isinstance(ret, type) else None


def check_model_options(name: str, options: dict[str, Any], where: str = "") -> None:
    """A one-line error for a `model_options` key the architecture does not take (before anything runs)."""
    known = model_option_names(name)
    if known is None:
        return
    for key in options:
        if key in _FIXED_OPTIONS or key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise UserError(f"{where}model_options: '{key}' is not an option of '{name}' (options: {allowed})")


def create_model(
    name: str,
    num_classes: int,
    weights: str | Path | None = None,
    in_channels: int = 3,
    image_size: int = 224,
    **kw: Any,
) -> "nn.Module":
    """Build an architecture by name, optionally loading local weights (a file, or 'torchvision:<WEIGHTS>')."""
    check_model_name(name)
    if weights and MODELS.get(name) is not None and MODELS[name].family == "zoo":
        from model_runs.zoo.registry import resolve_zoo_weights

        weights = resolve_zoo_weights(str(weights), name.split(":", 1)[1])  # a missing file fails before building
    if name.startswith("timm:"):
        from model_runs.zoo.registry import offline

        offline()
        import timm

        model = timm.create_model(name[5:], pretrained=False, num_classes=num_classes, in_chans=in_channels, **kw)
    else:
        try:
            model = MODELS[name].build(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kw)
        except TypeError as exc:
            raise UserError(f"model '{name}': bad model_options ({exc})") from None
    if weights:
        if MODELS.get(name) is not None and MODELS[name].family == "zoo":
            from model_runs.zoo.registry import load_zoo_weights

            load_zoo_weights(model, weights, name.split(":", 1)[1])
        else:
            load_weights(model, weights, name)
    return model


def resolve_weights(weights: str | Path, arch: str) -> Path:
    """The local file for a weights spec: a path, or 'torchvision:<NAME>' found in the torch hub cache."""
    spec = str(weights)
    if spec.startswith("torchvision:"):
        import torch.hub
        import torchvision.models as tvm

        enum_name = spec.split(":", 1)[1] or "DEFAULT"
        try:
            entry = tvm.get_model_weights(arch)[enum_name]
        except (ValueError, KeyError):
            raise UserError(f"weights '{spec}': torchvision has no weights {enum_name} for '{arch}'") from None
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(entry.url).name
        if not path.is_file():
            raise UserError(
                f"weights '{spec}' not found at {path}; nothing is downloaded at run time: copy {Path(entry.url).name} "
                f"(from {entry.url}) into {path.parent} or set $TORCH_HOME"
            )
        return path
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"weights file not found: {path}")
    return path


def load_weights(model: "nn.Module", weights: str | Path, arch: str) -> None:
    """Load a local state dict (plain, or under 'state_dict'/'model'; 'module.' prefixes removed)."""
    import torch

    path = resolve_weights(weights, arch)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read the file is the user's file
        raise UserError(f"{path}: cannot load weights ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UserError(f"{path}: not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    target = model[1] if isinstance(model, torch.nn.Sequential) and type(model[0]).__name__ == "RepeatChannels" else model
    try:
        result = target.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that do not match
        detail = [line.strip() for line in str(exc).splitlines() if "size mismatch" in line]
        raise UserError(f"{path}: weights do not fit '{arch}' ({detail[0] if detail else 'shape mismatch'})") from None
    if result.missing_keys or result.unexpected_keys:
        missing = ", ".join(result.missing_keys[:3])
        unexpected = ", ".join(result.unexpected_keys[:3])
        raise UserError(f"{path}: weights do not fit '{arch}' (missing: {missing or '-'}; unexpected: {unexpected or '-'})")
