"""One writer per model: a model whose lock another live process holds is refused or skipped, untouched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from labutil.errors import UserError
from model_runs.cli import main
from model_runs.runner import run_models
from model_runs.store import ModelWriter, open_study
from model_runs.study_files import load_study
from model_runs.sweep import todo_models
from model_runs.train import Execution

EXEC = Execution(device="cpu", threads=1, quiet=True)
ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys
from pathlib import Path
from model_runs.model_lock import model_lock
with model_lock(sys.argv[1], Path(sys.argv[2])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held_by_other_process(model_dir: Path) -> Iterator[subprocess.Popen]:
    """A child process holding the model's lock (as a live trainer would) until the block ends."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, model_dir.name, str(model_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)  # the lock dies with the process
        proc.wait()


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _interrupted(tmp_path: Path, study_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> tuple[object, Path]:
    """A model 'base' stopped (as if killed) after committing epochs 0 and 1 of 3, with checkpoint 2 written."""
    spec = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n[[conditions]]\nname = "other"\n', epochs=3)))
    original = ModelWriter.commit_epoch

    def commit(self: ModelWriter, epoch: int, *args: object, **kw: object) -> None:
        if epoch == 2:
            raise KeyboardInterrupt
        original(self, epoch, *args, **kw)

    monkeypatch.setattr(ModelWriter, "commit_epoch", commit)
    with pytest.raises(KeyboardInterrupt):
        run_models(spec, tmp_path / "runs" / "tiny", ["base"], EXEC)
    monkeypatch.setattr(ModelWriter, "commit_epoch", original)
    return spec, tmp_path / "runs" / "tiny"


def test_model_trained_by_another_process_is_refused_and_untouched(tmp_path: Path, study_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec, study_dir = _interrupted(tmp_path, study_file, monkeypatch)
    model_dir = study_dir / "models" / "base"
    assert [e["epoch"] for e in open_study(study_dir).run_info("base")["epochs"]] == [0, 1]
    before = _snapshot(model_dir)
    with held_by_other_process(model_dir) as holder:
        # train / resume of that one model: a one-line error naming the process
        with pytest.raises(UserError, match=rf"model 'base' is busy: process pid {holder.pid} on \S+ is training it"):
            run_models(spec, study_dir, ["base"], EXEC, stop_on_error=True)
        with pytest.raises(UserError, match=rf"pid {holder.pid}"):
            main(["resume", str(study_dir), "--model", "base", "--device", "cpu", "--threads", "1", "--quiet"])
        # several models: the busy one is skipped, the others train
        outcomes = run_models(spec, study_dir, ["base", "other"], EXEC)
        assert [(o.model_id, o.status) for o in outcomes] == [("base", "busy"), ("other", "complete")]
        assert f"pid {holder.pid}" in outcomes[0].error
        # a sweep does not hand it out
        capsys.readouterr()
        assert todo_models(open_study(study_dir), spec, None) == []
        assert f"skipping model 'base' is busy: process pid {holder.pid}" in capsys.readouterr().out
        assert _snapshot(model_dir) == before
    # once that process is gone (killed), resume finishes the model
    assert todo_models(open_study(study_dir), spec, None) == ["base"]
    assert [o.status for o in run_models(spec, study_dir, ["base"], EXEC, stop_on_error=True)] == ["complete"]
    info = open_study(study_dir).run_info("base")
    assert [e["epoch"] for e in info["epochs"]] == [0, 1, 2, 3] and info["attempts"] == 2
