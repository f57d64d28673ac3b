"""ImageNet-shaped rehearsal: the eleven zoo models from published-layout files evaluated into a store,
then the DDD analysis, a verified 2AFC set, and the per-image table exported and read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labutil.errors import UserError
from model_runs.datasets.folder import imagenet_classes
from model_runs.zoo.registry import ZOO
from model_runs.zoo.rehearsal import SIZES, choose_wnids, make_rehearsal
from zoo_files import register_tiny_clip, write_published_file

ROOT = Path(__file__).resolve().parents[2]


def test_rehearsal_folder_has_real_wnids_imagenet_sizes_and_is_reproducible(tmp_path: Path) -> None:
    counts = make_rehearsal(tmp_path / "a", n_classes=5, per_class=2, seed=3, train_per_class=1)
    assert counts == {"classes": 5, "val": 10, "train": 5}
    wnids = [w for w, _ in imagenet_classes()]
    assert sorted(p.name for p in (tmp_path / "a" / "val").iterdir()) == [wnids[i] for i in (0, 200, 400, 600, 800)]
    files = sorted((tmp_path / "a" / "val").rglob("*.JPEG"))
    assert [f.name for f in files] == [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 11)]
    for f in files:
        with Image.open(f) as img:
            assert img.format == "JPEG" and img.mode == "RGB" and img.size in SIZES
    make_rehearsal(tmp_path / "b", n_classes=5, per_class=2, seed=3, train_per_class=1)
    assert all(f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes() for f in files)
    with pytest.raises(UserError, match="exists and is not an empty folder"):
        make_rehearsal(tmp_path / "a", n_classes=5)
    with pytest.raises(UserError, match="--wnid n99999999: not one of the 1,000"):
        choose_wnids(wnids=["n99999999"])
    assert len(choose_wnids(1000)) == 1000


def test_imagenet_labels_of_a_class_subset_are_the_standard_class_ids(tmp_path: Path) -> None:
    from model_runs.datasets import open_dataset

    make_rehearsal(tmp_path / "r", wnids=["n01443537", "n15075141"], per_class=1)
    images = open_dataset({"name": "imagenet", "root": str(tmp_path / "r")}).val_images()
    assert images["label"].tolist() == [1, 999] and images["class_name"].tolist() == ["n01443537", "n15075141"]


def _run(*args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_zoo_rehearsal_from_published_files_to_a_verified_2afc_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model_runs.cli import main
    from model_runs.per_image_table import read_table_file, split_counts
    from model_runs.store import open_study

    # 4 classes x 3 images; ten models' heads say "class of the first wnid" (bias only), CLIP is a 1-layer config
    data = tmp_path / "imagenet"
    make_rehearsal(data, n_classes=4, per_class=3, seed=1)
    first = [w for w, _ in imagenet_classes()].index(sorted(p.name for p in (data / "val").iterdir())[0])
    weights = tmp_path / "weights"
    tiny = register_tiny_clip(tmp_path)
    for name in ZOO:
        if name == "clip":
            write_published_file(name, weights, clip_config=tiny, templates="photo")
        else:
            write_published_file(name, weights, head_class=first)
    monkeypatch.setenv("TRIVIAL_OR_IMPOSSIBLE_WEIGHTS", str(weights))
    shipped = (ROOT / "model_runs" / "studies" / "pretrained_zoo.toml").read_text()
    study = tmp_path / "zoo.toml"
    study.write_text(shipped.replace('name = "pretrained_zoo"', 'name = "zoo_rehearsal"').replace(
        'arch = "zoo:clip"', f'arch = "zoo:clip"\nmodel_options = {{clip_config = "{tiny}", templates = "photo"}}').replace(
        "eval_batch_size = 64", "eval_batch_size = 6"))
    runs = tmp_path / "runs"
    assert main(["evaluate", str(study), "--runs-dir", str(runs), "--data-root", str(data), "--device", "cpu",
                 "--loader-workers", "1", "--quiet"]) == 0

    store = open_study(runs / "zoo_rehearsal")
    assert sorted(store.model_ids(status="complete")) == sorted(ZOO)
    matrix = store.final_decisions()
    labels = store.images["label"].to_numpy()
    for i, model_id in enumerate(matrix.model_ids):
        if model_id != "clip":
            assert np.array_equal(matrix.correct[i], labels == first), model_id
    n_correct = matrix.correct.sum(axis=0)
    assert (n_correct[labels == first] >= 10).all() and (n_correct[labels != first] <= 1).all()

    _run("-m", "analysis.ddd", str(runs / "zoo_rehearsal"), "--out", str(tmp_path / "ddd"), "--no-figures", "--no-progress", "--base", "resnet152", cwd=tmp_path)
    per_image = pd.read_csv(next((tmp_path / "ddd").rglob("per_image.csv")))
    assert per_image["n_correct"].tolist() == n_correct.tolist()
    _run("-m", "stimuli", "build-2afc", "--study", str(runs / "zoo_rehearsal"), "--data-root", str(data), "--pairs", "2",
         "--practice-pairs", "1", "-k", "1", "--exclude-classes", "none", "--name", "zoo-2afc", "--sets-dir", str(tmp_path / "sets"), cwd=tmp_path)
    _run("-m", "stimuli", "verify", str(tmp_path / "sets" / "zoo-2afc"), cwd=tmp_path)

    table = tmp_path / "per_image.csv"
    assert main(["zoo", "export-table", str(runs / "zoo_rehearsal"), "--out", str(table)]) == 0
    reference_header = "val_index,filepath,wnid,class_index,sota_n_correct,sota_mean_correct,sota_difficulty"
    assert table.read_text().splitlines()[0].startswith(reference_header)
    back = read_table_file(table)
    assert back["sota_n_correct"].tolist() == n_correct.tolist()
    assert back["filepath"].tolist() == store.images["image_id"].tolist()
    from labutil.difficulty import classify

    for k in (0, 1):
        expected = classify(n_correct, 11, k)
        assert split_counts(back, k) == {d: int((expected == d).sum()) for d in ("trivial", "in-between", "impossible")}
    out = _run("-m", "analysis.ddd", "summary", "--table", str(table), "--n-models", "11", cwd=tmp_path)
    assert "trivial" in out
    with pytest.raises(UserError, match="exists"):
        main(["zoo", "export-table", str(runs / "zoo_rehearsal"), "--out", str(table)])


def test_zoo_cli_rehearsal_and_import_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from model_runs.cli import main
    from reference_data import REFERENCE_DIR

    assert main(["zoo", "rehearsal", str(tmp_path / "r"), "--classes", "3", "--per-class", "1"]) == 0
    assert "3 validation images of 3 classes" in capsys.readouterr().out
    with pytest.raises(UserError, match="exists and is not an empty folder"):
        main(["zoo", "rehearsal", str(tmp_path / "r")])
    with pytest.raises(UserError, match="--classes 0: choose 1..1000"):
        main(["zoo", "rehearsal", str(tmp_path / "s"), "--classes", "0"])
    assert not (tmp_path / "s").exists()
    table = REFERENCE_DIR / "imagenet_val_sota11_per_image.csv"
    if not table.is_file():
        pytest.skip(f"reference data not found in {REFERENCE_DIR}")
    with pytest.raises(UserError, match="no n_models column; say how many models"):
        main(["zoo", "import-table", str(table)])
    assert main(["zoo", "import-table", str(table), "--n-models", "11", "-k", "1"]) == 0
    # the paper: 46.0 % trivial, 11.5 % impossible of 50,000 images with one model's tolerance
    assert "50000 images (k = 1); trivial 23000, in-between 21248, impossible 5752" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("val_index,filepath,wnid,class_index,sota_n_correct\n0,a.JPEG,n1,0,12\n")
    with pytest.raises(UserError, match=r"bad\.csv: row 2: sota_n_correct = 12 outside 0\.\.11"):
        main(["zoo", "import-table", str(bad), "--n-models", "11"])


def test_evaluating_the_zoo_without_its_files_names_the_first_missing_file_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model_runs.cli import main

    make_rehearsal(tmp_path / "data", n_classes=2, per_class=1)
    monkeypatch.setenv("TRIVIAL_OR_IMPOSSIBLE_WEIGHTS", str(tmp_path / "weights"))
    with pytest.raises(UserError, match=r"weights of 'clip' not found: put ViT-B-32\.pt into .*weights"):
        main(["evaluate", "pretrained_zoo", "--runs-dir", str(tmp_path / "runs"), "--data-root", str(tmp_path / "data")])
    assert not (tmp_path / "runs").exists()
