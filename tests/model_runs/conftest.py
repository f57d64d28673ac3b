"""Fixtures for model_runs tests: one torch thread, a private dataset cache, tiny study files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TINY_STUDY = """
name = "{name}"
description = "tiny test study"

[dataset]
name = "digits"
train_per_class = {train_per_class}
val_per_class = {val_per_class}
seed = 3

[recipe]
arch = "{arch}"
epochs = {epochs}
batch_size = {batch_size}
lr = 0.05
lr_step = 2
save_train_decisions = true
{extra}
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Generated datasets go to a temporary cache; torch (if loaded) uses one thread."""
    monkeypatch.setenv("TRIVIAL_OR_IMPOSSIBLE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


@pytest.fixture
def study_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny digits study file; conditions default to three models."""

    def make(
        name: str = "tiny",
        conditions: str = '[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\nvary = {init_seed = [1, 2]}\n',
        arch: str = "mlp",
        epochs: int = 3,
        batch_size: int = 16,
        train_per_class: int = 8,
        val_per_class: int = 6,
        extra: str = "",
    ) -> Path:
        text = TINY_STUDY.format(
            name=name, arch=arch, epochs=epochs, batch_size=batch_size, train_per_class=train_per_class,
            val_per_class=val_per_class, extra=extra,
        )
        path = tmp_path / f"{name}.toml"
        path.write_text(text + "\n" + conditions)
        return path

    return make
