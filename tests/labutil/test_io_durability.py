"""Durability of the atomic writes, observed as the order of writes, fsyncs and renames.

Timing cannot show a missing fsync; the order of the system calls can. The tests record every
`os.fsync` (with the path its descriptor points at), `os.replace` and directory fsync.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from labutil import io


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (path of the descriptor) and replace (source -> target), in order."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        log.append(("replace", f"{Path(src).name}->{Path(dst)}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path: Path, calls) -> None:  # noqa: ANN001
    target = tmp_path / "a.json"
    io.atomic_write_bytes(target, b"{}\n")
    assert [kind for kind, _ in calls] == ["fsync", "replace", "fsync"]
    tmp_name = Path(calls[0][1]).name
    assert tmp_name.startswith(".a.json.") and tmp_name.endswith(".tmp")  # the temporary file, not the target
    assert calls[1] == ("replace", f"{tmp_name}->{target}")
    assert calls[2] == ("fsync", str(tmp_path))
    assert target.read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_sync_dir_false_leaves_only_the_folder_fsync_out(tmp_path: Path, calls) -> None:  # noqa: ANN001
    io.atomic_write_bytes(tmp_path / "b", b"x", sync_dir=False)
    assert [kind for kind, _ in calls] == ["fsync", "replace"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "c.txt"
    target.write_text("old")

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        io.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_restricted_mode_is_set_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "private.json"
    seen: list[int] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        seen.append(os.stat(src).st_mode & 0o777)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    io.atomic_write_bytes(target, b"secret", mode=0o600)
    assert seen == [0o600] and (target.stat().st_mode & 0o777) == 0o600


def test_stimulus_set_files_are_all_synced_before_the_set_appears(tmp_path: Path, calls) -> None:  # noqa: ANN001
    from stimuli.sets import write_set

    stimuli = pd.DataFrame({"stim_id": ["s1", "s2"], "source_image_id": ["a", "b"], "label": [0, 1],
                            "class_name": ["c0", "c1"], "n_correct": [2, 0], "n_models": [2, 2],
                            "difficulty": ["trivial", "impossible"]})
    trials = pd.DataFrame({"trial": [1], "phase": ["test"], "pair_id": [1], "left_stim": ["s1"],
                           "right_stim": ["s2"], "impossible_side": ["right"]})
    out = tmp_path / "sets" / "x"
    write_set(out, {"kind": "2afc"}, stimuli, trials, {"s1": b"png1", "s2": b"png2"})
    final = [i for i, (kind, arg) in enumerate(calls) if kind == "replace" and arg.endswith(f"->{out}")]
    assert len(final) == 1
    before = {Path(arg).name for kind, arg in calls[: final[0]] if kind == "fsync"}
    assert {"s1.png", "s2.png", "stimuli.tsv", "trials.tsv", "images"} <= before
    assert any(kind == "replace" and arg.endswith("set.json") for kind, arg in calls[: final[0]])
    assert calls[final[0] + 1] == ("fsync", str(out.parent))
