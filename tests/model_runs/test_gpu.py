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


def test_cuda_defaults_recorded_and_compile(cuda: None, tmp_path: Path, study_file: Callable[..., Path]) -> None:
    """Default execution on CUDA: bf16 autocast without a GradScaler where supported, channels_last;
    the compiled model's decisions agree with the eager ones."""
    import torch

    from model_runs.store import open_study
    from model_runs.study_files import load_study

    spec = load_study(str(study_file(arch="small_cnn", epochs=2, conditions='[[conditions]]\nname = "base"\n')))
    _train(spec, tmp_path / "eager" / "tiny", device="cuda")
    _train(spec, tmp_path / "compiled" / "tiny", device="cuda", compile=True)
    eager, compiled = open_study(tmp_path / "eager" / "tiny"), open_study(tmp_path / "compiled" / "tiny")
    ex = eager.run_info("base")["execution"]
    assert ex["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp32") and ex["channels_last"] is True
    assert "GPU-" in eager.run_info("base")["device"] or "cuda" in eager.run_info("base")["device"]
    assert compiled.run_info("base")["execution"]["compile"] is True
    a, b = eager.epoch_decisions("base").prediction, compiled.epoch_decisions("base").prediction
    assert (a == b).mean() >= 0.9  # bf16 kernels of compiled and eager code round differently


def test_local_sweep_worker_sees_its_gpu(cuda: None, tmp_path: Path, study_file: Callable[..., Path]) -> None:
    """On a GPU machine each local worker trains on the GPU it was given (not on the CPU, as
    submitit's CUDA_VISIBLE_DEVICES="" would make it)."""
    import torch

    from model_runs.store import open_study
    from model_runs.study_files import load_study
    from model_runs.sweep import run_sweep
    from model_runs.train import Execution

    spec = load_study(str(study_file(arch="small_cnn", epochs=1)))
    gpus = ",".join(str(i) for i in range(torch.cuda.device_count()))
    out = run_sweep(spec, tmp_path / "runs" / "tiny", Execution(device="cuda", quiet=True), log_dir=str(tmp_path / "logs"), quiet=True,
                    gpus=gpus, workers_per_gpu=2)
    assert [o.status for o in out] == ["complete"] * len(out)
    study = open_study(tmp_path / "runs" / "tiny")
    for m in study.model_ids():
        info = study.run_info(m)
        assert info["device"].startswith("cuda:0") and info["worker"]["cuda_visible_devices"] in gpus.split(",")


def test_batched_jpeg_decoding_on_the_gpu(cuda: None, tmp_path: Path) -> None:
    """nvJPEG decoding of a batch on the device: the crops and flips of the CPU tensor path, pixels
    within a few grey levels (nvJPEG's IDCT and upsampling differ from libjpeg-turbo's)."""
    import torch
    from PIL import Image

    from model_runs.datasets import open_dataset
    from model_runs.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for split in ("train", "val"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(4):
                base = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((64, 48), Image.BICUBIC)
                base.save(tmp_path / split / c / f"{i}.jpg", quality=95)
    dataset = open_dataset({"name": "imagefolder", "root": str(tmp_path), "resize": 40, "crop": 32})
    recipe = {"aug_seed": 3, "augment": "random_resized_crop_flip", "augment_pad": 0}
    order = np.arange(8)
    cpu = [x for x, _, _ in make_pipeline(dataset, torch.device("cpu"), workers=0, decoder="tensor").train_batches(order, 8, recipe, 1)]
    gpu = [x for x, _, _ in make_pipeline(dataset, torch.device("cuda"), workers=0, decoder="batched").train_batches(order, 8, recipe, 1)]
    assert gpu[0].device.type == "cuda" and gpu[0].shape == cpu[0].shape == (8, 3, 32, 32)
    diff = (gpu[0].cpu() - cpu[0]).abs() * 58  # back to grey levels (std about 1/58 of 255)
    assert diff.mean() < 2.0
