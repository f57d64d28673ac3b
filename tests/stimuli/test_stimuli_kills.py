"""A set build killed at every write, then run again, gives the uninterrupted build's set byte for
byte and removes the killed build's temporary folder; `verify` names such a leftover; a set is
group-readable like every other output (0777/0666 less the umask)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from labutil.errors import run_cli
from kill_points import killed_at
from labutil.io import find_temp_files
from model_runs.store import Study
from stimuli.build import build_2afc
from stimuli.cli import main
from stimuli.sources import from_study

from stimuli_data import synthetic_pixels



def _tree(root: Path) -> dict[str, bytes]:
    """Every file's bytes; set.json without its `created` time stamp."""
    out = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    out["set.json"] = re.sub(rb'\n  "created": "[^"]*",', b"", out["set.json"])
    return out


def _build(study: Study, out: Path) -> None:
    build_2afc(from_study(study.path, image_source=synthetic_pixels), out, n_test=3, n_practice=1, tolerance=1, seed=0)


def _killed_build(study: Study, out: Path, at: int) -> bool:
    """The work in a child killed before its `at`-th write event (tests/kill_points.py)."""
    return killed_at(at, lambda: _build(study, out))


def test_a_build_killed_at_every_write_then_rebuilt_equals_the_uninterrupted(study: Study, tmp_path: Path) -> None:
    _build(study, tmp_path / "ref" / "s")
    reference = _tree(tmp_path / "ref" / "s")
    at, left_by_kills = 1, 0
    while True:
        sets = tmp_path / f"kill{at}"
        if not _killed_build(study, sets / "s", at):
            break
        left_by_kills += bool(find_temp_files(sets))
        if not (sets / "s").exists():
            _build(study, sets / "s")  # the re-run removes the killed build's temporary folder
        assert _tree(sets / "s") == reference, at
        assert find_temp_files(sets) == [], at
        at += 1
    # 8 images + 2 tables (fsync each), set.json (fsync, rename, folder fsync), the images
    # folder's fsync, the set's rename and its folder's fsync
    assert at - 1 == 8 + 2 + 3 + 1 + 2
    assert left_by_kills >= 10


def test_verify_names_a_killed_builds_leftover_and_the_next_build_removes_it(study: Study, tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    sets = tmp_path / "sets"
    assert _killed_build(study, sets / "a", 3)
    (stray,) = find_temp_files(sets)
    assert stray.name.startswith(".a.") and stray.name.endswith(".tmp")
    _build(study, sets / "b")
    capsys.readouterr()
    stray_b = sets / f".b.{os.getpid()}-0123456789ab.tmp"  # a live writer's: reported, never removed
    stray_b.mkdir()
    assert run_cli(main, ["verify", str(sets / "b")]) == 0
    err = capsys.readouterr().err
    assert f"stray: {stray_b}" in err and str(stray) not in err  # the build of b removed a's leftover
    assert not stray.exists() and stray_b.exists()


def test_a_set_is_group_readable_like_every_output(study: Study, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _build(study, tmp_path / "sets" / "s")
    finally:
        os.umask(old)
    root = tmp_path / "sets" / "s"
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "images").stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()} == {0o644}
