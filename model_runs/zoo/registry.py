"""The paper's eleven pretrained models: how each is built, the layout of the weight file its authors
publish, its normalisation and its evaluation transform.

Every zoo model is a `ZooModel`; `model_runs.models` registers each under its name (the names of
the authors' per-image tables: `resnet50_l2_eps1`, `bagnet33`, ...), so a study condition is
`arch = "bagnet33"`, `weights = "zoo"` (the published file in the weights folder) or a path.

The networks take images normalised with the ImageNet mean/std, as every image-file dataset here
delivers them, and turn them into what their weights expect (`Renormalized`): CLIP's statistics,
SimCLR's raw 0..1 pixels, ViT's 0.5/0.5, the robustness library's stored normaliser.
Nothing here imports torch at module level; nothing is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labutil.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOCS = "docs/zoo.md"


@dataclass(frozen=True)
class Layout:
    """Where a published file keeps the network's tensors: under `container` (None = the top level),
    every key starting with `prefix`; keys under `ignore` (duplicates, optimiser, attacker) are skipped."""

    name: str
    container: str | None = None
    prefix: str = ""
    ignore: tuple[str, ...] = ()
    normalizer: str | None = None  # key prefix of a stored normaliser with new_mean / new_std

    def describe(self) -> str:
        where = f"a dict with '{self.container}'" if self.container else "a state dict"
        return where + (f" whose keys start with '{self.prefix}'" if self.prefix else " with the architecture's own key names")


PLAIN = Layout("plain")
STATE_DICT = Layout("state_dict", container="state_dict")
STATE_DICT_MODULE = Layout("state_dict+module", container="state_dict", prefix="module.")
ROBUSTNESS = Layout("robustness", container="model", prefix="module.model.", ignore=("module.attacker.", "module.normalizer."),
                    normalizer="module.normalizer.")
OPEN_CLIP = Layout("open_clip", ignore=("input_resolution", "context_length", "vocab_size"))


@dataclass(frozen=True)
class ZooModel:
    """One of the paper's models: architecture, published file and its layout, preprocessing."""

    name: str
    description: str
    arch: str  # "torchvision:<name>" | "timm:<name>" | "cornet_rt" | "bagnet33" | "clip:<open_clip config>"
    layout: Layout
    file_name: str
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    eval_resize: int = 256
    eval_interpolation: str = "bilinear"
    sha256: str = ""  # full SHA-256 of the published file where its authors state it
    name_hash: str = ""  # the hex digits in the published file name (torch hub: the first digits of its SHA-256)
    options: dict[str, Any] = field(default_factory=dict)


ZOO: dict[str, ZooModel] = {m.name: m for m in [
    ZooModel("clip", "CLIP ViT-B/32 zero-shot (OpenAI), 80 prompt templates (option templates: openai80 | openai7 | photo)",
             "clip:ViT-B-32-quickgelu", OPEN_CLIP, "ViT-B-32.pt", mean=(0.48145466, 0.4578275, 0.40821073),
             std=(0.26862954, 0.26130258, 0.27577711), eval_resize=224, eval_interpolation="bicubic",
             sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"),
    ZooModel("cornet_rt", "CORnet-RT (Kubilius et al. 2018), 5 recurrent steps", "cornet_rt", STATE_DICT_MODULE,
             "cornet_rt-933c001c.pth", name_hash="933c001c"),
    ZooModel("bagnet33", "BagNet-33 (Brendel & Bethge 2019), 33 x 33 px receptive field", "bagnet33", PLAIN,
             "bagnet32-2ddd53ed.pth.tar", name_hash="2ddd53ed"),
    ZooModel("hrnet_w44", "HRNet-W44 (Wang et al. 2020; timm)", "timm:hrnet_w44", PLAIN, "hrnetv2_w44-c9ac8c18.pth",
             name_hash="c9ac8c18"),
    ZooModel("resnet152", "ResNet-152 (torchvision IMAGENET1K_V1)", "torchvision:resnet152", PLAIN, "resnet152-394f9c45.pth",
             name_hash="394f9c45"),
    ZooModel("resnet50_l2_eps1", "ResNet-50 adversarially trained, L2 eps = 1 (Salman et al. 2020; robustness library)",
             "torchvision:resnet50", ROBUSTNESS, "resnet50_l2_eps1.ckpt"),
    ZooModel("resnet50_swsl", "ResNet-50 semi-weakly supervised on 940M images (Yalniz et al. 2019; torch hub)",
             "torchvision:resnet50", PLAIN, "semi_weakly_supervised_resnet50-16a12f1b.pth", name_hash="16a12f1b"),
    ZooModel("resnet50_trained_on_SIN", "ResNet-50 trained on Stylized-ImageNet (Geirhos et al. 2019)", "torchvision:resnet50",
             STATE_DICT_MODULE, "resnet50_train_60_epochs-c8e5653e.pth.tar", name_hash="c8e5653e"),
    ZooModel("simclr_resnet50x1", "SimCLR ResNet-50 (1x), linear head (Chen et al. 2020; converted from TensorFlow)",
             "torchvision:resnet50", STATE_DICT, "resnet50-1x.pth", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    ZooModel("squeezenet1_1", "SqueezeNet 1.1 (torchvision IMAGENET1K_V1)", "torchvision:squeezenet1_1", PLAIN,
             "squeezenet1_1-b8a52dc0.pth", name_hash="b8a52dc0"),
    ZooModel("vit_base_patch16_224", "ViT-B/16, ImageNet-21k then 1k (Dosovitskiy et al. 2021; timm)",
             "timm:vit_base_patch16_224", PLAIN, "jx_vit_base_p16_224-80ecf9dd.pth", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
             eval_resize=248, eval_interpolation="bicubic", name_hash="80ecf9dd"),
]}


def weights_dir() -> Path:
    """Folder of published weight files: $TRIVIAL_OR_IMPOSSIBLE_WEIGHTS, else ~/.cache/trivial-or-impossible/weights."""
    env = os.environ.get("TRIVIAL_OR_IMPOSSIBLE_WEIGHTS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "trivial-or-impossible" / "weights"


def offline() -> None:
    """Switch off every download of the hub libraries for this process (weights come from local files)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"


def resolve_zoo_weights(spec: str, name: str) -> Path:
    """The local file of a zoo model: 'zoo' = its published file in the weights folder,
    'hf-hub:<repo>[/<file>]' = a file in the local Hugging Face cache, else a path."""
    model = ZOO[name]
    if spec == "zoo":
        path = weights_dir() / model.file_name
        if not path.is_file():
            raise UserError(f"weights of '{name}' not found: put {model.file_name} into {path.parent} "
                            f"(or set $TRIVIAL_OR_IMPOSSIBLE_WEIGHTS); where its authors publish it: {DOCS}")
        return path
    if spec.startswith("hf-hub:"):
        return _hf_cached(spec)
    if spec.startswith("torchvision:") and model.arch.startswith("torchvision:"):
        from model_runs.models import resolve_weights

        return resolve_weights(spec, model.arch.split(":", 1)[1])
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"weights file not found: {path} (model '{name}' expects its published file {model.file_name}; see {DOCS})")
    return path


def _hf_cached(spec: str) -> Path:
    """'hf-hub:<owner>/<repo>[/<file>]' (default file model.safetensors) from the local Hugging Face cache only."""
    offline()
    from huggingface_hub import try_to_load_from_cache

    parts = spec[len("hf-hub:"):].split("/")
    if len(parts) < 2 or not all(parts):
        raise UserError(f"weights '{spec}': expected hf-hub:<owner>/<repo>[/<file>]")
    repo, file = "/".join(parts[:2]), "/".join(parts[2:]) or "model.safetensors"
    found = try_to_load_from_cache(repo, file)
    if not isinstance(found, str):
        raise UserError(f"weights '{spec}': {file} of {repo} is not in the local Hugging Face cache ($HF_HOME/hub); "
                        f"nothing is downloaded at run time: fetch it where there is access (huggingface-cli download {repo} {file}) and copy the cache")
    return Path(found)


# ---------------------------------------------------------------------------------------------
# building


def build_network(model: ZooModel, num_classes: int, **options: Any) -> "nn.Module":
    """The bare network of a zoo model with random weights (no normalisation wrapper)."""
    offline()
    kind, _, arch = model.arch.partition(":")
    if kind == "torchvision":
        import torchvision.models as tvm

        return getattr(tvm, arch)(weights=None, num_classes=num_classes, **options)
    if kind == "timm":
        import timm

        return timm.create_model(arch, pretrained=False, num_classes=num_classes, **options)
    if kind == "clip":
        from model_runs.datasets.base import cache_root
        from model_runs.zoo.clip_zero_shot import build_clip

        return build_clip(options.pop("clip_config", arch), options.pop("templates", "openai80"), num_classes,
                          cache_root() / "clip_text")
    from model_runs.zoo import architectures

    return getattr(architectures, kind)(num_classes=num_classes, **options)


def _renormalized_class() -> type:
    import torch
    from torch import nn

    class Renormalized(nn.Module):
        """Input normalised with the ImageNet mean/std -> normalised with the model's own (mean, std)."""

        def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("scale", torch.ones(1, 3, 1, 1))
            self.register_buffer("shift", torch.zeros(1, 3, 1, 1))
            self.set_normalization(mean, std)

        def set_normalization(self, mean: Any, std: Any) -> None:
            """x_model = (x_imagenet * std_in + mean_in - mean) / std, folded into scale and shift."""
            m = torch.as_tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
            s = torch.as_tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
            m_in = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
            s_in = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
            self.scale.copy_((s_in / s).float())
            self.shift.copy_(((m_in - m) / s).float())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x * self.scale.to(x.dtype) + self.shift.to(x.dtype))

    return Renormalized


def build(name: str, num_classes: int = 1000, **options: Any) -> "nn.Module":
    """A zoo model ready for images normalised with ImageNet statistics (random weights)."""
    model = ZOO[name]
    try:
        net = build_network(model, num_classes, **{**model.options, **options})
    except TypeError as exc:
        raise UserError(f"model '{name}': bad model_options ({exc})") from None
    return _renormalized_class()(net, model.mean, model.std)


# ---------------------------------------------------------------------------------------------
# published files


def read_weight_file(path: Path) -> Any:
    """The object stored in a weight file: safetensors, a torch pickle (weights only), or a TorchScript
    archive (OpenAI's CLIP files) as its state dict."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any failure to read the file is the user's file
            raise UserError(f"{path}: cannot read safetensors file ({type(exc).__name__}: {str(exc)[:200]})") from None
    import warnings

    with warnings.catch_warnings():
        # OpenAI's CLIP files are TorchScript archives: torch.load hands them to the deprecated torch.jit.load
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*TorchScript archive.*")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            return dict(obj.state_dict()) if isinstance(obj, torch.nn.Module) else obj
        except Exception as exc:  # noqa: BLE001
            first = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        try:
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        except Exception:  # noqa: BLE001 - not TorchScript either: report the pickle error
            raise UserError(f"{path}: cannot load weights ({first})") from None


@dataclass
class FileFit:
    """How a file's tensors fit a network: the state to load, and what is missing, unexpected or misshaped."""

    state: dict[str, Any]
    missing: list[str]
    unexpected: list[str]
    misshaped: list[str]
    normalizer: tuple[Any, Any] | None = None
    layout_problem: str = ""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped or self.layout_problem)

    def summary(self, limit: int = 3) -> str:
        """One line: the layout problem, or the first missing / unexpected / misshaped keys."""
        if self.layout_problem:
            return self.layout_problem
        parts = []
        for what, keys in (("missing", self.missing), ("unexpected", self.unexpected), ("wrong shape", self.misshaped)):
            if keys:
                more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
                parts.append(f"{len(keys)} {what}: {', '.join(keys[:limit])}{more}")
        return "; ".join(parts)


def _sample_keys(obj: Any, n: int = 3) -> str:
    keys = list(obj)[:n] if isinstance(obj, dict) else []
    return ", ".join(map(str, keys)) or type(obj).__name__


def fit_file(obj: Any, model: ZooModel, net: "nn.Module") -> FileFit:
    """Take a published file's tensors out of its layout and compare them with the network's."""
    import torch

    layout = model.layout
    source = obj
    if layout.container:
        if not isinstance(obj, dict) or not isinstance(obj.get(layout.container), dict):
            return FileFit({}, [], [], [], layout_problem=(
                f"not in the published layout of '{model.name}' ({layout.describe()}): no '{layout.container}' entry "
                f"(top-level keys: {_sample_keys(obj)})"))
        source = obj[layout.container]
    if not isinstance(source, dict):
        return FileFit({}, [], [], [], layout_problem=f"not a state dict ({type(source).__name__})")
    tensors = {k: v for k, v in source.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        return FileFit({}, [], [], [], layout_problem=(
            f"not in the published layout of '{model.name}' ({layout.describe()}): no tensors "
            f"{'under ' + repr(layout.container) if layout.container else 'at the top level'} (keys: {_sample_keys(source)})"))
    kept = {k: v for k, v in tensors.items() if not any(k.startswith(p) for p in layout.ignore)}
    if layout.prefix and kept and not any(k.startswith(layout.prefix) for k in kept):
        return FileFit({}, [], [], [], layout_problem=(
            f"not in the published layout of '{model.name}' ({layout.describe()}): no key starts with '{layout.prefix}' "
            f"(keys: {_sample_keys(kept)})"))
    unexpected = [k for k in kept if not k.startswith(layout.prefix)]
    state = {k[len(layout.prefix):]: v for k, v in kept.items() if k.startswith(layout.prefix)}
    target = net.state_dict()
    missing = [layout.prefix + k for k in target if k not in state]
    unexpected += [layout.prefix + k for k in state if k not in target]
    misshaped = [f"{layout.prefix}{k} {tuple(v.shape)} (network: {tuple(target[k].shape)})" for k, v in state.items()
                 if k in target and tuple(v.shape) != tuple(target[k].shape)]
    normalizer = None
    if layout.normalizer:
        mean, std = tensors.get(layout.normalizer + "new_mean"), tensors.get(layout.normalizer + "new_std")
        if mean is None or std is None:
            missing += [layout.normalizer + k for k, v in (("new_mean", mean), ("new_std", std)) if v is None]
        else:
            normalizer = (mean.flatten().double(), std.flatten().double())
    return FileFit({k: v for k, v in state.items() if k in target}, missing, unexpected, misshaped, normalizer)


def inner_network(wrapper: "nn.Module") -> "nn.Module":
    """The module a published file's tensors belong to (inside the normalisation wrapper; CLIP's encoders)."""
    net = wrapper.net
    return net.clip if hasattr(net, "clip") and hasattr(net, "class_embeddings") else net


def load_zoo_weights(wrapper: "nn.Module", spec: str | Path, name: str) -> Path:
    """Load a zoo model's published file into `wrapper` (strict: no missing, unexpected or misshaped key)."""
    path = resolve_zoo_weights(str(spec), name)
    fit = fit_file(read_weight_file(path), ZOO[name], inner_network(wrapper))
    if not fit.ok:
        raise UserError(f"{path}: weights do not fit '{name}' ({fit.summary()})")
    inner_network(wrapper).load_state_dict(fit.state, strict=True)
    if fit.normalizer is not None:
        wrapper.set_normalization(*fit.normalizer)
    if hasattr(wrapper.net, "reset_text"):
        wrapper.net.reset_text()
    return path


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, name: str, options: dict[str, Any] | None = None) -> tuple[bool, list[str]]:
    """`zoo check`: whether a file loads into a zoo model, and a report (one finding per line)."""
    if name not in ZOO:
        raise UserError(f"--as {name}: not a zoo model (one of {', '.join(ZOO)})")
    model = ZOO[name]
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    wrapper = build(name, **(options or {}))
    fit = fit_file(read_weight_file(path), model, inner_network(wrapper))
    digest = sha256_of(path)
    lines = [f"{path}: {'fits' if fit.ok else 'does not fit'} '{name}' ({model.layout.describe()})",
             f"  tensors loaded: {len(fit.state)} of {len(inner_network(wrapper).state_dict())}"]
    for what, keys in (("missing", fit.missing), ("unexpected", fit.unexpected), ("wrong shape", fit.misshaped)):
        for key in keys:
            lines.append(f"  {what}: {key}")
    if fit.layout_problem:
        lines.append(f"  {fit.layout_problem}")
    if fit.normalizer is not None:
        lines.append(f"  normaliser from the file: mean {[round(float(v), 4) for v in fit.normalizer[0]]}, "
                     f"std {[round(float(v), 4) for v in fit.normalizer[1]]}")
    lines.append(f"  sha256 {digest}" + _hash_note(digest, model))
    return fit.ok, lines


def _hash_note(digest: str, model: ZooModel) -> str:
    if model.sha256:
        return " (the published file's)" if digest == model.sha256 else f" (differs from the published file's {model.sha256})"
    if model.name_hash:
        ok = digest.startswith(model.name_hash)
        return f" ({'starts with' if ok else 'does not start with'} the {model.name_hash} of the published file name)"
    return " (no published checksum)"


def zoo_builders() -> dict[str, tuple[Callable[..., Any], str]]:
    """name -> (builder taking num_classes, in_channels, image_size, **options; description) for `models.MODELS`."""

    def builder(name: str) -> Callable[..., Any]:
        def make(num_classes: int, in_channels: int, image_size: int, **options: Any) -> Any:
            if in_channels != 3:
                raise UserError(f"model '{name}' takes RGB images; the dataset has {in_channels} channel(s)")
            return build(name, num_classes, **options)

        return make

    return {name: (builder(name), m.description) for name, m in ZOO.items()}
