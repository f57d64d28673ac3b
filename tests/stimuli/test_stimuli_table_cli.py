"""Imported per-image tables with an image tree, evaluation rendering, and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labutil.errors import run_cli
from stimuli.cli import main
from model_runs.datasets.base import resize_center_crop
from stimuli.sets import read_set

ROOT = Path(__file__).resolve().parents[2]
TABLE_ARGS = ["--n-correct-column", "models_ok", "--n-models", "11", "--path-column", "filepath",
              "--label-column", "class_index", "--class-column", "wnid"]


def _build(table: Path, sets: Path, *extra: str) -> int:
    return run_cli(main, ["build-2afc", "--table", str(table), *TABLE_ARGS, "--sets-dir", str(sets), *extra])


def test_crop_offsets_hand_computed(tmp_path: Path) -> None:
    # 512 x 256: no resize; centre crop 224 starts at x = (512 - 224) / 2 = 144, y = (256 - 224) / 2 = 16
    yy, xx = np.mgrid[0:256, 0:512]
    img = Image.fromarray(np.stack([xx % 256, yy, xx // 256], axis=-1).astype(np.uint8))
    out = np.asarray(resize_center_crop(img, 256, 224))
    assert out.shape == (224, 224, 3)
    assert tuple(out[0, 0]) == (144, 16, 0) and tuple(out[223, 223]) == ((144 + 223) % 256, 16 + 223, 1)


@pytest.mark.slow  # imports torchvision (several seconds on 2 busy cores)
def test_table_set_renders_what_torchvision_evaluates(jpeg_table: Path, tmp_path: Path) -> None:
    from torchvision import transforms

    assert _build(jpeg_table, tmp_path, "--pairs", "6", "--practice-pairs", "2", "--seed", "3", "--name", "t") == 0
    sset = read_set(tmp_path / "t")
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    root = jpeg_table.parent
    for row in sset.stimuli.itertuples():
        shown = Image.open(sset.path / row.file)
        assert shown.size == (224, 224) and shown.mode == "RGB"
        with Image.open(root / row.source_image_id) as src:
            expected = reference(src.convert("RGB"))
        assert np.array_equal(np.asarray(shown), np.asarray(expected)), row.source_image_id
    prov = sset.meta["provenance"]["source"]
    assert prov["type"] == "table" and prov["columns"]["n_correct"] == "models_ok" and len(prov["sha256"]) == 64
    assert sset.meta["rendering"]["crop"] == 224 and sset.meta["rendering"]["display_scaling"] == "none"


def test_label_error_column_and_row_order(jpeg_table: Path, tmp_path: Path) -> None:
    assert _build(jpeg_table, tmp_path, "--pairs", "8", "--practice-pairs", "0", "--name", "a",
                  "--label-error-column", "label_error") == 0
    sset = read_set(tmp_path / "a")
    flagged = pd.read_csv(jpeg_table).query("label_error == 1")["filepath"]
    assert not set(sset.stimuli["source_image_id"]) & set(flagged)
    assert sset.meta["provenance"]["exclusions"][1]["removed"]["trivial"] == 4
    # the same table with its rows in another order gives the same set
    shuffled = jpeg_table.with_name("shuffled.csv")
    pd.read_csv(jpeg_table).sample(frac=1.0, random_state=1).to_csv(shuffled, index=False)
    assert _build(shuffled, tmp_path, "--pairs", "8", "--practice-pairs", "0", "--name", "b", "--image-root",
                  str(jpeg_table.parent), "--label-error-column", "label_error") == 0
    for name in ("stimuli.tsv", "trials.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_missing_source_image_is_named_and_nothing_written(jpeg_table: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    victim = jpeg_table.parent / "val/n00000001/img_004.JPEG"  # trivial (i < 20)
    victim.unlink()
    code = _build(jpeg_table, tmp_path, "--pairs", "18", "--practice-pairs", "2", "--exclude-classes", "none", "--name", "m")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "img_004.JPEG not found" in err
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.*"))


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--n-correct-column", "nope"], "no column 'nope'"),
        (["--epoch", "3"], "--epoch only applies with --study"),
        (["--tolerance", "6"], "--tolerance 6 is too large for 11 models"),
        # --practice-pairs left out takes what --pairs leaves (none here); the error names the option and its largest value
        (["--pairs", "30"], "not enough candidates for 30 test + 0 practice pairs: need 30 trivial and 30 impossible"),
        (["--pairs", "30"], "; use --pairs 20 or fewer; leaving both size options out takes what the source gives"),
        (["--pairs", "15", "--practice-pairs", "6"], "use --pairs 14 or fewer or --practice-pairs 5 or fewer"),
        (["--label-error-column", "wnid"], "column 'wnid' must be 1/0"),
        (["--exclude-classes", "/nonexistent/list.txt"], "/nonexistent/list.txt: class list file not found"),
        (["--name", "../escape"], "--name '../escape'"),
    ],
)
def test_user_errors_are_one_line(jpeg_table: Path, tmp_path: Path, capsys, extra: list[str], message: str) -> None:  # noqa: ANN001
    code = _build(jpeg_table, tmp_path / "sets", *extra)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "sets").exists() or not any((tmp_path / "sets").iterdir())


def test_cli_study_source_and_existing_name(study, tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from stimuli_data import synthetic_pixels
    from stimuli import sources

    monkeypatch.setattr(sources._DatasetPixels, "__call__", lambda self, i: synthetic_pixels(i))
    args = ["build-questionnaire", "--study", str(study.path), "--per-difficulty", "5", "--practice", "3",
            "-k", "1", "--seed", "7", "--sets-dir", str(tmp_path / "sets")]
    assert run_cli(main, args) == 0
    out = capsys.readouterr().out
    path = tmp_path / "sets" / "questionnaire-synthetic-seed7"
    assert f"wrote {path}" in out and read_set(path).meta["seed"] == 7
    assert run_cli(main, args) == 2
    assert "stimulus set already exists" in capsys.readouterr().err


@pytest.mark.subprocess
def test_module_entry_point_exit_status(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "stimuli", "verify", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path / 'none'}: not a stimulus set (no set.json)"
    helped = subprocess.run([sys.executable, "-m", "stimuli", "build-2afc", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert helped.returncode == 0 and "--exclude-classes" in helped.stdout and "--sets-dir" in helped.stdout

