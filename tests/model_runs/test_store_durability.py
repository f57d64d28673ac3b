"""The store's commit protocol, observed: the order of its writes, and what readers see after a kill
at each write (see tests/kill_points.py), through the public writer and reader only."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kill_points import killed_at

from labutil.errors import UserError
from model_runs.store import ModelWriter, create_study, open_study

LABELS = np.array([0, 1, 2, 0, 1, 2, 1, 0, 2, 1])
DEFINITION = {"name": "t", "dataset": {"name": "digits", "seed": 0}, "models": [{"model_id": "a", "condition": "base"}]}
V1 = Path(__file__).parent / "data" / "store_v1"
INFO = {"condition": "base", "config": {"seed": 1}}


def _study(path: Path):
    images = pd.DataFrame({"image_index": np.arange(len(LABELS)), "image_id": [f"val/{i}" for i in range(len(LABELS))],
                           "label": LABELS, "class_name": [f"c{x}" for x in LABELS]})
    return create_study(path, DEFINITION, images)


def _train(epoch: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training decisions of one epoch: 4 samples, predictions depending on epoch (and shift)."""
    idx = np.arange(4)
    pred = (idx + epoch + shift) % 3
    return idx, pred, pred == idx % 3


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync / fdatasync (name of the file or folder its descriptor points at) and replace (target)."""
    log: list[tuple[str, str]] = []
    real = {name: getattr(os, name) for name in ("fsync", "fdatasync", "replace")}

    def synced(kind: str):
        def fn(fd: int) -> None:
            log.append((kind, Path(os.readlink(f"/proc/self/fd/{fd}")).name))
            real[kind](fd)
        return fn

    def replace(src: str, dst: str) -> None:
        log.append(("replace", Path(dst).name))
        real["replace"](src, dst)

    monkeypatch.setattr(os, "fsync", synced("fsync"))
    monkeypatch.setattr(os, "fdatasync", synced("fdatasync"))
    monkeypatch.setattr(os, "replace", replace)
    return log


def test_an_epoch_is_durable_before_run_json_commits_it(tmp_path: Path, calls) -> None:
    """Both row files synced and the training part renamed into place before run.json is
    replaced; the folder is synced after that replace (it makes new files and commit durable together)."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    calls.clear()
    w.commit_epoch(0, LABELS.copy(), {"val_loss": 1.0}, train_decisions=_train(0))
    commit = calls.index(("replace", "run.json"))
    before = calls[:commit]
    assert ("fdatasync", "correct.bits") in before and ("fdatasync", "prediction.int16") in before
    assert ("replace", "train_decisions.epoch-0000.parquet") in before
    part_sync = [i for i, c in enumerate(before) if c[0] == "fsync" and c[1].startswith(".train_decisions.epoch-0000")]
    assert part_sync and part_sync[0] < before.index(("replace", "train_decisions.epoch-0000.parquet"))
    assert ("fsync", "a") in calls[commit + 1:]  # the model folder, after the commit


def test_training_decisions_of_an_uncommitted_epoch_are_invisible(tmp_path: Path) -> None:
    """A kill after epoch 1's training part was written but before run.json listed epoch 1."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    w.commit_epoch(0, LABELS.copy(), {}, train_decisions=_train(0))
    run_json = study.model_dir("a") / "run.json"
    committed = run_json.read_text()
    w.commit_epoch(1, LABELS.copy(), {}, train_decisions=_train(1))
    run_json.write_text(committed)  # run.json as it was before the kill
    reader = open_study(tmp_path / "s")
    assert reader.committed_epochs("a") == [0]
    table = reader.train_decisions_table("a")
    assert table["epoch"].tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(table["prediction"], _train(0)[1])
    # resumed: the uncommitted part goes, epoch 1 is trained again with other decisions
    w = ModelWriter(study, "a")
    w.start(INFO)
    assert open_study(tmp_path / "s").train_decisions_table("a")["epoch"].tolist() == [0, 0, 0, 0]
    w.commit_epoch(1, LABELS.copy(), {}, train_decisions=_train(1, shift=1))
    table = open_study(tmp_path / "s").train_decisions_table("a")
    np.testing.assert_array_equal(table.loc[table["epoch"] == 1, "prediction"], _train(1, shift=1)[1])


def test_a_kill_while_finishing_leaves_no_stale_consolidated_training_decisions(tmp_path: Path) -> None:
    """Killed at each write of finish() (after the consolidated file, before the final run.json),
    resumed, the last epoch trained again: readers and the finished run see the new decisions."""
    for at in range(1, 50):
        root = tmp_path / f"k{at}"
        study = _study(root)
        w = ModelWriter(study, "a")
        w.start(INFO)
        for e in (0, 1):
            w.commit_epoch(e, LABELS.copy(), {}, train_decisions=_train(e))
        if not killed_at(at, lambda w=w: w.finish()):
            break
        if open_study(root).run_info("a")["status"] == "complete":
            continue  # killed after the final commit: nothing to resume
        w = ModelWriter(open_study(root), "a")
        w.start(INFO)
        w.commit_epoch(1, LABELS.copy(), {}, train_decisions=_train(1, shift=2))
        expected = np.concatenate([_train(0)[1], _train(1, shift=2)[1]])
        np.testing.assert_array_equal(open_study(root).train_decisions_table("a")["prediction"], expected, err_msg=f"kill {at}")
        w.finish()
        np.testing.assert_array_equal(open_study(root).train_decisions_table("a")["prediction"], expected, err_msg=f"kill {at}")
    else:
        raise AssertionError("finish() never ran to its end")


def test_a_resumed_format_1_run_keeps_no_format_1_files_after_a_kill_at_any_write(tmp_path: Path) -> None:
    """start() of an unfinished format-1 run migrates it; killed at each write and started again,
    the run is format 2 with the same decisions and no Parquet decisions beside its row files."""
    expected = np.load(V1 / "expected_predictions.npy")[1, :2]
    info = {"condition": "base", "arch": "mlp", "config": {"seed": "going"}}
    for at in range(1, 50):
        root = tmp_path / f"k{at}"
        shutil.copytree(V1, root)
        finished = not killed_at(at, lambda root=root: ModelWriter(open_study(root), "going").start(info))
        ModelWriter(open_study(root), "going").start(info)
        study = open_study(root)
        assert study.format_version("going") == 2
        assert not list(study.model_dir("going").glob("decisions*.parquet")), f"kill {at}"
        np.testing.assert_array_equal(study.epoch_decisions("going").prediction, expected)
        if finished:
            break
    else:
        raise AssertionError("start() never ran to its end")


def test_a_complete_model_with_another_configuration_is_refused(tmp_path: Path) -> None:
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    w.commit_epoch(0, LABELS.copy(), {})
    w.finish()
    before = (study.model_dir("a") / "run.json").read_bytes()
    with pytest.raises(UserError, match="different configuration"):
        ModelWriter(study, "a").start({"condition": "base", "config": {"seed": 2}})
    assert (study.model_dir("a") / "run.json").read_bytes() == before
    again = ModelWriter(study, "a").start(INFO)  # the same configuration: returned as it is
    assert again["status"] == "complete" and json.loads(before)["epochs"] == again["epochs"]


def test_resume_removes_an_uncommitted_training_part_and_syncs_the_cut_rows(tmp_path: Path, calls) -> None:
    """A kill after epoch 1's rows and training part, before its commit; on resume the rows are cut
    back (and the cut fsynced) and the part goes, so an epoch 1 trained again without training
    decisions does not inherit the old ones."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    w.commit_epoch(0, LABELS.copy(), {}, train_decisions=_train(0))
    run_json = study.model_dir("a") / "run.json"
    committed = run_json.read_text()
    w.commit_epoch(1, LABELS.copy(), {}, train_decisions=_train(1))
    run_json.write_text(committed)
    calls.clear()
    w = ModelWriter(study, "a")
    w.start(INFO)
    assert ("fsync", "correct.bits") in calls and ("fsync", "prediction.int16") in calls
    assert not (study.model_dir("a") / "train_decisions.epoch-0001.parquet").exists()
    w.commit_epoch(1, LABELS.copy(), {})
    assert open_study(tmp_path / "s").train_decisions_table("a")["epoch"].tolist() == [0, 0, 0, 0]
