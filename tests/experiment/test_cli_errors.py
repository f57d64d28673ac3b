"""The programs as a user meets them on the command line: --help, and one-line errors (exit 2)
that leave every file under the data root byte for byte as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment_driver import run
from experiment_fixtures import make_2afc_set, register, tree_bytes
from participants.layout import SessionWriter, beh_path
from stimuli.sets import read_set


@pytest.fixture()
def lab(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    register(data, 1)
    register(data, 1, consent=False)  # sub-002: registered, no consent record
    home = tmp_path / "home"
    home.mkdir()
    return {"data": data, "home": home, "tmp": tmp_path, "pairs": make_2afc_set(tmp_path / "pairs", 1, 3, size=16).path}


def _args(lab: dict[str, Path], pid: str = "sub-001", *extra: str) -> list[str]:
    return ["--participant", pid, "--session", "1", "--stimuli", str(lab["pairs"]), "--data-root", str(lab["data"]),
            "--private-root", str(lab["tmp"] / "private"), *extra]


@pytest.mark.parametrize("module", ["two_afc", "questionnaire"])
def test_help_explains_every_option(module: str, tmp_path: Path) -> None:
    r = run(module, ["--help"], tmp_path)
    assert r.returncode == 0
    for opt in ("--participant", "--session", "--stimuli", "--data-root", "--config", "--seed", "--resume",
                "--pilot", "--simulate", "--sim-seed", "--sim-rt-scale", "--allow-windowed", "--no-calibration",
                "--allow-frame-rate-mismatch", "--allow-repeat", "--mirror"):
        assert opt in r.stdout


@pytest.mark.parametrize("case, expected", [
    ("unregistered", "sub-003 is not registered"),
    ("no consent", "sub-002 has no consent record in"),
    ("repeat", "sub-001 already saw stimulus set 'pairs' in ses-01 (aborted, 0 trials); pass --allow-repeat"),
    ("windowed", "monitor.fullscreen is false in lab.toml: a windowed session; refused outside --pilot unless "
                 "you pass --allow-windowed"),
    ("no calibration", "monitor 'lab-monitor' has no psychopy.monitors calibration"),
    ("tampered", "stimulus set fails verification"),
    ("complete", "session already complete"),
    ("config", "unknown key 'keys.lefft'"),
    ("observer", "not a named observer"),
])
def test_refused_with_one_line_and_nothing_changed(lab: dict[str, Path], case: str, expected: str) -> None:
    pid, extra = "sub-001", []
    session = "1"
    if case == "unregistered":
        pid = "sub-003"
    elif case == "no consent":
        pid = "sub-002"
    elif case == "repeat":
        w = SessionWriter(beh_path(lab["data"], "sub-001", 1, "2afc"), "2afc")
        w.start({"TrialOrder": [1, 2, 3, 4], "TrialOrderSeed": 1,
                 "StimulusSet": {"Name": "pairs", "TablesSHA256": read_set(lab["pairs"]).tables_sha256}})
        w.set_status("aborted")
        session = "2"
    elif case == "windowed":
        cfg = lab["tmp"] / "lab.toml"
        cfg.write_text("[monitor]\nfullscreen = false\n")
        extra = ["--config", str(cfg), "--no-calibration"]
    elif case == "no calibration":
        pass
    elif case == "tampered":
        png = sorted((lab["pairs"] / "images").glob("*.png"))[0]
        data = bytearray(png.read_bytes())
        data[-20] ^= 0xFF  # one byte of one PNG
        png.write_bytes(bytes(data))
    elif case == "complete":
        w = SessionWriter(beh_path(lab["data"], "sub-001", 1, "2afc"), "2afc")
        w.start({"TrialOrder": [1, 2, 3, 4], "TrialOrderSeed": 1})
        w.set_status("complete")
    elif case == "config":
        cfg = lab["tmp"] / "lab.toml"
        cfg.write_text('[keys]\nlefft = "f"\n')
        extra = ["--config", str(cfg)]
    elif case == "observer":
        extra = ["--simulate", "superhuman"]
    def tree() -> dict[str, bytes]:  # everything but PsychoPy's own preferences in HOME
        return {k: v for k, v in tree_bytes(lab["tmp"]).items() if not k.startswith("home/")}

    before = tree()
    args = _args(lab, pid, *extra)
    args[args.index("--session") + 1] = session
    r = run("two_afc", args, lab["home"], timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and expected in r.stderr
    assert "Traceback" not in r.stderr
    assert tree() == before  # data root, private folder, stimulus set: byte for byte


def test_skip_if_complete_leaves_a_complete_session_alone(lab: dict[str, Path]) -> None:
    w = SessionWriter(beh_path(lab["data"], "sub-001", 1, "2afc"), "2afc")
    w.start({"TrialOrder": [1, 2, 3, 4], "TrialOrderSeed": 1})
    w.set_status("complete")
    before = tree_bytes(lab["data"])
    r = run("two_afc", _args(lab, "sub-001", "--skip-if-complete", "--simulate", "demo"), lab["home"], timeout=60)
    assert r.returncode == 0, r.stderr
    assert "already complete: nothing to do" in r.stdout
    assert tree_bytes(lab["data"]) == before
