"""Study files: shipped studies resolve to the paper's conditions; every unknown key is a one-line error."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from labutil.errors import UserError
from model_runs.study_files import load_study


def test_resnet18_variants_conditions() -> None:
    spec = load_study("resnet18_variants")
    counts = Counter(m["condition"] for m in spec.models)
    assert counts == {
        "base": 1, "plus1-epoch": 1, "plus10-epochs": 1, "nesterov": 1, "half-batch": 1, "init": 5, "lr": 5,
        "cuda-nondeterministic": 5, "data-order": 5, "densenet121": 1, "half-data": 1, "combined": 5, "disjoint-halves": 2,
    }
    base = spec.model("base")
    # the pytorch/examples ImageNet recipe
    assert (base["arch"], base["epochs"], base["batch_size"], base["lr"], base["momentum"], base["weight_decay"]) == ("resnet18", 90, 256, 0.1, 0.9, 1e-4)
    assert (base["lr_step"], base["lr_gamma"], base["augment"], base["optimizer"], base["nesterov"]) == (30, 0.1, "random_resized_crop_flip", "sgd", False)
    assert (base["init_seed"], base["data_seed"], base["aug_seed"], base["deterministic"]) == (0, 0, 0, True)
    assert spec.model("plus1-epoch")["epochs"] == 91 and spec.model("plus10-epochs")["epochs"] == 100
    assert spec.model("half-batch")["batch_split"] == 2 and spec.model("half-batch")["batch_size"] == 256
    assert sorted(m["lr"] for m in spec.models if m["condition"] == "lr") == [0.148, 0.149, 0.15, 0.151, 0.152]
    assert sorted(m["init_seed"] for m in spec.models if m["condition"] == "init") == [1, 2, 3, 4, 5]
    assert all(not m["deterministic"] and m["init_seed"] == 0 for m in spec.models if m["condition"] == "cuda-nondeterministic")
    assert spec.model("densenet121")["arch"] == "densenet121" and spec.model("densenet121")["batch_size"] == 64
    combined = [m for m in spec.models if m["condition"] == "combined"]
    assert {(m["arch"], m["nesterov"], m["lr"]) for m in combined} == {("densenet121", True, 0.15)}
    assert len({(m["init_seed"], m["data_seed"]) for m in combined}) == 5
    halves = [m for m in spec.models if m["condition"] == "disjoint-halves"]
    assert [(m["train_fraction"], m["train_part"]) for m in halves] == [(0.5, 0), (0.5, 1)]
    # a base-only change stays base-only
    assert spec.model("nesterov") == {**base, "model_id": "nesterov", "condition": "nesterov", "nesterov": True}


def test_other_shipped_studies() -> None:
    control = load_study("control_bases")
    assert {m["arch"] for m in control.models} == {"vgg11", "alexnet", "densenet121", "resnet50"}
    assert all(m["epochs"] == 30 and m["lr_step"] == 10 for m in control.models)
    zoo = load_study("pretrained_zoo")
    assert all(m["epochs"] == 0 and m["weights"].startswith("torchvision:") for m in zoo.models)
    demo = load_study("demo")
    assert len(demo.models) >= 10 and demo.dataset["name"] == "digits"
    assert len({m["condition"] for m in demo.models}) >= 10


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('colour = "red"\n', r"tiny\.toml: unknown key 'colour'"),
        ('[[conditions]]\nname = "x"\nlearning_rate = 0.1\n', r"tiny\.toml condition 3 'x': unknown key 'learning_rate'"),
        ('[[conditions]]\nname = "x"\nvary = { seed = [1, 2] }\n', r"condition 3 'x' vary: unknown key 'seed'"),
        ('[[conditions]]\nname = "x"\nvary = { init_seed = [1, 2], data_seed = [1] }\n', r"same length"),
        ('[[conditions]]\nname = "x"\nepochs = "ten"\n', r"'epochs' = 'ten' should be int"),
        ('[[conditions]]\nname = "x"\narch = "resnet9000"\n', r"model 'x': unknown model 'resnet9000'"),
        ('[[conditions]]\nname = "base"\n', r"condition name used twice"),
        ('[[conditions]]\nname = "x"\nbatch_split = 3\n', r"batch_size 16 is not divisible by batch_split 3"),
        ('[[conditions]]\nname = "x"\naugment = "mixup"\n', r"'augment' = 'mixup' is not allowed"),
        ('[[conditions]]\nname = "x"\ncompare = "halves"\n', r"condition 3 'x': 'compare' must be one of base, each-other"),
        ('[[conditions]]\nname = "x"\ncompare = "each-other"\n', r"condition 3 'x': compare = \"each-other\" needs at least two models"),
    ],
)
def test_study_errors_name_file_and_key(study_file: Callable[..., Path], body: str, message: str) -> None:
    path = study_file()
    text = path.read_text()
    if body.startswith("[[") :
        path.write_text(text + "\n" + body)
    else:
        path.write_text(body + text)
    with pytest.raises(UserError, match=message) as err:
        load_study(str(path))
    assert "\n" not in str(err.value)


def test_unknown_keys_in_recipe_and_dataset(study_file: Callable[..., Path]) -> None:
    path = study_file(extra="momentun = 0.8")
    with pytest.raises(UserError, match=r"tiny\.toml \[recipe\]: unknown key 'momentun'"):
        load_study(str(path))
    path = study_file()
    path.write_text(path.read_text().replace("seed = 3", "seed = 3\nshuffle = true"))
    with pytest.raises(UserError, match=r"tiny\.toml \[dataset\]: unknown key 'shuffle' for dataset 'digits'"):
        load_study(str(path))


def test_unknown_study_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown study 'nope'"):
        load_study("nope")
    with pytest.raises(UserError, match="study file not found"):
        load_study(str(tmp_path / "x.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(UserError, match=r"bad\.toml: not valid TOML"):
        load_study(str(bad))


@pytest.mark.parametrize(
    ("arch", "options", "bad"),
    [("mlp", "{widht = 32}", "widht"), ("small_cnn", "{width = 8, depth = 2}", "depth"), ("resnet18", "{zero_init_residul = true}", "zero_init_residul"),
     ("linear", "{width = 4}", "width"), ("mlp", "{num_classes = 3}", "num_classes")],
)
def test_model_options_typo_is_refused_before_anything_is_written(tmp_path: Path, study_file: Callable[..., Path], arch: str, options: str,
                                                                   bad: str) -> None:
    from model_runs.cli import main

    path = study_file(arch=arch, extra=f"model_options = {options}")
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))} model 'base': model_options: '{bad}' is not an option of '{arch}'") as err:
        load_study(str(path))
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=f"'{bad}'"):
        main(["train", str(path), "--runs-dir", str(tmp_path / "runs"), "--device", "cpu", "--threads", "1", "--quiet"])
    assert not (tmp_path / "runs").exists()


def test_valid_model_options_are_accepted(study_file: Callable[..., Path]) -> None:
    assert load_study(str(study_file(arch="mlp", extra="model_options = {width = 8, depth = 2, dropout = 0.1}"))).models[0]["model_options"]["depth"] == 2
    spec = load_study(str(study_file(arch="resnet18", extra="model_options = {zero_init_residual = true}")))
    assert spec.models[0]["model_options"] == {"zero_init_residual": True}


def test_each_other_comparison_is_recorded_beside_the_models(study_file: Callable[..., Path], tmp_path: Path) -> None:
    """`compare = "each-other"` goes into the definition's [comparisons]; model entries (what is trained)
    stay as they were, and a store written before the declaration takes it over on reopening."""
    import pandas as pd

    from model_runs.store import create_study
    from model_runs.study_files import study_from_definition

    path = study_file()
    plain = load_study(str(path))
    path.write_text(path.read_text().replace('vary = {init_seed = [1, 2]}', 'vary = {init_seed = [1, 2]}\ncompare = "each-other"'))
    spec = load_study(str(path))
    assert spec.comparisons == {"init": "each-other"} and plain.comparisons == {}
    assert "comparisons" not in plain.definition()
    assert spec.definition()["comparisons"] == {"init": "each-other"}
    assert spec.models == plain.models
    assert study_from_definition(spec.definition(), "x").comparisons == {"init": "each-other"}
    images = pd.DataFrame({"image_index": [0, 1], "image_id": ["a", "b"], "label": [0, 1], "class_name": ["x", "y"]})
    old = create_study(tmp_path / "store", plain.definition(), images)
    assert "comparisons" not in old.definition
    reopened = create_study(tmp_path / "store", spec.definition(), images)
    assert reopened.definition["comparisons"] == {"init": "each-other"}
    assert load_study("demo").comparisons == {"disjoint-halves": "each-other"}
