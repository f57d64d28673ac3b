"""The decisions store: committed epochs only, dense arrays, refusal of foreign studies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labutil.errors import UserError
from model_runs.store import ModelWriter, create_study, dumps_toml, open_study

LABELS = np.array([0, 1, 2, 0, 1, 2])
DEFINITION = {"name": "t", "dataset": {"name": "digits", "seed": 0}, "models": [{"model_id": "a", "condition": "base"}]}


def _images(labels: np.ndarray = LABELS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_index": np.arange(len(labels)),
            "image_id": [f"val/{i}" for i in range(len(labels))],
            "label": labels,
            "class_name": [f"c{l}" for l in labels],
        }
    )


def _write_model(study, model_id: str, preds: list[list[int]], finish: bool = True) -> None:
    w = ModelWriter(study, model_id)
    w.start({"condition": "base", "config": {"seed": model_id}})
    for epoch, p in enumerate(preds):
        w.commit_epoch(epoch, np.array(p), {"val_loss": 1.0 / (epoch + 1)})
    if finish:
        w.finish()


def test_final_and_epoch_decisions(tmp_path: Path) -> None:
    study = create_study(tmp_path / "s", DEFINITION, _images())
    _write_model(study, "a", [[0, 0, 0, 0, 0, 0], [0, 1, 2, 1, 1, 0]])
    _write_model(study, "b", [[1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 2]], finish=False)
    study = open_study(tmp_path / "s")
    assert study.model_ids() == ["a", "b"]
    assert study.model_ids(status="complete") == ["a"]
    with pytest.raises(UserError, match="model is running, not complete"):
        study.final_decisions(["a", "b"])
    m = study.final_decisions(["a", "b"], epoch=1)
    assert m.correct.dtype == bool and m.correct.shape == (2, 6)
    np.testing.assert_array_equal(m.correct[0], [True, True, True, False, True, False])
    np.testing.assert_array_equal(m.correct[1], [True, True, False, True, False, True])
    e = study.epoch_decisions("a")
    np.testing.assert_array_equal(e.epochs, [0, 1])
    np.testing.assert_array_equal(e.correct, e.prediction == LABELS[None, :])
    assert study.run_info("a")["epochs"][1]["val_accuracy"] == pytest.approx(4 / 6)
    # format 2: one row per committed epoch, packed correctness bits and int16 predictions, nothing else
    for m in ("a", "b"):
        assert (study.model_dir(m) / "correct.bits").stat().st_size == 2 * 1  # ceil(6 / 8) bytes per epoch
        assert (study.model_dir(m) / "prediction.int16").stat().st_size == 2 * 6 * 2
        assert not list(study.model_dir(m).glob("*.parquet"))
    assert e.prediction.dtype == np.int16


def test_uncommitted_epoch_is_invisible_and_dropped_on_resume(tmp_path: Path) -> None:
    study = create_study(tmp_path / "s", DEFINITION, _images())
    _write_model(study, "a", [[0, 1, 2, 0, 1, 2]], finish=False)
    # simulate a kill after the epoch file was written but before run.json listed it
    info = json.loads((study.model_dir("a") / "run.json").read_text())
    w = ModelWriter(study, "a")
    w.commit_epoch(1, np.zeros(6, dtype=int), {})
    (study.model_dir("a") / "run.json").write_text(json.dumps(info))
    assert study.committed_epochs("a") == [0]
    assert study.epoch_decisions("a").correct.shape == (1, 6)
    assert (study.model_dir("a") / "correct.bits").stat().st_size == 2  # the uncommitted row is on disk
    ModelWriter(study, "a").start({"condition": "base", "config": {"seed": "a"}})
    assert (study.model_dir("a") / "correct.bits").stat().st_size == 1  # and cut at resume
    assert (study.model_dir("a") / "prediction.int16").stat().st_size == 12
    w = ModelWriter(study, "a")
    w.commit_epoch(1, np.array([0, 1, 2, 2, 2, 2]), {})
    np.testing.assert_array_equal(study.epoch_decisions("a").prediction, [[0, 1, 2, 0, 1, 2], [0, 1, 2, 2, 2, 2]])


def test_refuses_other_study_and_other_config(tmp_path: Path) -> None:
    create_study(tmp_path / "s", DEFINITION, _images())
    with pytest.raises(UserError, match="different study definition"):
        create_study(tmp_path / "s", {**DEFINITION, "name": "other"}, _images())
    with pytest.raises(UserError, match="different validation image list"):
        create_study(tmp_path / "s", DEFINITION, _images(LABELS[::-1].copy()))
    study = open_study(tmp_path / "s")
    _write_model(study, "a", [[0, 1, 2, 0, 1, 2]], finish=False)
    with pytest.raises(UserError, match="different configuration"):
        ModelWriter(study, "a").start({"condition": "base", "config": {"seed": "other"}})


def test_open_missing_study_is_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a study folder"):
        open_study(tmp_path)
    study = create_study(tmp_path / "s", DEFINITION, _images())
    with pytest.raises(UserError, match="no complete models"):
        study.final_decisions()


def test_dumps_toml_round_trip() -> None:
    import tomllib

    data = {"name": "x", "n": 3, "lr": 0.15, "flag": True, "tags": ["a", "b"], "dataset": {"name": "digits", "val_fraction": 0.5},
            "models": [{"model_id": "m-1", "seeds": {"init": 1, "order": 2}}, {"model_id": "m-2"}]}
    assert tomllib.loads(dumps_toml(data)) == data


def test_recommitted_epoch_replaces_its_row(tmp_path: Path) -> None:
    study = create_study(tmp_path / "s", DEFINITION, _images())
    _write_model(study, "a", [[0, 1, 2, 0, 1, 2], [0, 0, 0, 0, 0, 0]], finish=False)
    w = ModelWriter(study, "a")
    w.commit_epoch(1, np.array([1, 1, 1, 1, 1, 1]), {"val_loss": 9.0})
    e = open_study(study.path).epoch_decisions("a")
    np.testing.assert_array_equal(e.epochs, [0, 1])
    np.testing.assert_array_equal(e.prediction, [[0, 1, 2, 0, 1, 2], [1, 1, 1, 1, 1, 1]])
    assert study.run_info("a")["epochs"][1]["val_loss"] == 9.0
    assert (study.model_dir("a") / "correct.bits").stat().st_size == 2


def test_bits_cross_byte_boundaries(tmp_path: Path) -> None:
    labels = np.arange(19) % 3
    study = create_study(tmp_path / "s", DEFINITION, _images(labels))
    rng = np.random.default_rng(1)
    preds = rng.integers(0, 3, size=(4, 19))
    _write_model(study, "a", preds.tolist())
    _write_model(study, "b", preds[::-1].tolist())
    assert (study.model_dir("a") / "correct.bits").stat().st_size == 4 * 3
    m = open_study(study.path).final_decisions()
    np.testing.assert_array_equal(m.correct, np.stack([preds[-1], preds[0]]) == labels)
    np.testing.assert_array_equal(open_study(study.path).final_decisions(epoch=2).correct, np.stack([preds[2], preds[1]]) == labels)
    np.testing.assert_array_equal(open_study(study.path).epoch_decisions("b").correct, preds[::-1] == labels)


def test_prediction_outside_int16_is_refused(tmp_path: Path) -> None:
    study = create_study(tmp_path / "s", DEFINITION, _images())
    w = ModelWriter(study, "a")
    w.start({"condition": "base", "config": {}})
    with pytest.raises(ValueError, match="int16"):
        w.commit_epoch(0, np.array([0, 1, 2, 0, 1, 40000]), {})
    assert study.committed_epochs("a") == []


def test_run_json_read_once_per_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = create_study(tmp_path / "s", DEFINITION, _images())
    for m in ("a", "b", "c"):
        _write_model(study, m, [[0, 1, 2, 0, 1, 2], [0, 0, 0, 0, 0, 0]])
    import model_runs.store as store

    reads: list[Path] = []
    real = store.parse_run_json
    monkeypatch.setattr(store, "parse_run_json", lambda path, data: reads.append(Path(path)) or real(path, data))
    fresh = open_study(study.path)
    fresh.final_decisions()
    fresh.epoch_decisions("a")
    fresh.run_info("b")["status"] = "changed"  # a copy: the cache is not touched
    assert sorted(p.parent.name for p in reads) == ["a", "b", "c"]
    assert fresh.run_info("b")["status"] == "complete"
    _write_model(study, "d", [[0, 1, 2, 0, 1, 2]])
    ModelWriter(study, "a").update(note="x")  # a rewritten run.json is parsed again
    assert fresh.run_info("a")["note"] == "x"
    before = (study.model_dir("b") / "run.json").stat()
    raw = (study.model_dir("b") / "run.json").read_text()
    (study.model_dir("b") / "run.json").write_text(raw.replace('"complete"', '"failed__"'))  # same size, maybe same mtime
    assert (study.model_dir("b") / "run.json").stat().st_size == before.st_size
    assert fresh.run_info("b")["status"] == "failed__"
    (study.model_dir("b") / "run.json").write_text(raw)
    assert fresh.final_decisions().model_ids == ["a", "b", "c", "d"]
