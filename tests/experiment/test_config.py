"""The lab configuration: defaults, overrides, one-line errors naming file and key, visual angle."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment.config import DEFAULT_CONFIG, load_config, visual_angle_deg
from labutil.errors import UserError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "lab.toml"
    p.write_text(text)
    return p


def test_defaults_are_the_papers_instructions_and_a_complete_config() -> None:
    cfg = load_config()
    assert cfg.files == (str(DEFAULT_CONFIG),)
    assert "more difficult for a neural network to classify correctly" in cfg.two_afc.instructions
    assert (cfg.keys.left, cfg.keys.right, cfg.keys.quit) == ("left", "right", "escape")
    assert cfg.monitor.resolution_px == (1920, 1080) and cfg.monitor.fullscreen is True
    assert cfg.questionnaire.q2_keys == ("1", "2", "3") and cfg.questionnaire.q3_keys == ("1", "2", "3")
    assert cfg.monitor.image_size_deg == 0.0 and cfg.two_afc.counterbalance_sides is True
    assert cfg.two_afc.swap_keys is False and cfg.two_afc.practice_feedback is False


def test_a_lab_file_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "[monitor]\nwidth_cm = 40.5\n[keys]\nleft = \"f\"\nright = \"j\"\n"))
    assert cfg.monitor.width_cm == 40.5 and cfg.monitor.distance_cm == 57.0
    assert (cfg.keys.left, cfg.keys.right) == ("f", "j")
    assert cfg.files[-1] == str(tmp_path / "lab.toml")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[monitor]\nwidht_cm = 40\n", "unknown key 'monitor.widht_cm'"),
        ("[monitr]\nwidth_cm = 40\n", "unknown section [monitr]"),
        ("[monitor]\nwidth_cm = -3\n", "monitor.width_cm must be a number > 0"),
        ("[monitor]\nwidth_cm = \"53\"\n", "monitor.width_cm must be a number"),
        ("[monitor]\nresolution_px = [1920]\n", "monitor.resolution_px must be [width, height]"),
        ("[monitor]\nfullscreen = 1\n", "monitor.fullscreen must be true or false"),
        ("[monitor]\nbackground = [0, 0, 2]\n", "monitor.background must be an rgb list"),
        ("[keys]\nleft = \"LeftArrow\"\n", "keys.left must be a key name"),
        ("[keys]\nleft = \"right\"\n", "key 'right' is used twice on the 2AFC trial"),
        ("[questionnaire]\nten_plus_key = \"5\"\n", "key '5' is used twice on the questionnaire Q1"),
        ("[questionnaire]\nq3_keys = [\"1\", \"1\", \"2\"]\n", "questionnaire.q3_keys must be three different keys"),
        ("[questionnaire]\nmain_category_keys = [\"1\", \"2\", \"3\"]\n",
         "'questionnaire.main_category_keys' is no longer read: it is now questionnaire.q2_keys, in the order no, maybe, yes"),
        ("[questionnaire]\nback_key = \"3\"\n", "key '3' is used twice on the questionnaire Q1"),
        ("[monitor]\nimage_size_deg = -1\n", "monitor.image_size_deg must be a number >= 0"),
        ("[two_afc]\nkey_reminder = \"{lft}\"\n", "two_afc.key_reminder must be text whose placeholders"),
        ("[two_afc]\nbreak_every = 2.5\n", "two_afc.break_every must be an integer"),
        ("[two_afc]\ninstructions = \"press {lefty}\"\n", "two_afc.instructions must be text whose placeholders"),
        ("[monitor\n", "not valid TOML"),
    ],
)
def test_bad_files_give_one_line_errors_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg and expected in msg and "\n" not in msg


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_visual_angle_of_the_default_lab() -> None:
    # 224 px on 53 cm / 1920 px = 6.18333 cm at 57 cm: 2 atan(3.091667 / 57) = 6.2093 deg (by hand).
    assert visual_angle_deg(224, 53.0, 1920, 57.0) == pytest.approx(6.2093, abs=1e-4)
    # 1 cm at 57.29 cm is ~1 deg (the rule of thumb behind 57 cm viewing distances).
    assert visual_angle_deg(10, 10.0, 100, 57.2987) == pytest.approx(1.0, abs=1e-4)


def test_visual_angle_agrees_with_psychopy_monitor() -> None:
    from psychopy.tools.monitorunittools import pix2deg

    from experiment.config import make_monitor

    mon = make_monitor(load_config().monitor)
    ours = visual_angle_deg(224, mon.getWidth(), mon.getSizePix()[0], mon.getDistance())
    # PsychoPy's pix2deg uses the small-angle approximation: within 0.1 % at 6 deg.
    assert ours == pytest.approx(float(pix2deg(224, mon)), rel=1e-3)
    assert ours == pytest.approx(6.2093, abs=1e-4)
