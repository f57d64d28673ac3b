"""The command line: user errors are one line `error: ...` with exit status 2; list/status exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from labutil.errors import run_cli
from model_runs.cli import main
from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.train import Execution

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "nosuchstudy"], "unknown study 'nosuchstudy'"),
        (["train", "demo", "--model", "nope"], "study 'demo' has no model 'nope'"),
        (["train", "demo", "--device", "tpu"], "--device tpu: choose auto, cpu, cuda or cuda:N"),
        (["status", "/nonexistent/study"], "/nonexistent/study: not a study folder (no study.toml)"),
        (["resume", "/nonexistent/study"], "not a study folder"),
        (["evaluate"], "give an evaluation-only study, --checkpoint FILE or --weights FILE"),
        (["evaluate", "demo"], "study 'demo' trains models"),
        (["evaluate", "--weights", "w.pth"], "--weights needs --arch and --dataset"),
        (["evaluate", "--checkpoint", "/nonexistent.pt"], "/nonexistent.pt: checkpoint not found"),
        (["sweep", "demo", "--workers", "0"], "--workers must be at least 1"),
        (["sweep", "demo", "--executor", "cloud"], "argument --executor: invalid choice"),
        (["train"], "the following arguments are required: study"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_user_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_bad_study_file_names_file_and_key(capsys: pytest.CaptureFixture[str], study_file: Callable[..., Path]) -> None:
    path = study_file(extra="warmup = 5")
    code, _, err = _run(capsys, "train", str(path), "--runs-dir", str(path.parent / "runs"))
    assert code == 2 and err == f"error: {path} [recipe]: unknown key 'warmup' (known: " + err.split("(known: ", 1)[1]
    assert not (path.parent / "runs").exists()


def test_list_and_status(capsys: pytest.CaptureFixture[str], tmp_path: Path, study_file: Callable[..., Path]) -> None:
    code, out, _ = _run(capsys, "list")
    assert code == 0 and "resnet18_variants" in out and "gaussian" in out and "squeezenet1_1" in out
    spec = load_study(str(study_file(epochs=1)))
    run_models(spec, tmp_path / "runs" / "tiny", ["base"], Execution(device="cpu", threads=1, quiet=True))
    code, out, _ = _run(capsys, "status", str(tmp_path / "runs" / "tiny"))
    assert code == 0
    lines = out.splitlines()
    assert "3 models: 1 complete, 2 pending" in lines[0]
    base = next(l for l in lines if l.startswith("base "))
    acc = open_study(tmp_path / "runs" / "tiny").final_decisions(["base"]).correct.mean()
    assert "complete" in base and "1/1" in base and f"{acc:.4f}" in base
    assert "pending" in next(l for l in lines if l.startswith("init-1 "))


def test_main_module_prints_error_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "model_runs", "status", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {tmp_path}: not a study folder (no study.toml)\n"
    help_out = subprocess.run([sys.executable, "-m", "model_runs", "sweep", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert help_out.returncode == 0
    for option in ("--executor", "--workers", "--partition", "--time-limit", "--log-dir", "--python", "--runs-dir", "--amp", "--channels-last", "--quiet"):
        assert option in help_out.stdout
