"""The optional learning-dynamics store ([store] in a study file): per-epoch true-class probabilities
and margins of validation and training images, final-epoch activations; random labels; cosine
schedule; "+k epochs" models continued from the base model's checkpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labutil.errors import UserError
from model_runs.checkpoints import list_checkpoints, load_checkpoint
from model_runs.datasets import open_dataset
from model_runs.runner import run_models
from model_runs.store import ModelWriter, open_study
from model_runs.study_files import load_study
from model_runs.sweep import todo_models
from model_runs.train import Execution, prepare_study

EXEC = Execution(device="cpu", threads=1, quiet=True)
STORE = "[store]\nepoch_probabilities = true\ntrain_probabilities = true\nactivations = 20\nactivations_seed = 5\n\n"
TWO = STORE + '[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\ninit_seed = 1\n'


def test_dynamics_are_stored_and_agree_with_decisions_and_probabilities(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    import torch

    spec = load_study(str(study_file(conditions=TWO, epochs=2)))
    assert spec.definition()["store"] == {"epoch_probabilities": True, "train_probabilities": True, "activations": 20, "activations_seed": 5}
    run_models(spec, tmp_path / "tiny", ["base", "init"], EXEC)
    study = open_study(tmp_path / "tiny")
    labels = study.images["label"].to_numpy()
    train_true = open_dataset(spec.dataset).arrays("train")[1]
    subsets = []
    for model_id in ("base", "init"):
        d = study.epoch_decisions(model_id)
        prob, margin = study.epoch_probabilities(model_id), study.epoch_margins(model_id)
        assert prob.shape == margin.shape == (3, 60) and prob.dtype == margin.dtype == np.float16
        assert ((margin > 0) == d.correct).all()  # positive margin <=> top-1 correct (no ties at these sizes)
        final = study.probabilities(model_id)  # float32 (60, 10) of the final epoch
        p_true = final[np.arange(60), labels]
        other = np.where(np.eye(10, dtype=bool)[labels], -1.0, final).max(1)
        assert np.allclose(prob[-1], p_true, atol=1e-3) and np.allclose(margin[-1], p_true - other, atol=1e-3)
        tprob, tmargin = study.epoch_probabilities(model_id, "train"), study.epoch_margins(model_id, "train")
        assert tprob.shape == tmargin.shape == (3, 80)
        assert np.isnan(tprob[0]).all() and np.isfinite(tprob[1:]).all()  # epoch 0 has no training pass
        assert np.array_equal(study.train_labels(model_id), train_true)
        table = study.train_decisions_table(model_id)
        for epoch in (1, 2):
            rows = table[table["epoch"] == epoch].sort_values("sample_index")
            assert ((tmargin[epoch] > 0) == rows["correct"].to_numpy()).all()
        index, acts = study.activations(model_id)
        assert index.dtype == np.int64 and acts.dtype == np.float16 and acts.shape == (20, 64)
        assert len(set(index.tolist())) == 20 and index.min() >= 0 and index.max() < 60
        subsets.append(index)
        # independently: the final checkpoint's network up to its last linear layer, on those images
        from model_runs.models import create_model

        net = create_model("mlp", 10, in_channels=1, image_size=8)
        net.load_state_dict(load_checkpoint(list_checkpoints(study.model_dir(model_id))[2])["model"])
        net.eval()
        images = open_dataset(spec.dataset).arrays("val")[0][index]
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        ds = open_dataset(spec.dataset)
        x = (x / 255.0 - torch.tensor(ds.mean).view(1, -1, 1, 1)) / torch.tensor(ds.std).view(1, -1, 1, 1)
        with torch.no_grad():
            expected = net[:-1](x).numpy()
        assert np.allclose(acts.astype(np.float32), expected, atol=2e-2, rtol=1e-2)
    assert np.array_equal(subsets[0], subsets[1])  # the same images for every model of the study


def test_no_store_table_stores_nothing_extra(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=1)))
    assert "store" not in spec.definition() and "lr_schedule" not in spec.models[0]
    run_models(spec, tmp_path / "tiny", ["base"], EXEC)
    study = open_study(tmp_path / "tiny")
    assert study.epoch_probabilities("base") is None and study.epoch_margins("base", "train") is None
    assert study.activations("base") is None and study.train_labels("base") is None
    assert "store_options" not in study.run_info("base")
    assert sorted(p.name for p in study.model_dir("base").iterdir() if p.is_file() and not p.name.startswith(".")) == [
        "correct.bits", "prediction.int16", "probabilities.npy", "run.json", "train_decisions.parquet"]


def test_uncommitted_rows_are_invisible_and_dropped_on_restart(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions=TWO, epochs=1)))
    study, _ = prepare_study(spec, tmp_path / "tiny")
    opts = {"val_probabilities": True, "train_probabilities": False, "activations": 0, "activations_seed": 0, "n_train": 80}
    writer = ModelWriter(study, "base")
    writer.start({"config": {"x": 1}, "store_options": opts})
    row = np.linspace(0, 1, 60, dtype=np.float32)
    writer.commit_epoch(0, np.zeros(60, int), {}, dynamics={("val", "probability"): row, ("val", "margin"): -row})
    with open(writer.dir / "val_probability.f16", "ab") as f:  # a kill after the append, before run.json
        f.write(np.ones(60, np.float16).tobytes())
    assert study.epoch_probabilities("base").shape == (1, 60)
    assert np.array_equal(study.epoch_probabilities("base")[0], row.astype(np.float16))
    ModelWriter(study, "base").start({"config": {"x": 1}})
    assert (writer.dir / "val_probability.f16").stat().st_size == 60 * 2
    with pytest.raises(ValueError, match="ask for val"):
        ModelWriter(study, "base").commit_epoch(1, np.zeros(60, int), {})


def test_resume_of_a_pending_epoch_keeps_its_training_rows(tmp_path: Path, study_file: Callable[..., Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_study(str(study_file(conditions=STORE + '[[conditions]]\nname = "base"\n', epochs=3)))
    run_models(spec, tmp_path / "whole" / "tiny", ["base"], EXEC)
    original = ModelWriter.commit_epoch

    def killed_at_epoch_2(self: ModelWriter, epoch: int, *args: object, **kw: object) -> None:
        if epoch == 2:
            raise KeyboardInterrupt
        original(self, epoch, *args, **kw)

    monkeypatch.setattr(ModelWriter, "commit_epoch", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_models(spec, tmp_path / "cut" / "tiny", ["base"], EXEC)
    monkeypatch.setattr(ModelWriter, "commit_epoch", original)
    assert run_models(spec, tmp_path / "cut" / "tiny", ["base"], EXEC)[0].status == "complete"
    whole, cut = open_study(tmp_path / "whole" / "tiny"), open_study(tmp_path / "cut" / "tiny")
    for split in ("val", "train"):
        assert np.array_equal(cut.epoch_probabilities("base", split), whole.epoch_probabilities("base", split), equal_nan=True)
        assert np.array_equal(cut.epoch_margins("base", split), whole.epoch_margins("base", split), equal_nan=True)
    assert np.array_equal(cut.activations("base")[1], whole.activations("base")[1])


def test_random_labels_train_on_one_seeded_permutation(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    conditions = ('[store]\ntrain_probabilities = true\n\n[[conditions]]\nname = "base"\n\n'
                  '[[conditions]]\nname = "random-labels"\nrandom_labels = true\nrandom_labels_seed = 4\n')
    spec = load_study(str(study_file(conditions=conditions, epochs=2)))
    assert spec.model("random-labels")["random_labels"] is True and "random_labels" not in spec.model("base")
    run_models(spec, tmp_path / "tiny", ["base", "random-labels"], EXEC)
    study = open_study(tmp_path / "tiny")
    true = study.train_labels("base")
    shuffled = study.train_labels("random-labels")
    assert np.array_equal(true, open_dataset(spec.dataset).arrays("train")[1])
    assert np.array_equal(shuffled, true[np.random.default_rng(4).permutation(80)])
    info = study.run_info("random-labels")
    assert info["random_labels"] == {"seed": 4, "share_changed": pytest.approx(float(np.mean(shuffled != true)))}
    assert info["random_labels"]["share_changed"] > 0.5
    table = study.train_decisions_table("random-labels")
    rows = table[table["epoch"] == 2].sort_values("sample_index")
    assert np.array_equal(rows["correct"].to_numpy(), rows["prediction"].to_numpy() == shuffled)  # scored against the labels trained on
    margin = study.epoch_margins("random-labels", "train")[2]
    assert ((margin > 0) == rows["correct"].to_numpy()).all()


def test_cosine_schedule_with_warmup(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    conditions = '[[conditions]]\nname = "cos"\nlr_schedule = "cosine"\nwarmup_epochs = 1\n'
    spec = load_study(str(study_file(conditions=conditions, epochs=4)))
    run_models(spec, tmp_path / "tiny", ["cos"], EXEC)
    lrs = [e["lr"] for e in open_study(tmp_path / "tiny").run_info("cos")["epochs"][1:]]
    expected = [0.05] + [0.05 * 0.5 * (1 + math.cos(math.pi * i / 3)) for i in range(3)]
    assert lrs == pytest.approx(expected)


CONTINUED = STORE + ('[[conditions]]\nname = "base"\n\n'
                     '[[conditions]]\nname = "plus1"\nepochs = 5\ncontinue_from = "base"\n')
SCRATCH = STORE + '[[conditions]]\nname = "plus1"\nepochs = 5\n'


def test_continued_plus1_equals_from_scratch_bit_for_bit(tmp_path: Path, study_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    kw = {"epochs": 4, "arch": "small_cnn", "batch_size": 8, "train_per_class": 12, "val_per_class": 6}
    cont = load_study(str(study_file(name="cont", conditions=CONTINUED, **kw)))
    scratch = load_study(str(study_file(name="scratch", conditions=SCRATCH, **kw)))
    assert cont.model("plus1")["continue_from"] == "base"
    t0 = time.perf_counter()
    run_models(cont, tmp_path / "cont", ["base"], EXEC)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert run_models(cont, tmp_path / "cont", ["plus1"], EXEC)[0].status == "complete"
    t_continued = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_models(scratch, tmp_path / "scratch", ["plus1"], EXEC)
    t_scratch = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n+1 epoch after 4: continued {t_continued:.2f} s, from scratch {t_scratch:.2f} s "
              f"({t_scratch / t_continued:.1f}x; base alone {t_base:.2f} s)")
    a, b = open_study(tmp_path / "cont"), open_study(tmp_path / "scratch")
    assert a.run_info("plus1")["continued_from"] == {"model_id": "base", "epoch": 4}
    da, db = a.epoch_decisions("plus1"), b.epoch_decisions("plus1")
    assert da.epochs.tolist() == db.epochs.tolist() == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(da.prediction, db.prediction)
    for split in ("val", "train"):
        for read in ("epoch_probabilities", "epoch_margins"):
            assert np.array_equal(getattr(a, read)("plus1", split), getattr(b, read)("plus1", split), equal_nan=True)
    assert np.array_equal(a.activations("plus1")[1], b.activations("plus1")[1])
    assert np.array_equal(a.probabilities("plus1"), b.probabilities("plus1"))
    assert a.train_decisions_table("plus1").equals(b.train_decisions_table("plus1"))
    keys = ("val_loss", "val_accuracy", "train_loss", "train_accuracy", "lr")
    assert [{k: e.get(k) for k in keys} for e in a.run_info("plus1")["epochs"]] == [{k: e.get(k) for k in keys} for e in b.run_info("plus1")["epochs"]]
    assert t_continued < t_scratch


def test_continued_model_trains_its_source_first(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions=CONTINUED, epochs=2)))
    study, _ = prepare_study(spec, tmp_path / "tiny")
    assert todo_models(study, spec, ["plus1", "base"]) == ["base", "plus1"]
    assert [o.status for o in run_models(spec, tmp_path / "tiny", ["plus1"], EXEC)] == ["complete"]
    assert study.run_info("base")["status"] == "complete"
    assert study.run_info("plus1")["continued_from"] == {"model_id": "base", "epoch": 2}
    assert study.epoch_decisions("plus1").epochs.tolist() == [0, 1, 2, 3, 4, 5]


def test_continued_model_without_source_checkpoint_trains_from_scratch(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions=CONTINUED, epochs=2)))
    run_models(spec, tmp_path / "tiny", ["base"], EXEC)
    study = open_study(tmp_path / "tiny")
    for p in list_checkpoints(study.model_dir("base")).values():
        p.unlink()
    run_models(spec, tmp_path / "tiny", ["plus1"], EXEC)
    info = study.run_info("plus1")
    assert info["continued_from"] is None and "no checkpoint of its final epoch 2" in info["continue_note"]
    assert np.array_equal(study.epoch_decisions("plus1").prediction[:3], study.epoch_decisions("base").prediction)


@pytest.mark.parametrize(("conditions", "message"), [
    ('[[conditions]]\nname = "base"\nlr_schedule = "cosine"\n\n[[conditions]]\nname = "p"\nepochs = 5\nlr_schedule = "cosine"\ncontinue_from = "base"\n',
     "cosine"),
    ('[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "p"\nepochs = 5\nlr = 0.1\ncontinue_from = "base"\n', "differs in 'lr'"),
    ('[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "p"\nepochs = 2\ncontinue_from = "base"\n', "needs more epochs"),
    ('[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "p"\nepochs = 5\ncontinue_from = "nope"\n', "names no other condition"),
    ('[[conditions]]\nname = "base"\nvary = {init_seed = [1, 2]}\n\n[[conditions]]\nname = "p"\nepochs = 5\ncontinue_from = "base"\n', "exactly one"),
    ('[store]\nepoch_probability = true\n\n[[conditions]]\nname = "base"\n', "unknown key 'epoch_probability'"),
    ('[store]\nactivations = -1\n\n[[conditions]]\nname = "base"\n', "integer >= 0"),
    ('[[conditions]]\nname = "base"\nlr_schedule = "linear"\n', "'lr_schedule' = 'linear' is not allowed"),
    ('[[conditions]]\nname = "base"\nlr_schedule = "cosine"\nwarmup_epochs = 3\n', "leaves no epochs"),
])
def test_bad_conditions_are_one_line_errors(study_file: Callable[..., Path], conditions: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        load_study(str(study_file(conditions=conditions, epochs=3)))
    assert "\n" not in str(err.value)


def test_continuation_killed_while_copying_then_resumed(tmp_path: Path, study_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_study(str(study_file(conditions=CONTINUED, epochs=2)))
    run_models(spec, tmp_path / "tiny", ["base"], EXEC)
    original = ModelWriter.commit_epochs

    def killed(self: ModelWriter, *args: object, **kw: object) -> None:
        if self.model_id == "plus1":  # the source's checkpoint is copied, its epochs not yet committed
            raise KeyboardInterrupt
        original(self, *args, **kw)

    monkeypatch.setattr(ModelWriter, "commit_epochs", killed)
    with pytest.raises(KeyboardInterrupt):
        run_models(spec, tmp_path / "tiny", ["plus1"], EXEC)
    study = open_study(tmp_path / "tiny")
    assert study.committed_epochs("plus1") == [] and 2 in list_checkpoints(study.model_dir("plus1"))
    monkeypatch.setattr(ModelWriter, "commit_epochs", original)
    assert run_models(spec, tmp_path / "tiny", ["plus1"], EXEC)[0].status == "complete"
    scratch = load_study(str(study_file(name="scratch", conditions=SCRATCH, epochs=2)))
    run_models(scratch, tmp_path / "scratch", ["plus1"], EXEC)
    assert study.run_info("plus1")["continued_from"] == {"model_id": "base", "epoch": 2}
    assert np.array_equal(study.epoch_decisions("plus1").prediction, open_study(tmp_path / "scratch").epoch_decisions("plus1").prediction)
    assert np.array_equal(study.epoch_margins("plus1", "train"), open_study(tmp_path / "scratch").epoch_margins("plus1", "train"), equal_nan=True)


def test_step_schedule_with_warmup_counts_steps_after_the_warmup() -> None:
    from model_runs.conditions import lr_factor

    assert [lr_factor(i, "step", 10, 2, 3, 0.1) for i in range(8)] == pytest.approx([0.5, 1, 1, 1, 1, 0.1, 0.1, 0.1])
    assert [lr_factor(i, "step", 10, 0, 3, 0.1) for i in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01])
