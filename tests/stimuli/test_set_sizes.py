"""Set sizes left out are what the candidates give (at most the paper's); too large ones name the option to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import UserError, run_cli
from model_runs.store import Study
from stimuli.build import build_2afc, build_questionnaire
from stimuli.cli import main
from stimuli.sizes import sizes_2afc, sizes_questionnaire
from stimuli.sources import from_study

from stimuli_data import synthetic_pixels

# counts_design() with tolerance 1: 50 trivial (11 or 10 of 11 right), 30 in-between, 40 impossible (0 or 1)
AFTER = {"trivial": 50, "in-between": 30, "impossible": 40, "total": 120}


def _source(study: Study):  # noqa: ANN202
    return from_study(study.path, image_source=synthetic_pixels)


def test_paper_sizes_when_the_source_has_enough() -> None:
    big = {"trivial": 5000, "in-between": 4000, "impossible": 1000, "total": 10000}
    assert (sizes_2afc(big, None, None).test, sizes_2afc(big, None, None).practice) == (149, 6)
    q = sizes_questionnaire(big, None, None, seed=0)
    assert (q.test, q.practice) == (100, 6)


def test_small_source_sizes_follow_the_candidates() -> None:
    s = sizes_2afc(AFTER, None, None)  # 40 pairs possible: 4 practice (one per 10), 36 test
    assert (s.test, s.practice, s.defaulted) == (36, 4, ("--pairs", "--practice-pairs"))
    s = sizes_2afc(AFTER, 30, None)  # practice takes what --pairs leaves, at most 6
    assert (s.test, s.practice, s.defaulted) == (30, 4, ("--practice-pairs",))
    s = sizes_2afc(AFTER, 38, None)
    assert (s.test, s.practice) == (38, 2)
    q = sizes_questionnaire(AFTER, None, None, seed=0)  # 30 in-between: 6 practice (2 each), 28 per difficulty
    assert (q.test, q.practice) == (28, 6)
    q = sizes_questionnaire(AFTER, 29, None, seed=0)  # one in-between left per difficulty for practice
    assert (q.test, q.practice) == (29, 3)


def test_default_build_uses_the_default_tolerance_and_records_it(study: Study, tmp_path: Path) -> None:
    sset = build_2afc(_source(study), tmp_path / "p", seed=0)
    assert sset.meta["provenance"]["tolerance"] == DEFAULT_TOLERANCE == 1
    assert sset.meta["design"]["test_pairs"] == 36 and sset.meta["design"]["practice_pairs"] == 4
    assert sset.meta["provenance"]["sizes_by_default"] == ["--pairs", "--practice-pairs"]
    q = build_questionnaire(_source(study), tmp_path / "q", seed=0)
    assert q.meta["design"]["test_per_difficulty"] == 28 and q.meta["design"]["practice_images"] == 6
    assert len(q.test_trials()) == 84


def test_cli_prints_candidates_and_choice(study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["build-2afc", "--study", str(study.path), "--sets-dir", str(tmp_path / "sets"), "--name", "a"]
    from stimuli import sources

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sources._DatasetPixels, "__call__", lambda self, i: synthetic_pixels(i))
        assert run_cli(main, args) == 0
    out = capsys.readouterr().out
    assert ("candidates after exclusions (tolerance 1): 50 trivial, 30 in-between, 40 impossible; chose 36 test "
            "pairs + 4 practice pairs (as many as the candidates give, at most the paper's 149 + 6; set them with "
            "--pairs and --practice-pairs)") in out


def test_too_large_sizes_name_the_option_and_its_largest_value(study: Study, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"use --pairs 34 or fewer or --practice-pairs 0 or fewer") as err:
        build_2afc(_source(study), tmp_path / "p", n_test=40, n_practice=6, seed=0)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=r"use --per-difficulty 28 or fewer; leaving both"):
        build_questionnaire(_source(study), tmp_path / "q", n_per_difficulty=31, n_practice=6, seed=0)
    with pytest.raises(UserError, match=r"use --per-difficulty 28 or fewer or --practice 3 or fewer;"):
        build_questionnaire(_source(study), tmp_path / "q", n_per_difficulty=29, n_practice=6, seed=0)
    with pytest.raises(UserError, match=r"use --per-difficulty 30 or fewer; leaving both"):
        build_questionnaire(_source(study), tmp_path / "q", n_per_difficulty=31, seed=0)
    with pytest.raises(UserError, match="raise --tolerance"):
        _no_impossible(study, tmp_path)
    assert not (tmp_path / "p").exists() and not (tmp_path / "q").exists()


def _no_impossible(study: Study, tmp_path: Path) -> None:
    """A source whose every image is trivial: no pair can be built."""
    src = _source(study)
    src.images["n_correct"] = src.images["n_models"]
    build_2afc(src, tmp_path / "p", seed=0)


def test_build_lines_name_left_out_images_and_the_option_that_brings_them_in(study: Study, tmp_path: Path) -> None:
    from stimuli import exclusions as ex
    from stimuli.sizes import built_lines

    src = _source(study)
    listed = tmp_path / "errors.txt"
    listed.write_text("".join(f"{i}\n" for i in src.images["source_image_id"][:3]))  # 3 trivial images (40 x 11 first)
    sset = build_2afc(src, tmp_path / "p", n_test=10, n_practice=0, exclusions=[ex.label_errors_from_file(src, listed)])
    lines = built_lines(sset.meta)
    assert lines[0] == (f"left out 3 of 120 images: label errors (errors.txt) 3 (3 trivial, 0 in-between, 0 impossible; "
                        f"no --label-errors {listed.resolve()} brings them in)")
    assert lines[1] == ("candidates after exclusions (tolerance 1): 47 trivial, 30 in-between, 40 impossible; "
                        "chose 10 test pairs + 0 practice pairs (as asked)")
