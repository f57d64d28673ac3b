"""`verify` catches a changed byte and design problems; `preview` draws the pairs framed by difficulty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labutil.errors import run_cli
from model_runs.store import Study
from stimuli.build import build_2afc, build_questionnaire
from stimuli.checks import check_set
from stimuli.cli import main
from stimuli.preview import COLOURS, FRAME, PAD
from stimuli.sets import read_set
from stimuli.sources import from_study

from stimuli_data import synthetic_pixels


@pytest.fixture
def pair_set(study: Study, tmp_path: Path) -> Path:
    src = from_study(study.path, image_source=synthetic_pixels)
    return build_2afc(src, tmp_path / "sets" / "p", n_test=7, n_practice=2, tolerance=1, seed=0).path


def test_verify_ok_then_one_changed_byte_is_named(pair_set: Path, capsys) -> None:  # noqa: ANN001
    assert run_cli(main, ["verify", str(pair_set)]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {pair_set}")
    png = pair_set / "images" / "stim-0005.png"
    data = bytearray(png.read_bytes())
    data[len(data) // 2] ^= 0x01
    png.write_bytes(bytes(data))
    assert run_cli(main, ["verify", str(pair_set)]) == 1
    captured = capsys.readouterr()
    assert f"problem: {png}: checksum mismatch" in captured.err
    assert captured.err.count("problem:") == 1 and "FAILED" in captured.out


def test_verify_finds_missing_and_stray_images(pair_set: Path) -> None:
    (pair_set / "images" / "stim-0002.png").unlink()
    (pair_set / "images" / "extra.png").write_bytes(b"x")
    problems = check_set(str(pair_set))
    assert any(p.startswith(str(pair_set / "images" / "stim-0002.png")) and "missing" in p for p in problems)
    assert any("extra.png: not listed" in p for p in problems)


def test_verify_checks_design_of_built_sets(pair_set: Path) -> None:
    stim = pair_set / "stimuli.tsv"
    df = pd.read_csv(stim, sep="\t", dtype=str, keep_default_na=False)
    trivial = df.index[df["difficulty"] == "trivial"][0]
    df.loc[trivial, "n_correct"] = "5"  # 5/11 is in-between at tolerance 1
    df.to_csv(stim, sep="\t", index=False, lineterminator="\n")
    problems = check_set(str(pair_set))
    assert problems == [f"{stim}: checksum mismatch (table changed since the set was written)",
                        f"{stim}: {df.loc[trivial, 'stim_id']} is 'trivial' but 5/11 correct is 'in-between' at tolerance 1"]


def test_verify_finds_a_consistent_edit_of_the_trial_table_and_stray_files(pair_set: Path) -> None:
    trials = pair_set / "trials.tsv"
    df = pd.read_csv(trials, sep="\t", dtype=str, keep_default_na=False)
    row = df.index[df["phase"] == "test"][0]  # swap the sides of one pair, consistently
    df.loc[row, ["left_stim", "right_stim"]] = df.loc[row, ["right_stim", "left_stim"]].to_numpy()
    df.loc[row, "impossible_side"] = "left" if df.loc[row, "impossible_side"] == "right" else "right"
    df.to_csv(trials, sep="\t", index=False, lineterminator="\n")
    (pair_set / "notes.txt").write_text("x")
    problems = check_set(str(pair_set))
    assert f"{trials}: checksum mismatch (table changed since the set was written)" in problems
    assert f"{pair_set / 'notes.txt'}: not part of a stimulus set" in problems


def test_preview_2afc_frames_pairs_by_difficulty(pair_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "prev.png"
    assert run_cli(main, ["preview", str(pair_set), "--out", str(out), "--thumb", "64", "--columns", "3"]) == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    sset = read_set(pair_set)
    difficulty = dict(zip(sset.stimuli["stim_id"], sset.stimuli["difficulty"]))
    box, line = 64 + 2 * FRAME, 13
    cell_w, cell_h = 2 * box + PAD, line + box + 2 * line + PAD
    head_h = 3 * 24 + PAD
    assert sheet.shape == (head_h + 3 * (cell_h + PAD), PAD + 3 * (cell_w + 2 * PAD), 3)
    for k, t in enumerate(sset.trials.itertuples()):
        x = PAD + (k % 3) * (cell_w + 2 * PAD)
        y = head_h + (k // 3) * (cell_h + PAD) + line
        for j, stim in enumerate((t.left_stim, t.right_stim)):
            assert tuple(sheet[y + 1, x + j * (box + PAD) + 1]) == COLOURS[difficulty[stim]]
        # the image itself sits inside the frame: its top-left pixel is the stimulus' top-left pixel
        left = np.asarray(Image.open(sset.image_path(t.left_stim)).convert("RGB"))
        assert tuple(sheet[y + FRAME, x + FRAME]) == tuple(left[0, 0])


def test_preview_questionnaire_default_location(study: Study, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src = from_study(study.path, image_source=synthetic_pixels)
    q = build_questionnaire(src, tmp_path / "sets" / "q", n_per_difficulty=4, n_practice=3, tolerance=1, seed=0)
    reports = tmp_path / "reports"
    assert run_cli(main, ["preview", str(q.path), "--reports-dir", str(reports), "--thumb", "48"]) == 0
    out = reports / "stimuli" / "q-preview.png"
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    sheet = np.asarray(Image.open(out).convert("RGB"))
    colours = {tuple(c) for c in sheet.reshape(-1, 3)[::7]}
    assert set(COLOURS.values()) <= colours
    assert run_cli(main, ["preview", str(q.path), "--out", str(tmp_path / "x.jpg")]) == 2
