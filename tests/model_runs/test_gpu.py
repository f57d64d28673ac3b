"""The CUDA paths: training on the GPU with mixed precision and channels_last lands in the store, and
deterministic CUDA runs repeat exactly. Skipped where no CUDA device is present (CI, laptops)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


def _train(spec, folder: Path, **execution) -> None:  # noqa: ANN001
    from model_runs.runner import run_models
    from model_runs.train import Execution

    out = run_models(spec, folder, [m["model_id"] for m in spec.models], Execution(quiet=True, **execution))
    assert [o.status for o in out] == ["complete"] * len(out)


def test_cuda_amp_channels_last_store(cuda: None, tmp_path: Path, study_file: Callable[..., Path]) -> None:
    from model_runs.store import open_study
    from model_runs.study_files import load_study

    spec = load_study(str(study_file(arch="small_cnn", epochs=2)))
    _train(spec, tmp_path / "runs" / "tiny", device="cuda", amp=True, channels_last=True)
    study = open_study(tmp_path / "runs" / "tiny")
    labels = study.images["label"].to_numpy()
    for model_id in study.model_ids():
        info = study.run_info(model_id)
        assert info["device"].startswith("cuda") and info["status"] == "complete"
        e = study.epoch_decisions(model_id)
        assert e.epochs.tolist() == [0, 1, 2]
        assert np.array_equal(e.correct, e.prediction == labels[None, :])


def test_deterministic_cuda_runs_repeat(cuda: None, tmp_path: Path, study_file: Callable[..., Path]) -> None:
    from model_runs.store import open_study
    from model_runs.study_files import load_study

    spec = load_study(str(study_file(arch="small_cnn", epochs=2)))
    for name in ("a", "b"):
        _train(spec, tmp_path / name / "tiny", device="cuda")
    a = open_study(tmp_path / "a" / "tiny")
    b = open_study(tmp_path / "b" / "tiny")
    for model_id in a.model_ids():
        assert np.array_equal(a.epoch_decisions(model_id).prediction, b.epoch_decisions(model_id).prediction)
