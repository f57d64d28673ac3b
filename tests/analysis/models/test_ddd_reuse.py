"""analysis.models.ddd_reuse: a finished DDD analysis serves the report only while it is exactly
what a fresh analysis would give (same store state, options and code)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.models.ddd import DDDOptions, analyse_study
from analysis.models.ddd_reuse import RESULT_FILE, reuse_result
from labutil.io import read_json


def _opts(**kw) -> DDDOptions:
    return DDDOptions(**({"tolerance": 1, "n_boot": 50, "progress": False} | kw))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != RESULT_FILE}


def _same_result(a, b) -> None:
    """Two DDDResults with the same headline, notes, figures (names, captions) and tables (frames)."""
    assert json.dumps(a.headline, sort_keys=True, default=repr) == json.dumps(b.headline, sort_keys=True, default=repr)  # NaN too
    assert a.notes == b.notes
    assert [(f.name, f.caption) for f in a.figures] == [(f.name, f.caption) for f in b.figures]
    assert [t.name for t in a.tables] == [t.name for t in b.tables]
    for ta, tb in zip(a.tables, b.tables):
        pd.testing.assert_frame_equal(ta.frame, tb.frame)


def test_reused_result_is_the_fresh_analysis(structured_study, tmp_path):
    fresh = analyse_study(structured_study.path, tmp_path / "fresh", _opts())
    assert (tmp_path / "fresh" / RESULT_FILE).is_file()
    reused = reuse_result(tmp_path / "fresh", structured_study.path, _opts(), tmp_path / "copy")
    assert reused is not None
    _same_result(reused, fresh)
    assert reused.out_dir == tmp_path / "copy" and all(f.png.parent == tmp_path / "copy" for f in reused.figures)
    # every file, headline.json included, as a fresh analysis into that folder writes it
    again = analyse_study(structured_study.path, tmp_path / "again", _opts())
    assert _files(tmp_path / "copy") == _files(tmp_path / "again")
    assert read_json(tmp_path / "copy" / "headline.json")["files"] == read_json(tmp_path / "again" / "headline.json")["files"]
    _same_result(reused, again)


def test_other_options_are_analysed_afresh(structured_study, tmp_path):
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    for other in (_opts(tolerance=0), _opts(n_boot=60), _opts(seed=1), _opts(figures={"histogram"})):
        assert reuse_result(tmp_path / "ddd", structured_study.path, other, tmp_path / "copy") is None
        assert not (tmp_path / "copy").exists()  # nothing written
    # the progress bar changes nothing
    assert reuse_result(tmp_path / "ddd", structured_study.path, _opts(progress=True), tmp_path / "copy") is not None


def test_a_changed_store_is_analysed_afresh(structured_study, tmp_path):
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    run_json = next(structured_study.path.rglob("run.json"))
    st = run_json.stat()
    os.utime(run_json, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched
    assert reuse_result(tmp_path / "ddd", structured_study.path, _opts(), tmp_path / "copy") is None
    # after a new analysis of the store as it is now, its result is reused again
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    assert reuse_result(tmp_path / "ddd", structured_study.path, _opts(), tmp_path / "copy") is not None


def test_a_grown_store_is_analysed_afresh(make_study, tmp_path):
    rng = np.random.default_rng(3)
    correct = {f"base-{i}": rng.random((2, 40)) < 0.7 for i in range(3)}
    study = make_study(correct, name="grows")
    analyse_study(study.path, tmp_path / "ddd", _opts())
    from tests.analysis.conftest import write_study

    correct["base-3"] = rng.random((2, 40)) < 0.7
    import shutil

    shutil.rmtree(study.path)
    write_study(study.path, correct)  # the same folder, one model more
    assert reuse_result(tmp_path / "ddd", study.path, _opts(), tmp_path / "copy") is None
    fresh = analyse_study(study.path, tmp_path / "fresh", _opts())
    assert fresh.headline["n_models"] == 4


def test_the_study_path_as_given_is_part_of_the_key(structured_study, tmp_path, monkeypatch):
    """The headline and notes name the store as it was given: another spelling is analysed afresh."""
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    monkeypatch.chdir(structured_study.path.parent)
    assert reuse_result(tmp_path / "ddd", Path(structured_study.path.name), _opts(), tmp_path / "copy") is None


def test_damaged_or_missing_result_file_is_analysed_afresh(structured_study, tmp_path):
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    (tmp_path / "ddd" / RESULT_FILE).write_bytes(b"not a pickle")
    assert reuse_result(tmp_path / "ddd", structured_study.path, _opts(), tmp_path / "copy") is None
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    (tmp_path / "ddd" / "histogram.png").unlink()  # a figure gone from the folder
    assert reuse_result(tmp_path / "ddd", structured_study.path, _opts(), tmp_path / "copy") is None
    assert not (tmp_path / "copy").exists()
    assert reuse_result(tmp_path / "nowhere", structured_study.path, _opts(), tmp_path / "copy") is None


def test_a_failed_rerun_leaves_no_result_file_beside_other_files(structured_study, tmp_path, monkeypatch):
    """A later analysis into the same folder that dies after moving its files in must not leave the
    earlier key beside them."""
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    from analysis.models import ddd_reuse

    def boom(*a, **k):
        raise OSError("disk gone")

    monkeypatch.setattr(ddd_reuse, "save_result", boom)
    with pytest.raises(OSError):
        analyse_study(structured_study.path, tmp_path / "ddd", _opts(tolerance=0))
    assert not (tmp_path / "ddd" / RESULT_FILE).exists()


def test_image_statistics_run_serves_a_run_without(make_study, tmp_path):
    rng = np.random.default_rng(0)
    n_classes, labels = 4, np.repeat(np.arange(4), 8)
    correct = {f"base-{i}": rng.random((2, len(labels))) < 0.7 for i in range(3)} | {"wide-0": rng.random((2, 32)) < 0.6}
    study = make_study(correct, labels=labels, n_classes=n_classes, dataset={"name": "gaussian", "size": 8})

    def getter(i):
        return np.clip(np.random.default_rng(i).normal(128, 1 + labels[i], (12, 12)), 0, 255).astype(np.uint8)

    with_stats = _opts(image_stats=True, cache_dir=tmp_path / "cache")
    analyse_study(study.path, tmp_path / "ddd", with_stats, image_getter=getter)
    reused = reuse_result(tmp_path / "ddd", study.path, _opts(), tmp_path / "copy")
    fresh = analyse_study(study.path, tmp_path / "fresh", _opts())
    assert reused is not None
    _same_result(reused, fresh)
    assert _files(tmp_path / "copy") == _files(tmp_path / "fresh")
    # and not the other way round
    assert reuse_result(tmp_path / "fresh", study.path, with_stats, tmp_path / "copy2") is None


def test_result_file_holds_relative_paths(structured_study, tmp_path):
    analyse_study(structured_study.path, tmp_path / "ddd", _opts())
    saved = pickle.loads((tmp_path / "ddd" / RESULT_FILE).read_bytes())
    assert all(not f.png.is_absolute() for f in saved["result"].figures)
