"""Studies that grow (models compared one by one), the recorded data location, init and batch warnings."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labutil.errors import UserError, run_cli
from model_runs.cli import main
from model_runs.store import open_study
from model_runs.study_advice import batch_warnings
from model_runs.study_files import load_study
from model_runs.sweep import todo_models

TRAIN = ["--device", "cpu", "--threads", "1", "--loader-workers", "0", "--quiet"]
TWO = '[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\nvary = {init_seed = [1]}\n'
FOUR = TWO + '\n[[conditions]]\nname = "order"\ndata_seed = 5\n\n[[conditions]]\nname = "nesterov"\nnesterov = true\n'


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _train(study: Path, runs: Path) -> int:
    return run_cli(main, ["train", str(study), "--runs-dir", str(runs), *TRAIN])


# --------------------------------------------------------------------------------------------
# Growing


def test_study_grown_by_two_conditions_trains_only_the_new_models(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    runs = tmp_path / "runs"
    assert _train(study_file(conditions=TWO, epochs=2), runs) == 0
    old = {m: _hashes(runs / "tiny" / "models" / m) for m in ("base", "init-1")}
    assert all(old.values())
    grown_file = study_file(conditions=FOUR, epochs=2)
    spec = load_study(str(grown_file))
    from model_runs.runner import prepare

    study = prepare(spec, runs / "tiny")  # what a sweep does first
    assert todo_models(study, spec, None) == ["order", "nesterov"]
    assert [m["model_id"] for m in study.definition["models"]] == ["base", "init-1", "order", "nesterov"]
    assert _train(grown_file, runs) == 0
    for model_id, files in old.items():
        assert _hashes(runs / "tiny" / "models" / model_id) == files  # byte for byte
    assert open_study(runs / "tiny").model_ids(status="complete") == ["base", "init-1", "nesterov", "order"]


def test_changed_model_is_refused_naming_the_field(tmp_path: Path, study_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert _train(study_file(conditions=TWO, epochs=2), runs) == 0
    before = _hashes(runs)
    changed = study_file(conditions=TWO.replace('name = "base"\n', 'name = "base"\nlr = 0.07\n') + FOUR[len(TWO):], epochs=2)
    capsys.readouterr()
    assert _train(changed, runs) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "model 'base': 'lr' is 0.05 there, 0.07 in the study file" in err
    assert _hashes(runs) == before  # nothing written, not even the new models' definitions


def test_untrained_model_may_change_and_unlisted_models_stay(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    from model_runs.runner import prepare

    runs = tmp_path / "runs"
    prepare(load_study(str(study_file(conditions=FOUR, epochs=2))), runs / "tiny")  # defined, nothing trained
    changed = FOUR.replace('name = "nesterov"\nnesterov = true', 'name = "nesterov"\nnesterov = true\nlr = 0.07')
    study = prepare(load_study(str(study_file(conditions=changed, epochs=2))), runs / "tiny")
    assert study.definition["models"][3]["lr"] == 0.07
    study = prepare(load_study(str(study_file(conditions=TWO, epochs=2))), runs / "tiny")  # two conditions left out
    assert [m["model_id"] for m in study.definition["models"]] == ["base", "init-1", "order", "nesterov"]


def test_other_dataset_is_still_a_different_study(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    from model_runs.runner import prepare

    prepare(load_study(str(study_file(conditions=TWO))), tmp_path / "tiny")
    with pytest.raises(UserError, match=r"different study definition: 'dataset.train_per_class' is 8 there, 9 in the study file"):
        prepare(load_study(str(study_file(conditions=TWO, train_per_class=9))), tmp_path / "tiny")


# --------------------------------------------------------------------------------------------
# Where the images are


def _tree(root: Path, per_class: tuple[int, int] = (4, 3), size: int = 12) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, n in zip(("train", "val"), per_class):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size + 2, 3), dtype=np.uint8)).save(root / split / c / f"{c}{i}.png")


FOLDER_STUDY = """name = "own"
[dataset]
name = "imagefolder"
root = "images"
resize = 12
crop = 12
[recipe]
arch = "mlp"
epochs = 1
batch_size = 4
augment = "none"
[[conditions]]
name = "base"
"""


def test_stimuli_find_the_images_of_a_study_trained_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from model_runs.datasets import open_dataset
    from stimuli.sources import from_study

    project = tmp_path / "project"
    _tree(project / "images")
    (project / "own.toml").write_text(FOLDER_STUDY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # root = "images" is relative to the study file, not to here
    assert run_cli(main, ["train", str(project / "own.toml"), "--runs-dir", "runs", *TRAIN]) == 0
    runs = elsewhere / "runs" / "own"
    record = json.loads((runs / "data_location.json").read_text())
    assert record["root"] == str((project / "images").resolve())
    rel = sorted(f"{s}/{c}/{c}{i}.png" for s, n in (("train", 4), ("val", 3)) for c in ("cat", "dog") for i in range(n))
    val = [r for r in rel if r.startswith("val/")]
    assert record["fingerprint"]["val"] == {"files": 6, "sha256": hashlib.sha256("\n".join(val).encode()).hexdigest()}
    assert record["fingerprint"]["train"]["files"] == 8

    third = tmp_path / "third"
    third.mkdir()
    monkeypatch.chdir(third)
    source = from_study(runs)
    expected = open_dataset({"name": "imagefolder", "root": str(project / "images"), "resize": 12, "crop": 12}).eval_pixels(5)
    assert np.array_equal(np.asarray(source.pixels(5)), np.asarray(expected))
    assert source.rendering["dataset"]["root"] == str((project / "images").resolve())

    shutil.move(project / "images", tmp_path / "moved")
    with pytest.raises(UserError, match=r"the images were at .*/project/images when the study was trained and are not there now; pass --data-root"):
        from_study(runs)
    moved = from_study(runs, data_root=tmp_path / "moved")
    assert np.array_equal(np.asarray(moved.pixels(5)), np.asarray(expected))

    (tmp_path / "moved" / "val" / "dog" / "dog2.png").rename(tmp_path / "moved" / "val" / "dog" / "dog9.png")
    with pytest.raises(UserError, match=r"not the validation images .* \(6 files recorded, 6 files here, other file names\); check --data-root"):
        from_study(runs, data_root=tmp_path / "moved")
    # the CLI says it in one line and exits 2
    from stimuli.cli import main as stimuli_main

    capsys.readouterr()
    assert run_cli(stimuli_main, ["build-2afc", "--study", str(runs), "--pairs", "1", "--practice-pairs", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not there now; pass --data-root DIR" in err


def test_training_from_a_new_place_updates_the_record_and_changed_training_images_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(tmp_path / "a" / "images")
    (tmp_path / "a" / "own.toml").write_text(FOLDER_STUDY)
    runs = tmp_path / "runs"
    assert _train(tmp_path / "a" / "own.toml", runs) == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "own.toml").write_text(FOLDER_STUDY + '\n[[conditions]]\nname = "more"\ninit_seed = 4\n')
    capsys.readouterr()
    assert _train(tmp_path / "b" / "own.toml", runs) == 0
    assert f"the images are now at {(tmp_path / 'b' / 'images').resolve()}" in capsys.readouterr().err
    assert json.loads((runs / "own" / "data_location.json").read_text())["root"] == str((tmp_path / "b" / "images").resolve())
    (tmp_path / "b" / "images" / "train" / "cat" / "cat0.png").unlink()
    before = _hashes(runs)
    (tmp_path / "b" / "own.toml").write_text(FOLDER_STUDY + '\n[[conditions]]\nname = "third"\ninit_seed = 5\n')
    assert _train(tmp_path / "b" / "own.toml", runs) == 2
    assert "the train images differ from those" in capsys.readouterr().err
    assert _hashes(runs) == before


# --------------------------------------------------------------------------------------------
# init and the batch warnings


def test_init_fits_the_recipe_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(tmp_path / "data", per_class=(10, 2), size=20)  # 20 training images of 20 x 22 px
    out = tmp_path / "studies" / "mine.toml"
    out.parent.mkdir()
    assert run_cli(main, ["init", str(out), "--root", str(tmp_path / "data")]) == 0
    spec = load_study(str(out))
    r = spec.recipe
    # 20 images: batch 8 (the smallest; 20 // 8 < 16), 3 updates an epoch, ceil(600 / 3) = 200 epochs -> at most 60;
    # lr 0.1 * sqrt(8 / 128) = 0.025; lr_step round(2 * 60 / 3) = 40
    assert (r["arch"], r["batch_size"], r["epochs"], r["lr"], r["lr_step"]) == ("small_resnet", 8, 60, 0.025, 40)
    assert (spec.dataset["resize"], spec.dataset["crop"]) == (20, 20)
    assert spec.dataset["root"] == str((tmp_path / "data").resolve())
    assert [m["model_id"] for m in spec.models] == ["base", "init-1", "init-2", "init-3", "order-1", "order-2", "order-3"]
    text = out.read_text()
    capsys.readouterr()
    assert run_cli(main, ["init", str(out), "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {out}: already exists; init writes a new study file (remove it or choose another name)"
    assert out.read_text() == text


def test_init_writes_a_relative_root_for_images_below_the_study_file(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    assert run_cli(main, ["init", str(tmp_path / "s.toml"), "--root", str(tmp_path / "data")]) == 0
    assert 'root = "data"' in (tmp_path / "s.toml").read_text()
    assert load_study(str(tmp_path / "s.toml")).dataset["root"] == str((tmp_path / "data").resolve())


def test_fit_uses_the_imagenet_recipe_only_for_imagenet_sized_data() -> None:
    from model_runs.init_study import Survey, fit

    big = fit(Survey(Path("/x"), 1000, 1_281_167, 50_000, 333, 500))
    assert big[0] == {"resize": 256, "crop": 224} and big[1] == {}
    photos = fit(Survey(Path("/x"), 20, 4000, 1000, 375, 500))[1]
    # 4000 // 8 = 500 -> batch 128; 32 updates; ceil(600 / 32) = 19 epochs; lr 0.1 * sqrt(128 / 128) = 0.1
    assert (photos["arch"], photos["batch_size"], photos["epochs"], photos["lr"]) == ("resnet18", 128, 19, 0.1)


def test_batch_warnings_one_line_per_problem() -> None:
    base = {"epochs": 3, "train_fraction": 1.0, "batch_split": 1}
    models = [{**base, "model_id": "a", "batch_size": 256}, {**base, "model_id": "b", "batch_size": 256},
              {**base, "model_id": "c", "batch_size": 64}, {**base, "model_id": "d", "batch_size": 16},
              {**base, "model_id": "e", "batch_size": 256, "epochs": 0}]
    lines = batch_warnings(models, 200)
    assert lines == [
        "warning: models a, b: batch_size 256 exceeds the 200 training images: each epoch is 1 update(s) on all of them; "
        "set batch_size to at most 40 in [recipe]",
        "warning: model c: only 4 optimiser update(s) per epoch (batch_size 64, 200 training images); "
        "set batch_size to at most 40 in [recipe] for 5 or more",
    ]


def test_comparisons_follow_the_study_file_and_stay_for_kept_models(tmp_path: Path) -> None:
    import pandas as pd

    from model_runs.store import create_study

    images = pd.DataFrame({"image_index": [0, 1], "image_id": ["a", "b"], "label": [0, 1], "class_name": ["x", "y"]})
    model = {"model_id": "p-1", "condition": "p", "lr": 0.1}
    first = {"name": "s", "dataset": {"name": "d"}, "models": [model, {**model, "model_id": "q-1", "condition": "q"}],
             "comparisons": {"p": "each-other", "q": "each-other"}}
    create_study(tmp_path / "s", first, images)
    # q is no longer listed (its models are kept, with its comparison); p no longer asks for one
    study = create_study(tmp_path / "s", {"name": "s", "dataset": {"name": "d"}, "models": [model]}, images)
    assert study.definition["comparisons"] == {"q": "each-other"}
    assert [m["model_id"] for m in study.definition["models"]] == ["p-1", "q-1"]
