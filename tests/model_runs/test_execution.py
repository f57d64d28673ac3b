"""Execution defaults: precision and channels_last decided per device and recorded in run.json;
torch.compile gives the decisions of the eager model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labutil.errors import UserError
from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.train import Execution, resolve_execution

torch = pytest.importorskip("torch")
CPU = torch.device("cpu")


def test_cpu_defaults_are_fp32_without_channels_last() -> None:
    ex = resolve_execution(Execution(), CPU)
    assert (ex.precision, ex.channels_last, ex.amp) == ("fp32", False, False)
    assert resolve_execution(Execution(amp=True), CPU).precision == "bf16"
    assert resolve_execution(Execution(precision="bf16", channels_last=True), CPU).channels_last is True
    with pytest.raises(UserError, match="fp16 needs a CUDA device"):
        resolve_execution(Execution(precision="fp16"), CPU)
    with pytest.raises(UserError, match="--precision fp8: choose auto, fp32, bf16, fp16"):
        resolve_execution(Execution(precision="fp8"), CPU)


def test_cuda_defaults_bf16_where_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the decision rule (no GPU needed): bf16 without a GradScaler where the GPU has it, else fp32 (fp16 with --amp)."""
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    ex = resolve_execution(Execution(), cuda)
    assert (ex.precision, ex.channels_last) == ("bf16", True)
    assert resolve_execution(Execution(channels_last=False, precision="fp32"), cuda).channels_last is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_execution(Execution(), cuda).precision == "fp32"
    assert resolve_execution(Execution(amp=True), cuda).precision == "fp16"


def test_execution_recorded_and_bf16_trains_on_cpu(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=1, arch="small_cnn")))
    run_models(spec, tmp_path / "a" / "tiny", ["base"], Execution(device="cpu", threads=1, quiet=True, precision="bf16", channels_last=True))
    info = open_study(tmp_path / "a" / "tiny").run_info("base")
    assert info["status"] == "complete"
    assert {k: info["execution"][k] for k in ("precision", "channels_last", "amp", "compile")} == {
        "precision": "bf16", "channels_last": True, "amp": True, "compile": False}


@pytest.mark.slow
def test_compiled_model_stores_the_eager_decisions(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=2)))
    for name, compiled in (("eager", False), ("compiled", True)):
        out = run_models(spec, tmp_path / name / "tiny", ["base"], Execution(device="cpu", threads=1, quiet=True, compile=compiled))
        assert out[0].status == "complete", out[0].error
    eager, compiled = (open_study(tmp_path / n / "tiny") for n in ("eager", "compiled"))
    assert compiled.run_info("base")["execution"]["compile"] is True
    a, b = eager.epoch_decisions("base").prediction, compiled.epoch_decisions("base").prediction
    assert (a == b).mean() >= 0.98  # fused kernels may round differently; the models are the same
    la = [e["val_loss"] for e in eager.run_info("base")["epochs"]]
    lb = [e["val_loss"] for e in compiled.run_info("base")["epochs"]]
    np.testing.assert_allclose(la, lb, rtol=1e-3)
