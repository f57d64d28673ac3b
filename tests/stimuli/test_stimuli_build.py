"""Building 2AFC and questionnaire sets from a decisions store (pixels injected)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labutil.errors import UserError
from model_runs.store import Study, open_study
from stimuli import exclusions as ex
from stimuli.build import build_2afc, build_questionnaire
from stimuli.checks import check_set
from stimuli.sets import read_set
from stimuli.sources import from_study

from stimuli_data import CLASS_NAMES, synthetic_pixels


def _source(study: Study, **kw):  # noqa: ANN202
    return from_study(study.path, image_source=synthetic_pixels, **kw)


def _files(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and p.name != "set.json"}


def test_same_seed_same_bytes_other_seed_other_set(study: Study, tmp_path: Path) -> None:
    a = build_2afc(_source(study), tmp_path / "a", n_test=11, n_practice=2, tolerance=1, seed=4)
    b = build_2afc(_source(study), tmp_path / "b", n_test=11, n_practice=2, tolerance=1, seed=4)
    c = build_2afc(_source(study), tmp_path / "c", n_test=11, n_practice=2, tolerance=1, seed=5)
    fa, fb = _files(a.path), _files(b.path)
    assert set(fa) >= {"stimuli.tsv", "trials.tsv", "images/stim-0001.png"} and len(fa) == 2 + 26
    assert fa == fb  # stimuli.tsv, trials.tsv and every PNG byte for byte
    assert a.meta["seed"] == 4 and c.meta["seed"] == 5
    assert list(c.stimuli["source_image_id"]) != list(a.stimuli["source_image_id"])


def test_pairs_follow_the_store(study: Study, tmp_path: Path) -> None:
    sset = build_2afc(_source(study), tmp_path / "s", n_test=31, n_practice=4, tolerance=1, seed=0)
    # difficulty recomputed from the store, independently of the package
    n_correct = open_study(study.path).final_decisions().correct.sum(axis=0)
    index = {f"val/{i:04d}": i for i in range(len(n_correct))}
    info = sset.stimuli.set_index("stim_id")
    for t in sset.trials.itertuples():
        imp, triv = (t.left_stim, t.right_stim) if t.impossible_side == "left" else (t.right_stim, t.left_stim)
        assert n_correct[index[info.loc[imp, "source_image_id"]]] <= 1
        assert n_correct[index[info.loc[triv, "source_image_id"]]] >= 10
        assert info.loc[imp, "n_correct"] == n_correct[index[info.loc[imp, "source_image_id"]]]
    test = sset.test_trials()
    assert len(test) == 31 and len(sset.practice_trials()) == 4
    assert (test["impossible_side"] == "left").sum() in (15, 16)
    assert sset.stimuli["source_image_id"].is_unique and len(sset.stimuli) == 70
    assert check_set(str(sset.path)) == []
    prov = sset.meta["provenance"]
    assert prov["source"]["models"] == [f"m{m:02d}" for m in range(11)] and prov["tolerance"] == 1
    assert prov["candidates"]["before_exclusions"] == {"trivial": 50, "in-between": 30, "impossible": 40, "total": 120}


def test_epoch_and_model_choice_change_the_counts(study: Study, tmp_path: Path) -> None:
    # at epoch 0 every model is right on images 0..59 only: 60 trivial, 60 impossible
    src = _source(study, epoch=0)
    assert src.images["n_correct"].tolist() == [11] * 60 + [0] * 60
    # two models: m00 right where n_correct >= 1, m10 right where n_correct == 11
    src2 = _source(study, models=["m00", "m10"])
    assert src2.images["n_correct"].tolist()[:50] == [2] * 40 + [1] * 10
    assert src2.provenance["models"] == ["m00", "m10"]


def test_exclusions_never_appear_and_are_counted(study: Study, tmp_path: Path) -> None:
    classes = tmp_path / "classes.txt"
    classes.write_text(f"# two classes\n{CLASS_NAMES[0]}  # a comment\n\n{CLASS_NAMES[3]}\n")
    errors = tmp_path / "errors.txt"
    errors.write_text("val/0001\nval/0002\nval/0115\nnot/in/study\n")
    src = _source(study)
    exc = [ex.excluded_classes(src, classes), ex.label_errors_from_file(src, errors)]
    sset = build_2afc(src, tmp_path / "s", n_test=10, n_practice=0, tolerance=1, exclusions=exc, seed=1)
    assert not set(sset.stimuli["class_name"]) & {CLASS_NAMES[0], CLASS_NAMES[3]}
    assert not set(sset.stimuli["source_image_id"]) & {"val/0001", "val/0002", "val/0115"}
    recs = sset.meta["provenance"]["exclusions"]
    # labels cycle 0..5: classes 0 and 3 hold 17 of the 50 trivial (i < 50) and 13 of the 40 impossible (80..119)
    assert recs[0]["removed"] == {"trivial": 17, "in-between": 10, "impossible": 13, "total": 40}
    assert recs[1]["removed"] == {"trivial": 2, "in-between": 0, "impossible": 1, "total": 3}
    assert recs[1]["n_unmatched"] == 1
    after = sset.meta["provenance"]["candidates"]["after_exclusions"]
    assert after == {"trivial": 31, "in-between": 20, "impossible": 26, "total": 77}  # listed ids are classes 1, 2, 1


def test_not_enough_candidates_names_counts_and_writes_nothing(study: Study, tmp_path: Path) -> None:
    src = _source(study)
    exc = [ex.excluded_classes(src, ex.DEFAULT_CLASS_FILE)]
    with pytest.raises(UserError) as err:
        build_2afc(src, tmp_path / "s", n_test=35, n_practice=6, tolerance=0, exclusions=exc, seed=0)
    msg = str(err.value)
    assert "need 41 trivial and 41 impossible" in msg
    assert "have 40 trivial, 30 impossible after exclusions" in msg
    assert "imagenet_person_classes.txt) removed 0 trivial, 0 impossible" in msg
    assert "\n" not in msg
    assert not (tmp_path / "s").exists() and not list(tmp_path.glob(".s.*"))


def test_existing_set_is_never_overwritten(study: Study, tmp_path: Path) -> None:
    out = tmp_path / "s"
    first = build_2afc(_source(study), out, n_test=4, n_practice=0, seed=0)
    before = _files(out)
    for force in (False, True):
        with pytest.raises(UserError, match="already exists"):
            build_2afc(_source(study), out, n_test=4, n_practice=0, seed=9, force=force)
    assert _files(out) == before and read_set(out).meta["seed"] == first.meta["seed"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_2afc(_source(study), empty, n_test=4, n_practice=0, seed=0, force=True).path == empty


def test_questionnaire_equal_difficulties(study: Study, tmp_path: Path) -> None:
    sset = build_questionnaire(_source(study), tmp_path / "q", n_per_difficulty=12, n_practice=4, tolerance=1, seed=2)
    info = sset.stimuli.set_index("stim_id")
    test = sset.test_trials()
    assert info.loc[test["stim_id"], "difficulty"].value_counts().to_dict() == {"trivial": 12, "in-between": 12, "impossible": 12}
    assert len(sset.practice_trials()) == 4 and sset.stimuli["source_image_id"].is_unique
    assert sset.trials["trial"].tolist() == list(range(1, 41))
    nc = info["n_correct"]
    assert (nc[info["difficulty"] == "in-between"].between(2, 9)).all()
    assert check_set(str(sset.path)) == []
    with pytest.raises(UserError, match="need 31 trivial"):  # 30 in-between exist: 31 + practice too many
        build_questionnaire(_source(study), tmp_path / "q2", n_per_difficulty=31, n_practice=0, tolerance=1)


def test_small_images_are_enlarged_with_nearest_neighbour(study: Study, tmp_path: Path) -> None:
    sset = build_2afc(_source(study), tmp_path / "s", n_test=2, n_practice=0, seed=0, display_size=224)
    row = sset.stimuli.iloc[0]
    index = int(row["source_image_id"].split("/")[1])
    shown = np.asarray(Image.open(sset.path / row["file"]))
    assert shown.shape == (224, 224)
    expected = np.kron(synthetic_pixels(index), np.ones((28, 28), dtype=np.uint8))  # each pixel a 28x28 block
    assert np.array_equal(shown, expected)
    native = build_2afc(_source(study), tmp_path / "n", n_test=2, n_practice=0, seed=0, display_size=0)
    assert np.asarray(Image.open(native.path / native.stimuli.iloc[0]["file"])).shape == (8, 8)
    assert native.meta["rendering"]["display_scaling"] == "none"


def test_study_on_real_digits_renders_the_dataset_pixels(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """No injected pixels: the CLI opens the study's dataset (model_runs.datasets digits) itself."""
    datasets = pytest.importorskip("model_runs.datasets")
    from labutil.errors import run_cli
    from stimuli.cli import main

    from stimuli_data import write_counts_study

    dataset = {"name": "digits", "train_per_class": 150, "val_per_class": 12, "seed": 0}
    ds = datasets.open_dataset(dataset)
    images = ds.val_images()
    n_correct = np.resize(np.array([11, 0, 5, 11, 0, 10]), len(images))
    study = write_counts_study(tmp_path / "runs" / "dig", n_correct, images["label"].to_numpy(), images=images,
                               dataset=dataset)
    args = ["build-2afc", "--study", str(study.path), "--pairs", "5", "--practice-pairs", "1", "--seed", "2",
            "--sets-dir", str(tmp_path / "sets"), "--name", "d"]
    assert run_cli(main, args) == 0, capsys.readouterr().err
    sset = read_set(tmp_path / "sets" / "d")
    index = dict(zip(images["image_id"], images["image_index"]))
    for row in sset.stimuli.itertuples():
        digit = np.asarray(ds.eval_pixels(int(index[row.source_image_id])))
        assert digit.shape == (8, 8)
        assert np.array_equal(np.asarray(Image.open(sset.path / row.file)), np.kron(digit, np.ones((28, 28), np.uint8)))
    assert sset.meta["rendering"]["dataset"]["name"] == "digits"
    assert sset.meta["rendering"]["evaluated_sizes"] == [[8, 8]]


def test_cleanlab_marks_are_excluded(tmp_path: Path, counts: np.ndarray, labels: np.ndarray) -> None:
    pytest.importorskip("analysis.models.label_issues")
    from stimuli_data import write_counts_study

    # confident probabilities for the given label, except images 0, 6, 90, 96: confidently another class
    probs = np.full((len(labels), 6), 0.01)
    probs[np.arange(len(labels)), labels] = 0.95
    flipped = [0, 6, 90, 96]
    probs[flipped] = 0.01
    probs[flipped, (labels[flipped] + 2) % 6] = 0.95
    study = write_counts_study(tmp_path / "runs" / "cl", counts, labels, probabilities=probs)
    src = _source(study)
    exclusion = ex.label_errors_from_cleanlab(src)
    assert np.flatnonzero(exclusion.mask).tolist() == flipped
    sset = build_2afc(src, tmp_path / "s", n_test=28, n_practice=0, tolerance=0, exclusions=[exclusion], seed=0)
    assert not set(sset.stimuli["source_image_id"]) & {f"val/{i:04d}" for i in flipped}
    rec = sset.meta["provenance"]["exclusions"][0]
    assert rec["from"] == "cleanlab" and rec["removed"] == {"trivial": 2, "in-between": 0, "impossible": 2, "total": 4}
