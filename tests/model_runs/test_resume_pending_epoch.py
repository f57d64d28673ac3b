"""A run stopped after checkpoint e was written but before epoch e was committed resumes with epoch
e's training decisions (kept in the checkpoint) and stores what an uninterrupted run stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_runs.checkpoints import list_checkpoints, load_checkpoint
from model_runs.runner import run_models
from model_runs.store import ModelWriter, open_study
from model_runs.study_files import load_study
from model_runs.train import Execution

EXEC = Execution(device="cpu", threads=1, quiet=True)


def test_resume_from_checkpoint_of_uncommitted_epoch_keeps_its_train_decisions(tmp_path: Path, study_file: Callable[..., Path],
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=3)))  # save_train_decisions = true
    run_models(spec, tmp_path / "whole" / "tiny", ["base"], EXEC)
    original = ModelWriter.commit_epoch

    def killed_at_epoch_2(self: ModelWriter, epoch: int, *args: object, **kw: object) -> None:
        if epoch == 2:  # checkpoint 2 is on disk; the process dies before the epoch is committed
            raise KeyboardInterrupt
        original(self, epoch, *args, **kw)

    monkeypatch.setattr(ModelWriter, "commit_epoch", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_models(spec, tmp_path / "cut" / "tiny", ["base"], EXEC)
    monkeypatch.setattr(ModelWriter, "commit_epoch", original)
    cut = open_study(tmp_path / "cut" / "tiny")
    assert [e["epoch"] for e in cut.run_info("base")["epochs"]] == [0, 1]
    checkpoints = list_checkpoints(cut.model_dir("base"))
    assert max(checkpoints) == 2
    kept = load_checkpoint(checkpoints[2])["train_decisions"]
    assert sorted(kept["sample_index"].tolist()) == list(range(80))

    assert run_models(spec, tmp_path / "cut" / "tiny", ["base"], EXEC)[0].status == "complete"
    whole, cut = open_study(tmp_path / "whole" / "tiny"), open_study(tmp_path / "cut" / "tiny")
    resumed = cut.train_decisions_table("base")
    assert sorted(resumed["epoch"].unique()) == [1, 2, 3]
    assert resumed.equals(whole.train_decisions_table("base"))
    assert np.array_equal(cut.epoch_decisions("base").prediction, whole.epoch_decisions("base").prediction)
