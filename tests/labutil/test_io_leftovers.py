"""labutil.io: temporary names carry the writer's pid, leftovers of dead writers (only) are
removed, and a folder is swapped into place in one atomic step."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labutil.io as lio


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_names_are_recognisable_and_carry_the_pid(tmp_path: Path) -> None:
    name = lio.temp_name(tmp_path / "run.json").name
    assert name.startswith(".run.json.") and name.endswith(".tmp") and f"-{os.getpid()}-" in name
    assert name == f".run.json.{lio._host_tag()}-{os.getpid()}-{name.split('-')[-1]}"
    assert lio.is_temp_name(name) and not lio.is_temp_name("run.json") and not lio.is_temp_name(".lock")
    folder = lio.make_temp_dir(tmp_path / "set")
    old = os.umask(0o022)
    os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~old  # like any folder, not mkdtemp's 0700


def test_only_dead_or_old_writers_leftovers_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f".a.{_dead_pid()}-0123456789ab.tmp"
    live = tmp_path / f".b.{os.getpid()}-0123456789ab.tmp"
    old_legacy = tmp_path / ".c.k3j_x9qa.tmp"
    new_legacy = tmp_path / ".d.0123456789ab.tmp"
    keep = tmp_path / "data.tsv"
    for p in (dead, live, old_legacy, new_legacy, keep):
        p.write_text("x")
    past = time.time() - 2 * lio.LEGACY_TEMP_AGE_S
    os.utime(old_legacy, (past, past))
    assert lio.remove_leftovers(tmp_path, legacy=False) == [dead]  # a folder the user chose
    assert old_legacy.exists()
    assert lio.remove_leftovers(tmp_path) == [old_legacy]
    assert {p.name for p in tmp_path.iterdir()} == {live.name, new_legacy.name, keep.name}
    assert set(lio.remove_leftovers(tmp_path, all_temp=True)) == {live, new_legacy}  # under a lock
    assert [p.name for p in tmp_path.iterdir()] == [keep.name]


def test_another_hosts_temporary_file_counts_only_when_old(tmp_path: Path) -> None:
    """On a shared file system a pid of another machine says nothing here: only age does."""
    other = tmp_path / f".a.otherhost{lio._host_tag()[:5]}-{_dead_pid()}-0123456789ab.tmp"
    other.write_text("x")
    mine = tmp_path / f".b.{lio._host_tag()}-{_dead_pid()}-0123456789ab.tmp"
    mine.write_text("x")
    assert lio.remove_leftovers(tmp_path) == [mine]
    past = time.time() - 2 * lio.LEGACY_TEMP_AGE_S
    os.utime(other, (past, past))
    assert lio.remove_leftovers(tmp_path, legacy=False) == [other]


def test_recursive_search_finds_nested_leftovers_but_not_inside_a_temp_folder(tmp_path: Path) -> None:
    temp = tmp_path / f".x.{_dead_pid()}-00ff00ff00ff.tmp"
    (temp / "inner").mkdir(parents=True)
    (temp / "inner" / ".y.1-00ff00ff.tmp").write_text("x")
    (tmp_path / "checkpoints").mkdir()
    nested = tmp_path / "checkpoints" / f".epoch-0001.pt.{_dead_pid()}-00ff00ff00ff.tmp"
    nested.write_text("x")
    assert lio.find_temp_files(tmp_path, recursive=True) == sorted([temp, nested])
    assert lio.find_temp_files(tmp_path) == [temp]


def test_exchange_and_replace_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("new")
    (b / "f").write_text("old")
    assert lio.exchange_paths(a, b)  # ext4 / tmpfs / xfs / btrfs support RENAME_EXCHANGE
    assert (b / "f").read_text() == "new" and (a / "f").read_text() == "old"
    (a / "f").write_text("newer")
    lio.replace_folder(a, b, aside=tmp_path / "aside")
    assert (b / "f").read_text() == "newer" and (a / "f").read_text() == "new" and not (tmp_path / "aside").exists()
    monkeypatch.setattr(lio, "exchange_paths", lambda x, y: False)  # a file system without it
    (a / "f").write_text("newest")
    lio.replace_folder(a, b, aside=tmp_path / "aside")
    assert (b / "f").read_text() == "newest" and (tmp_path / "aside" / "f").read_text() == "newer"
    lio.replace_folder(tmp_path / "aside", tmp_path / "c", aside=tmp_path / "unused")
    assert (tmp_path / "c" / "f").read_text() == "newer"
    monkeypatch.undo()
    with pytest.raises(OSError) as err:  # a missing path is an error, not "unsupported"
        lio.exchange_paths(tmp_path / "missing", b)
    assert err.value.errno == 2
