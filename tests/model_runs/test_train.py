"""Training writes a loadable store: epochs 0..E, correct == (prediction == label), run records, errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labutil.errors import UserError
from model_runs.evaluate import evaluate_checkpoint
from model_runs.pipeline import training_subset
from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.train import Execution

EXEC = Execution(device="cpu", threads=1, quiet=True)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tiny_training_run_store(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(epochs=3)))
    out = run_models(spec, tmp_path / "runs" / "tiny", [m["model_id"] for m in spec.models], EXEC)
    assert [o.status for o in out] == ["complete"] * 3
    study = open_study(tmp_path / "runs" / "tiny")
    labels = study.images["label"].to_numpy()
    assert len(labels) == 60 and np.bincount(labels).tolist() == [6] * 10
    final = study.final_decisions()
    assert final.model_ids == ["base", "init-1", "init-2"]
    assert final.correct.shape == (3, 60) and final.correct.dtype == bool
    for model_id in final.model_ids:
        e = study.epoch_decisions(model_id)
        assert e.epochs.tolist() == [0, 1, 2, 3]
        assert np.array_equal(e.correct, e.prediction == labels[None, :])
        info = study.run_info(model_id)
        assert info["status"] == "complete" and info["condition"] in ("base", "init")
        assert [ep["epoch"] for ep in info["epochs"]] == [0, 1, 2, 3]
        for row, ep in zip(e.correct, info["epochs"]):
            assert ep["val_accuracy"] == pytest.approx(row.mean())
        assert {"train_loss", "train_accuracy", "lr", "val_loss"} <= set(info["epochs"][1])
        assert {"torch", "numpy", "python"} <= set(info["versions"])
        assert info["device"].startswith("cpu") and info["timings"]["train_s"] > 0
        assert info["config"]["init_seed"] == {"base": 0, "init-1": 1, "init-2": 2}[model_id]
        assert info["config"]["dataset"] == {"name": "digits", "train_per_class": 8, "val_per_class": 6, "seed": 3, "noise_sd_max": 0.0}
        probs = study.probabilities(model_id)
        assert probs.shape == (60, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
        assert np.array_equal(probs.argmax(1), e.prediction[-1])
        train = study.train_decisions_table(model_id)
        assert sorted(train["epoch"].unique()) == [1, 2, 3]
        assert (train.groupby("epoch")["sample_index"].apply(lambda s: sorted(s) == list(range(80)))).all()
    # the learning-rate schedule: lr_step 2 -> epochs 1, 2 at 0.05 and epoch 3 at 0.005
    assert [ep["lr"] for ep in study.run_info("base")["epochs"][1:]] == pytest.approx([0.05, 0.05, 0.005])
    # an independent evaluation of the last checkpoint gives the stored final accuracy
    ckpt = study.model_dir("base") / "checkpoints" / "epoch-0003.pt"
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["epoch-0002.pt", "epoch-0003.pt"]
    result = evaluate_checkpoint(ckpt, EXEC, {})
    assert np.array_equal(result["prediction"], study.epoch_decisions("base").prediction[-1])
    # different initialisations give different decisions; a rerun changes nothing
    assert not np.array_equal(study.epoch_decisions("base").prediction, study.epoch_decisions("init-1").prediction)
    before = _snapshot(tmp_path / "runs" / "tiny")
    again = run_models(spec, tmp_path / "runs" / "tiny", ["base"], EXEC)
    assert again[0].status == "complete" and _snapshot(tmp_path / "runs" / "tiny") == before


def test_half_batch_equals_half_batch_size(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    """Splitting each batch of 16 in two sequential updates is training with batches of 8 in the same order."""
    conditions = '[[conditions]]\nname = "split"\nbatch_split = 2\n\n[[conditions]]\nname = "half"\nbatch_size = 8\n'
    spec = load_study(str(study_file(conditions=conditions, arch="small_cnn", epochs=2)))
    run_models(spec, tmp_path / "s", ["split", "half"], EXEC)
    study = open_study(tmp_path / "s")
    a, b = study.epoch_decisions("split"), study.epoch_decisions("half")
    assert np.array_equal(a.prediction, b.prediction)
    la = [e["val_loss"] for e in study.run_info("split")["epochs"]]
    lb = [e["val_loss"] for e in study.run_info("half")["epochs"]]
    assert la == pytest.approx(lb, rel=1e-6)


def test_training_subsets_are_disjoint_stratified_halves() -> None:
    labels = np.repeat(np.arange(4), 10)
    a = training_subset(labels, 0.5, 0, seed=1)
    b = training_subset(labels, 0.5, 1, seed=1)
    assert len(a) == len(b) == 20 and not set(a) & set(b)
    assert np.bincount(labels[a]).tolist() == [5] * 4
    assert not np.array_equal(training_subset(labels, 0.5, 0, seed=2), a)
    assert np.array_equal(training_subset(labels, 1.0, 0, seed=1), np.arange(40))


def test_augmentation_shift_and_flip_are_seeded() -> None:
    import torch

    from model_runs.pipeline import augment_batch

    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).view(2, 1, 4, 4)
    out1 = augment_batch(x, "shift_flip", 1, torch.Generator().manual_seed(3))
    out2 = augment_batch(x, "shift_flip", 1, torch.Generator().manual_seed(3))
    assert torch.equal(out1, out2)
    # a shift by (dy, dx) with zero padding, written out by hand for every offset
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    crops = [padded[i, :, dy : dy + 4, dx : dx + 4] for i in range(2) for dy in range(3) for dx in range(3)]
    shifted = augment_batch(x, "shift", 1, torch.Generator().manual_seed(4))
    for i in range(2):
        assert any(torch.equal(shifted[i], c) for c in crops[9 * i : 9 * i + 9])
    flipped = augment_batch(x, "flip", 0, torch.Generator().manual_seed(5))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))


def test_label_outside_class_range_changes_nothing(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    good = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=1)))
    run_models(good, tmp_path / "runs" / "tiny", ["base"], EXEC)
    before = _snapshot(tmp_path / "runs")
    bad = load_study(str(study_file(conditions='[[conditions]]\nname = "five"\nnum_classes = 5\n', epochs=1)))
    with pytest.raises(UserError, match=r"image \d+ has label \d outside the class range 0..4"):
        run_models(bad, tmp_path / "runs" / "tiny2", ["five"], EXEC, stop_on_error=True)
    assert not (tmp_path / "runs" / "tiny2").exists()
    assert _snapshot(tmp_path / "runs") == before


def test_folder_from_another_study_is_refused(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    spec = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=1)))
    run_models(spec, tmp_path / "tiny", ["base"], EXEC)
    before = _snapshot(tmp_path / "tiny")
    other = load_study(str(study_file(conditions='[[conditions]]\nname = "base"\n', epochs=1, train_per_class=9)))
    with pytest.raises(UserError, match=r"study\.toml: folder holds a different study definition"):
        run_models(other, tmp_path / "tiny", ["base"], EXEC)
    assert _snapshot(tmp_path / "tiny") == before


def test_corrupt_validation_image_is_one_line_error(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "tree"
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in ("a", "b"):
            for i in range(2):
                (root / split / c).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    (root / "val" / "b" / "1.png").write_bytes(b"garbage")
    path = tmp_path / "folder.toml"
    path.write_text(
        f'name = "folder"\n[dataset]\nname = "imagefolder"\nroot = "{root}"\nresize = 10\ncrop = 8\n'
        '[recipe]\narch = "small_cnn"\nepochs = 1\nbatch_size = 2\neval_batch_size = 2\n[[conditions]]\nname = "base"\n'
    )
    spec = load_study(str(path))
    execution = Execution(device="cpu", threads=1, quiet=True, loader_workers=1)
    with pytest.raises(UserError) as err:
        run_models(spec, tmp_path / "runs" / "folder", ["base"], execution, stop_on_error=True)
    message = str(err.value)
    print(message)
    assert "\n" not in message
    assert message.startswith(f"{root / 'val' / 'b' / '1.png'}: unreadable or corrupt image")
    study = open_study(tmp_path / "runs" / "folder")
    assert study.committed_epochs("base") == []
    assert study.run_info("base")["status"] == "failed"


def _tree(root: Path, n: int = 3, size: int = 14) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for c in ("a", "b", "c"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                level = {"a": 40, "b": 128, "c": 220}[c]
                pixels = np.clip(rng.normal(level, 30, (size, size + i, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")


def test_image_files_train_the_same_with_any_number_of_loader_workers(tmp_path: Path) -> None:
    """Random-resized crops and flips are seeded per (seed, epoch, image): worker processes change nothing."""
    _tree(tmp_path / "tree")
    path = tmp_path / "files.toml"
    path.write_text(
        f'name = "files"\n[dataset]\nname = "imagefolder"\nroot = "{tmp_path / "tree"}"\nresize = 12\ncrop = 10\n'
        '[recipe]\narch = "small_cnn"\nepochs = 2\nbatch_size = 4\neval_batch_size = 4\nlr = 0.05\nsave_train_decisions = true\n'
        '[[conditions]]\nname = "base"\n'
    )
    spec = load_study(str(path))
    for workers in (0, 2):
        execution = Execution(device="cpu", threads=1, quiet=True, loader_workers=workers)
        assert run_models(spec, tmp_path / f"w{workers}" / "files", ["base"], execution)[0].status == "complete"
    a, b = (open_study(tmp_path / f"w{w}" / "files") for w in (0, 2))
    assert a.images["image_id"].tolist()[:2] == ["val/a/0.png", "val/a/1.png"]
    assert np.array_equal(a.epoch_decisions("base").prediction, b.epoch_decisions("base").prediction)
    assert a.train_decisions_table("base").equals(b.train_decisions_table("base"))
    assert [e["train_loss"] for e in a.run_info("base")["epochs"][1:]] == [e["train_loss"] for e in b.run_info("base")["epochs"][1:]]


def test_evaluation_only_study_from_local_weights(tmp_path: Path, study_file: Callable[..., Path]) -> None:
    import torch

    trained = load_study(str(study_file(name="src", conditions='[[conditions]]\nname = "base"\n', epochs=2)))
    run_models(trained, tmp_path / "src", ["base"], EXEC)
    state = torch.load(tmp_path / "src" / "models" / "base" / "checkpoints" / "epoch-0002.pt", weights_only=True)
    torch.save(state["model"], tmp_path / "weights.pth")
    zoo = load_study(str(study_file(name="zoo", conditions=f'[[conditions]]\nname = "mine"\nweights = "{tmp_path / "weights.pth"}"\n', epochs=0)))
    out = run_models(zoo, tmp_path / "zoo", ["mine"], EXEC)
    assert out[0].status == "complete"
    study = open_study(tmp_path / "zoo")
    e = study.epoch_decisions("mine")
    assert e.epochs.tolist() == [0]
    assert np.array_equal(e.prediction[0], open_study(tmp_path / "src").epoch_decisions("base").prediction[-1])
    assert study.probabilities("mine").shape == (60, 10)
    assert not (study.model_dir("mine") / "checkpoints").exists()


def test_data_root_for_a_builtin_dataset_is_refused(study_file: Callable[..., Path]) -> None:
    with pytest.raises(UserError, match="--data-root: dataset 'digits' has no 'root' option"):
        load_study(str(study_file()), {"root": "/data"})
