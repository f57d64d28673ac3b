"""CLIP as a zero-shot ImageNet classifier (Radford et al. 2021), with open_clip's encoders.

Each class gets one text embedding: the class name put into every prompt template, each prompt
encoded and L2-normalised, the mean over templates normalised again (the CLIP paper's prompt
ensemble). Logits are `logit_scale.exp() * cos(image embedding, class embedding)`.
The class embeddings are computed once per set of text-tower weights and cached on disk
(`<cache>/clip_text/<key>.pt`, key = SHA-256 of the text weights, templates and class names).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labutil.errors import UserError
from labutil.io import atomic_write_bytes

#: template sets: "openai80" = the CLIP paper's 80 ImageNet prompts; "openai7" = the 7 of them the
#: CLIP notebook found best (open_clip's SIMPLE_IMAGENET_TEMPLATES); "photo" = one prompt.
TEMPLATE_SETS = ("openai80", "openai7", "photo")

#: CLIP's own image normalisation (mean, std) and evaluation transform (resize 224 bicubic, crop 224)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def templates(name: str) -> list[str]:
    """The prompt templates of a template set, as format strings with one `{}`."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    if name == "openai80":
        return [t("{}") for t in OPENAI_IMAGENET_TEMPLATES]
    if name == "openai7":
        return [t("{}") for t in SIMPLE_IMAGENET_TEMPLATES]
    if name == "photo":
        return ["a photo of a {}."]
    raise UserError(f"model_options: templates = '{name}' is not a template set ({', '.join(TEMPLATE_SETS)})")


def _text_modules(clip: nn.Module) -> list[nn.Module | torch.Tensor]:
    names = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "text")
    return [getattr(clip, n) for n in names if getattr(clip, n, None) is not None]


def text_key(clip: nn.Module, prompts: Sequence[str]) -> str:
    """SHA-256 over the text tower's weights and the prompts: the cache key of the class embeddings."""
    h = hashlib.sha256()
    for part in _text_modules(clip):
        tensors = [part] if isinstance(part, torch.Tensor) else list(part.state_dict().values())
        for t in tensors:
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    h.update("\n".join(prompts).encode())
    return h.hexdigest()


class ZeroShotCLIP(nn.Module):
    """Image batch (normalised with CLIP's mean/std) -> 1000 zero-shot class logits."""

    def __init__(self, clip: nn.Module, tokenizer: Any, class_names: Sequence[str], template_set: str = "openai80",
                 cache_dir: Path | None = None, text_batch: int = 256) -> None:
        super().__init__()
        self.clip = clip
        self.tokenizer = tokenizer
        self.class_names = list(class_names)
        self.templates = templates(template_set)
        self.cache_dir = cache_dir
        self.text_batch = text_batch
        self._weights: torch.Tensor | None = None  # (embed_dim, n_classes), not part of the state dict

    def reset_text(self) -> None:
        """Forget the class embeddings (after new weights were loaded)."""
        self._weights = None

    @torch.no_grad()
    def class_embeddings(self) -> torch.Tensor:
        """(embed_dim, n_classes) normalised prompt-ensemble embeddings, from the cache when present."""
        if self._weights is not None:
            return self._weights
        prompts = [t.format(c) for c in self.class_names for t in self.templates]
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"{text_key(self.clip, prompts)}.pt"
            if path.is_file():
                self._weights = torch.load(path, map_location="cpu", weights_only=True).to(self.clip.logit_scale.device)
                return self._weights
        device = self.clip.logit_scale.device
        chunks = []
        for start in range(0, len(prompts), self.text_batch):
            tokens = self.tokenizer(prompts[start : start + self.text_batch]).to(device)
            emb = self.clip.encode_text(tokens).float()
            chunks.append(emb / emb.norm(dim=-1, keepdim=True))
        per_prompt = torch.cat(chunks).view(len(self.class_names), len(self.templates), -1)
        mean = per_prompt.mean(dim=1)
        self._weights = (mean / mean.norm(dim=-1, keepdim=True)).T.contiguous()
        if path is not None:
            buf = io.BytesIO()
            torch.save(self._weights.cpu(), buf)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buf.getvalue())
        return self._weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = self.clip.encode_image(x).float()
        image = image / image.norm(dim=-1, keepdim=True)
        return self.clip.logit_scale.exp().float() * image @ self.class_embeddings()


def build_clip(config: str = "ViT-B-32-quickgelu", template_set: str = "openai80", num_classes: int = 1000,
               cache_dir: Path | None = None) -> ZeroShotCLIP:
    """An open_clip model of config `config` (random weights; nothing downloaded) as a zero-shot classifier."""
    import open_clip

    from model_runs.datasets.folder import imagenet_classes

    if num_classes != 1000:
        raise UserError(f"CLIP zero-shot classifies the 1,000 ImageNet classes; num_classes = {num_classes} is not possible")
    if config not in open_clip.list_models():
        raise UserError(f"model_options: clip_config = '{config}' is not an open_clip model config")
    templates(template_set)
    clip = open_clip.create_model(config, pretrained=None)
    tokenizer = open_clip.get_tokenizer(config)
    return ZeroShotCLIP(clip, tokenizer, [name for _, name in imagenet_classes()], template_set, cache_dir)
