"""Per-epoch training checkpoints: model, optimiser, scheduler, scaler and RNG states.

Each is written atomically to `models/<id>/checkpoints/epoch-NNNN.pt`; only the newest two are
kept. A checkpoint is always written before its epoch is committed to the store, so the newest
checkpoint is at most one epoch ahead of the store.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from labutil.errors import UserError
from labutil.io import atomic_write_bytes

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^epoch-([0-9]{4,})\.pt$")
KEEP = 2


def checkpoint_path(model_dir: Path, epoch: int) -> Path:
    return model_dir / CHECKPOINT_DIR / f"epoch-{epoch:04d}.pt"


def list_checkpoints(model_dir: Path) -> dict[int, Path]:
    """Checkpoint files of a model by epoch (temporary files of an interrupted write are ignored)."""
    folder = model_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return {}
    out = {}
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def save_checkpoint(model_dir: Path, epoch: int, state: dict[str, Any], keep: int = KEEP) -> Path:
    """Write one epoch's training state atomically, then delete all but the newest `keep`."""
    import torch

    buf = io.BytesIO()
    torch.save({"format_version": 1, "epoch": epoch, **state}, buf)
    path = checkpoint_path(model_dir, epoch)
    atomic_write_bytes(path, buf.getvalue())
    for old_epoch, old in list(list_checkpoints(model_dir).items())[:-keep]:
        if old_epoch != epoch:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors, numbers, strings only); a damaged file is a one-line error."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read it is a damaged file
        raise UserError(f"{path}: unreadable checkpoint ({type(exc).__name__}); delete it to resume from the one before") from None
