"""Durability of the session file, observed as system calls: every trial row is on disk (its file
fsynced after the write) before `append` returns, and so is the repair of a torn last line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from participants.layout import (
    SessionWriter,
    beh_path,
    read_session,
    repair_truncated_tail,
)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """Every fsync: (kind, path of its descriptor, size of that file when synced)."""
    log: list[tuple[str, str, int]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return log


def _row(trial: int) -> dict[str, object]:
    return {"trial": trial, "phase": "test", "pair_id": trial, "left_stim": f"t{trial}", "right_stim": f"i{trial}",
            "impossible_side": "right", "response_side": "right", "chosen_stim": f"i{trial}", "correct": True,
            "rt": 0.5, "onset": float(trial)}


def _started(tmp_path: Path) -> tuple[Path, SessionWriter]:
    tsv = beh_path(tmp_path, "sub-001", 1, "2afc")
    w = SessionWriter(tsv, "2afc")
    w.start({"TaskName": "2afc"})
    return tsv, w


def test_each_appended_row_is_fsynced_with_the_row_in_the_file(tmp_path: Path, calls) -> None:
    tsv, w = _started(tmp_path)
    for trial in (1, 2, 3):
        calls.clear()
        w.append(_row(trial))
        size = tsv.stat().st_size
        assert ("fsync", str(tsv), size) in calls, f"trial {trial} returned before its row was synced"
    calls.clear()
    w.append_rows([_row(4), _row(5)])
    assert [c for c in calls if c[1] == str(tsv)] == [("fsync", str(tsv), tsv.stat().st_size)]  # one fsync for both
    assert read_session(tsv).trials["trial"].tolist() == [1, 2, 3, 4, 5]


def test_the_repair_of_a_torn_line_is_fsynced(tmp_path: Path, calls) -> None:
    tsv, w = _started(tmp_path)
    w.append(_row(1))
    whole = tsv.stat().st_size
    with open(tsv, "a") as fh:
        fh.write("2\ttest\t2\tt2")  # a kill mid-row
    calls.clear()
    assert repair_truncated_tail(tsv) == len("2\ttest\t2\tt2")
    assert ("fsync", str(tsv), whole) in calls
