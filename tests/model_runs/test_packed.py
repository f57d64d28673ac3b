"""Packed training (model_runs.packed): the same store entries as the one-model path, bit for bit on CPU."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_runs.packed import (
    PACK_BASE,
    PACK_PER_MODEL,
    PACKED,
    PER_CHANNEL,
    plan_units,
    run_unit,
    sweep_makespan,
    unit_cost,
    unsupported_layers,
    why_not_packable,
)
from model_runs.runner import run_one
from model_runs.store import Study, open_study
from model_runs.study_files import StudySpec, load_study
from model_runs.train import Execution, prepare_study, set_stop_check
from tests.kill_points import killed_at

CPU = Execution(device="cpu", threads=1, quiet=True)

# demo-like: small CNNs on noisy digits, the conditions that differ in seeds, learning rate or optimiser
CONDITIONS = """
[[conditions]]
name = "base"

[[conditions]]
name = "nesterov"
nesterov = true

[[conditions]]
name = "init"
vary = { init_seed = [1, 2] }

[[conditions]]
name = "lr"
vary = { lr = [0.074, 0.076] }

[[conditions]]
name = "data-order"
vary = { data_seed = [1, 2] }

[[conditions]]
name = "wd"
weight_decay = 0.001
momentum = 0.5
"""
MODELS = ["base", "nesterov", "init-1", "init-2", "lr-0.074", "lr-0.076", "data-order-1", "data-order-2", "wd"]
# run.json fields that legitimately differ between two runs of the same model
VOLATILE = {"created", "updated", "finished", "worker", "timings", "execution", "versions"}
EPOCH_VOLATILE = {"train_time_s", "eval_time_s"}


def _demo_like(study_file: Callable[..., Path], epochs: int = 3, arch: str = "small_cnn", extra: str = "", store: str = "") -> StudySpec:
    return load_study(str(study_file(conditions=store + CONDITIONS, arch=arch, epochs=epochs, batch_size=16, train_per_class=10, val_per_class=8,
                                     extra='model_options = { width = 8 }\naugment = "shift_flip"\n' + extra)))


def _unpacked(spec: StudySpec, path: Path, ids: list[str]) -> Study:
    study, dataset = prepare_study(spec, path)
    for model_id in ids:
        assert run_one(spec, study, dataset, model_id, CPU, stop_on_error=True).status == "complete"
    return study


def _packed(spec: StudySpec, path: Path, ids: list[str]) -> Study:
    study, dataset = prepare_study(spec, path)
    outcomes = run_unit(spec, study, dataset, ids, CPU)
    assert [(o.model_id, o.status) for o in outcomes] == [(m, "complete") for m in ids], outcomes
    return study


def _assert_same_entry(a: Study, b: Study, model_id: str, resumed: bool = False) -> None:
    """Decisions, probabilities, training decisions and run.json of a model equal in two stores
    (`resumed`: b's run may have taken several attempts)."""
    da, db = a.epoch_decisions(model_id), b.epoch_decisions(model_id)
    assert np.array_equal(da.epochs, db.epochs)
    assert np.array_equal(da.prediction, db.prediction), f"{model_id}: predictions differ"
    assert np.array_equal(da.correct, db.correct)
    pa, pb = a.probabilities(model_id), b.probabilities(model_id)
    assert pa is not None and pb is not None and np.array_equal(pa, pb), f"{model_id}: probabilities differ"
    ta, tb = a.train_decisions_table(model_id), b.train_decisions_table(model_id)
    assert ta is not None and tb is not None and ta.equals(tb), f"{model_id}: training decisions differ"
    _assert_same_dynamics(a, b, model_id)
    ia, ib = a.run_info(model_id), b.run_info(model_id)
    assert set(ia) | {"execution"} == set(ib) | {"execution"}
    skip = VOLATILE | {"epochs"} | ({"attempts"} if resumed else set())
    assert {k: v for k, v in ia.items() if k not in skip} == {k: v for k, v in ib.items() if k not in skip}
    strip = [[{k: v for k, v in e.items() if k not in EPOCH_VOLATILE} for e in info["epochs"]] for info in (ia, ib)]
    assert strip[0] == strip[1], f"{model_id}: per-epoch metrics differ"
    assert {k: v for k, v in ia["execution"].items()} == {k: v for k, v in ib["execution"].items() if k != "packed"}


def _assert_same_dynamics(a: Study, b: Study, model_id: str) -> None:
    """The learning-dynamics files of a model ([store] options) equal in two stores, or absent in both."""
    for split in ("val", "train"):
        for read in (Study.epoch_probabilities, Study.epoch_margins):
            ra, rb = read(a, model_id, split), read(b, model_id, split)
            assert (ra is None) == (rb is None), f"{model_id}: {read.__name__}({split}) stored one way only"
            if ra is not None:
                assert ra.dtype == rb.dtype and np.array_equal(ra, rb, equal_nan=True), f"{model_id}: {read.__name__}({split}) differ"
    la, lb = a.train_labels(model_id), b.train_labels(model_id)
    assert (la is None) == (lb is None) and (la is None or np.array_equal(la, lb)), f"{model_id}: training labels differ"
    aa, ab = a.activations(model_id), b.activations(model_id)
    assert (aa is None) == (ab is None), f"{model_id}: activations stored one way only"
    if aa is not None:
        assert np.array_equal(aa[0], ab[0]) and np.array_equal(aa[1], ab[1]), f"{model_id}: activations differ"


# the [store] options and the recipe keys of issue 14 that the packed loop supports
STORE = """
[store]
epoch_probabilities = true
train_probabilities = true
activations = 20
activations_seed = 3
"""
RECIPE_CONDITIONS = """
[[conditions]]
name = "random-labels"
random_labels = true
random_labels_seed = 5

[[conditions]]
name = "cosine"
lr_schedule = "cosine"
warmup_epochs = 1

[[conditions]]
name = "cyclic"
lr_schedule = "cyclic"
lr_peak_epoch = 1

[[conditions]]
name = "smoothing"
label_smoothing = 0.1
"""
DYNAMICS_MODELS = ["base", "init-1", "random-labels", "cosine", "cyclic", "smoothing"]


def test_packed_models_store_the_learning_dynamics_and_new_recipes_exactly(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    """With the [store] options on (per-epoch validation and training probabilities and margins,
    training labels, final activations), and conditions with random labels, cosine and cyclic
    schedules, warm-up and label smoothing, a packed group stores what the one-model runs store."""
    conditions = STORE + '[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\nvary = { init_seed = [1] }\n' + RECIPE_CONDITIONS
    spec = load_study(str(study_file(conditions=conditions, arch="small_cnn", epochs=3, batch_size=16, train_per_class=10, val_per_class=8,
                                     extra='model_options = { width = 8 }\naugment = "shift_flip"\n')))
    assert plan_units(spec, DYNAMICS_MODELS, CPU) == [DYNAMICS_MODELS]
    a = _unpacked(spec, tmp_path / "a", DYNAMICS_MODELS)
    b = _packed(spec, tmp_path / "b", DYNAMICS_MODELS)
    for model_id in DYNAMICS_MODELS:
        _assert_same_entry(a, b, model_id)
        assert b.run_info(model_id)["execution"]["packed"]["size"] == len(DYNAMICS_MODELS)
        probs = b.epoch_probabilities(model_id, "train")
        assert probs is not None and probs.shape == (4, 100) and np.isnan(probs[0]).all() and not np.isnan(probs[1:]).any()
        assert b.activations(model_id) is not None and b.epoch_probabilities(model_id) is not None
    labels = b.train_labels("random-labels")
    assert labels is not None and not np.array_equal(labels, b.train_labels("base"))
    lrs = {m: [e["lr"] for e in b.run_info(m)["epochs"][1:]] for m in ("base", "cosine", "cyclic")}
    assert len({tuple(v) for v in lrs.values()}) == 3  # the schedules really differ
    finals = {m: a.epoch_decisions(m).prediction[-1].tobytes() for m in DYNAMICS_MODELS}
    assert len(set(finals.values())) == len(DYNAMICS_MODELS)


def test_packed_models_store_exactly_what_unpacked_runs_store(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = _demo_like(study_file)
    assert plan_units(spec, MODELS, CPU) == [MODELS]
    a = _unpacked(spec, tmp_path / "a", MODELS)
    b = _packed(spec, tmp_path / "b", MODELS)
    for model_id in MODELS:
        _assert_same_entry(a, b, model_id)
        packed = b.run_info(model_id)["execution"]["packed"]
        assert packed == {"size": len(MODELS), "models": MODELS}
        assert "packed" not in a.run_info(model_id)["execution"]
    # the models really differ from each other (packing did not make them one model)
    finals = {m: a.epoch_decisions(m).prediction[-1].tobytes() for m in MODELS}
    assert len(set(finals.values())) == len(MODELS)


@pytest.mark.parametrize("arch,extra", [("mlp", "model_options = { width = 16 }\n"), ("small_resnet", "model_options = { width = 8, blocks = 1 }\n")])
def test_other_architectures_pack_bit_for_bit(tmp_path: Path, study_file: Callable[..., Path], arch: str, extra: str) -> None:
    """An MLP (flatten + linear layers) and a small ResNet (residual blocks, strided 1x1 shortcuts)."""
    spec = load_study(str(study_file(conditions=CONDITIONS, arch=arch, epochs=2, batch_size=16, train_per_class=10, val_per_class=8, extra=extra)))
    ids = ["base", "nesterov", "init-1", "data-order-1"]
    assert plan_units(spec, ids, CPU) == [ids]
    a = _unpacked(spec, tmp_path / "a", ids)
    b = _packed(spec, tmp_path / "b", ids)
    for model_id in ids:
        _assert_same_entry(a, b, model_id)


def test_demo_groups_its_same_architecture_conditions() -> None:
    spec = load_study("demo")
    assert spec.store  # the demo stores the learning-dynamics arrays, and packs all the same
    ids = [m["model_id"] for m in spec.models]
    units = plan_units(spec, ids, CPU)
    assert sorted(m for u in units for m in u) == sorted(ids)
    big = [u for u in units if len(u) > 2]
    assert big == [["base", "nesterov", "init-1", "init-2", "init-3", "lr-0.074", "lr-0.075", "lr-0.076", "data-order-1", "data-order-2", "data-order-3"]]
    for alone, reason in [("half-batch", "batch_split"), ("nondeterministic-1", "deterministic = false"), ("mlp", None), ("plus1-epoch", "continue_from (continues another model's checkpoint)")]:
        assert [alone] in units
        assert why_not_packable(spec.model(alone), spec.dataset, CPU) == reason
    assert plan_units(spec, ids, CPU, pack="off") == [[m] for m in ids]
    assert [len(u) for u in plan_units(spec, big[0], CPU, max_size=4)] == [4, 4, 3]


def test_units_balance_over_the_workers() -> None:
    """Groups are split where that shortens the estimated sweep on the workers; units are queued
    longest first and the models that continue another last (no worker waits for a queued source)."""
    spec = load_study("demo")
    ids = [m["model_id"] for m in spec.models]
    group = ["base", "nesterov", "init-1", "init-2", "init-3", "lr-0.074", "lr-0.075", "lr-0.076", "data-order-1", "data-order-2", "data-order-3"]
    assert unit_cost(spec, ["base"]) == 11  # 10 epochs and epoch 0's evaluation
    assert unit_cost(spec, ["plus1-epoch"]) == 2  # continues base: 1 epoch
    assert unit_cost(spec, group) == pytest.approx(11 * (PACK_BASE + PACK_PER_MODEL * 11))
    assert sweep_makespan(spec, [["base"], ["plus1-epoch"]], 2) == 13  # plus1 waits for base on the other worker
    assert sweep_makespan(spec, [["base"], ["nesterov"]], 2) == 11
    assert sweep_makespan(spec, [["base"], ["nesterov"], ["mlp"]], 2) == 22
    for workers in (1, 2, 3, 4, 8):
        units = plan_units(spec, ids, CPU, workers=workers)
        assert sorted(m for u in units for m in u) == sorted(ids)
        assert units[-2:] == [["plus1-epoch"], ["plus10-epochs"]]
        costs = [unit_cost(spec, u) for u in units[:-2]]
        assert costs == sorted(costs, reverse=True)
        parts = [u for u in units if set(u) <= set(group)]
        assert [m for u in parts for m in u] == group  # the group's models in consecutive parts, study order
        whole = sorted(plan_units(spec, ids, CPU), key=lambda u: ids.index(u[0]))  # one group, study order (the earlier plan)
        assert sweep_makespan(spec, units, workers) <= sweep_makespan(spec, whole, workers)
    assert [len(u) for u in plan_units(spec, ids, CPU, workers=1) if set(u) <= set(group)] == [11]
    # 2 workers: the 11-model group on one worker would take as long as the other 11 models on the other
    assert [len(u) for u in plan_units(spec, ids, CPU, workers=2) if set(u) <= set(group)] == [6, 5]
    split = [len(u) for u in plan_units(spec, ids, CPU, workers=4) if set(u) <= set(group)]
    assert len(split) > 1 and max(split) - min(split) <= 1
    assert plan_units(spec, ids, CPU, pack="off", workers=4) == [[m] for m in ids]


def test_what_is_not_packed(study_file: Callable[..., Path]) -> None:
    spec = _demo_like(study_file)
    entry = spec.model("base")
    digits = spec.dataset
    assert why_not_packable(entry, digits, CPU) is None
    assert "does not know: save_epoch_activations" in str(why_not_packable({**entry, "save_epoch_activations": True}, digits, CPU))
    assert "image files" in str(why_not_packable(entry, {"name": "imagenet"}, CPU))
    assert why_not_packable(entry, digits, Execution(compile=True)) == "--compile"
    assert why_not_packable(entry, digits, Execution(precision="fp16")) == "fp16 (GradScaler)"
    assert why_not_packable({**entry, "weights": "w.pth"}, digits, CPU) == "pretrained weights"
    assert "zoo" in str(why_not_packable({**entry, "arch": "zoo:bagnet33"}, digits, CPU))
    assert "Dropout" in str(why_not_packable({**entry, "arch": "mlp", "model_options": {"dropout": 0.5}}, digits, CPU))
    assert why_not_packable({**entry, "arch": "mlp", "model_options": {"dropout": 0.0}}, digits, CPU) is None
    assert why_not_packable({**entry, "epochs": 0}, digits, CPU) == "evaluation only (epochs = 0)"
    # on the CPU only tiny images are packed (larger ones train faster alone); a GPU packs them
    gaussian = {"name": "gaussian", "image_size": 32}
    assert "3072 values" in str(why_not_packable(entry, gaussian, CPU))
    assert why_not_packable(entry, {"name": "gaussian", "image_size": 8}, CPU) is None
    assert why_not_packable(entry, gaussian, Execution(device="cuda")) is None


def test_unsupported_layers_are_named() -> None:
    import torch

    assert unsupported_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())) == ""
    assert unsupported_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GELU(), torch.nn.LayerNorm(4))) == "GELU, LayerNorm"
    assert unsupported_layers(torch.nn.Conv2d(3, 4, 3, padding_mode="reflect")) == "Conv2d(padding_mode)"
    assert set(PACKED) & set(PER_CHANNEL) == set()


@pytest.mark.parametrize("store", ["", STORE], ids=["plain", "store-options"])
def test_stopped_group_resumes_to_the_same_decisions(tmp_path: Path, study_file: Callable[..., Path], store: str) -> None:
    """A group stopped after a committed epoch leaves running (not complete) models; running it again
    finishes them with the uninterrupted decisions (and learning-dynamics rows). A member that is
    further along trains alone."""
    spec = _demo_like(study_file, epochs=3, store=store)
    ids = ["base", "nesterov", "init-1"]
    ref = _unpacked(spec, tmp_path / "ref", ids)
    study, dataset = prepare_study(spec, tmp_path / "b")
    from model_runs.train import StopRequested

    calls = []
    set_stop_check(lambda: "test stop" if calls.append(1) or len(calls) == 1 else None)
    try:
        with pytest.raises(StopRequested):
            run_unit(spec, study, dataset, ids, CPU)
        assert [study.run_info(m)["status"] for m in ids] == ["running"] * 3
        assert [study.committed_epochs(m) for m in ids] == [[0, 1]] * 3
        calls.clear()
        with pytest.raises(StopRequested):  # init-1 alone one epoch further: it cannot join the others
            run_one(spec, study, dataset, "init-1", CPU)
    finally:
        set_stop_check(None)
    assert study.committed_epochs("init-1") == [0, 1, 2]
    outcomes = run_unit(spec, study, dataset, ids, CPU)
    assert [(o.model_id, o.status) for o in outcomes] == [(m, "complete") for m in ids]
    assert study.run_info("base")["execution"]["packed"]["models"] == ["base", "nesterov"]
    assert "packed" not in study.run_info("init-1")["execution"]
    for model_id in ids:
        _assert_same_entry(ref, study, model_id, resumed=True)


@pytest.mark.slow
@pytest.mark.parametrize("store", ["", STORE], ids=["plain", "store-options"])
def test_packed_group_killed_at_every_write_resumes_cleanly(tmp_path: Path, study_file: Callable[..., Path], store: str) -> None:
    """Killed before each of its writes in turn (checkpoints, epoch files, learning-dynamics files,
    run.json), a packed group run again never shows a half-written model as complete and ends with
    the uninterrupted decisions."""
    spec = _demo_like(study_file, epochs=2, store=store)
    ids = ["base", "lr-0.074"]
    ref = _unpacked(spec, tmp_path / "ref", ids)
    path = tmp_path / "b"
    prepare_study(spec, path)

    def work() -> None:
        study, dataset = prepare_study(spec, path)
        run_unit(spec, study, dataset, ids, CPU)

    at = 1
    while killed_at(at, work):
        study = open_study(path)
        for model_id in ids:
            if (study.model_dir(model_id) / "run.json").is_file() and study.run_info(model_id)["status"] == "complete":
                _assert_same_entry(ref, study, model_id, resumed=True)  # complete means complete
        at += 1
    assert at > 10
    study = open_study(path)
    for model_id in ids:
        assert study.run_info(model_id)["status"] == "complete"
        _assert_same_entry(ref, study, model_id, resumed=True)


@pytest.mark.slow
def test_local_sweep_packs(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    from model_runs.sweep import run_sweep

    spec = _demo_like(study_file, epochs=2)
    ids = ["base", "init-1", "lr-0.074"]
    outcomes = run_sweep(spec, tmp_path / "runs", CPU, workers=1, model_ids=ids, log_dir=str(tmp_path / "logs"), quiet=True, pack="auto")
    assert sorted((o.model_id, o.status) for o in outcomes) == sorted((m, "complete") for m in ids)
    assert (tmp_path / "logs" / "queue.txt").read_text().split() == ["base,init-1,lr-0.074"]
    study = open_study(tmp_path / "runs")
    assert all(study.run_info(m)["execution"]["packed"]["size"] == 3 for m in ids)
    ref = _unpacked(spec, tmp_path / "ref", ids)
    for model_id in ids:
        _assert_same_entry(ref, study, model_id)
    info = json.loads((tmp_path / "runs" / "models" / "base" / "run.json").read_text())
    assert info["attempts"] == 1
