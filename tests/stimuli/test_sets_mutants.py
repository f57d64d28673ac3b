"""stimuli.sets from its contract (docs/formats.md): the bytes a set is written as, what reading refuses,
every problem `verify_set` names, and the order of writes and fsyncs. Expected values are computed
here (hashlib, hand-written TSV text), not taken from the module's own output."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import stimuli.sets as sets
from labutil.errors import DiskFull, UserError
from stimuli.sets import (IMAGES_NOT_INCLUDED, _check_tables, _legacy_build, leftovers_beside, open_verified_set,
                          png_bytes, read_set, sha256_file, verify_set, write_set)


def _stimuli(ids: list[str], difficulties: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "stim_id": ids, "source_image_id": [f"val/{i}" for i in range(len(ids))], "label": list(range(len(ids))),
        "class_name": [f"c{i}" for i in range(len(ids))],
        "n_correct": [11 if d == "trivial" else 0 for d in difficulties], "n_models": [11] * len(ids),
        "difficulty": difficulties,
    })


def _pair_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    stim = _stimuli(["s1", "s2", "s3", "s4"], ["trivial", "impossible", "impossible", "trivial"])
    trials = pd.DataFrame({"trial": [1, 2], "phase": ["practice", "test"], "pair_id": [1, 2],
                           "left_stim": ["s1", "s3"], "right_stim": ["s2", "s4"], "impossible_side": ["right", "left"]})
    return stim, trials


def _images(ids: list[str]) -> dict[str, bytes]:
    return {s: png_bytes(np.full((4, 4), 10 * k, dtype=np.uint8)) for k, s in enumerate(ids)}


def _write_pairs(path: Path, **meta: object):  # noqa: ANN202
    stim, trials = _pair_tables()
    return write_set(path, {"kind": "2afc", **meta}, stim, trials, _images(list(stim["stim_id"])))


def _questionnaire(path: Path, images: bool = True):  # noqa: ANN202
    stim = _stimuli(["q1", "q2", "q3"], ["trivial", "in-between", "impossible"])
    trials = pd.DataFrame({"trial": [1, 2, 3], "phase": ["test"] * 3, "stim_id": ["q3", "q1", "q2"]})
    meta = {"kind": "questionnaire"} if images else {"kind": "questionnaire", "images": IMAGES_NOT_INCLUDED}
    return write_set(path, meta, stim, trials, _images(["q1", "q2", "q3"]) if images else {})


# --- writing ---------------------------------------------------------------------------------------

def test_the_written_tables_and_images_are_the_documented_bytes(tmp_path: Path) -> None:
    images = _images(["s1", "s2", "s3", "s4"])
    sset = _write_pairs(tmp_path / "a" / "b" / "pairs", builder="x")  # parents are made
    root = tmp_path / "a" / "b" / "pairs"
    digest = {s: hashlib.sha256(b).hexdigest() for s, b in images.items()}
    expected_stimuli = (
        "stim_id\tfile\tsource_image_id\tlabel\tclass_name\tn_correct\tn_models\tdifficulty\tsha256\n"
        f"s1\timages/s1.png\tval/0\t0\tc0\t11\t11\ttrivial\t{digest['s1']}\n"
        f"s2\timages/s2.png\tval/1\t1\tc1\t0\t11\timpossible\t{digest['s2']}\n"
        f"s3\timages/s3.png\tval/2\t2\tc2\t0\t11\timpossible\t{digest['s3']}\n"
        f"s4\timages/s4.png\tval/3\t3\tc3\t11\t11\ttrivial\t{digest['s4']}\n")
    expected_trials = ("trial\tphase\tpair_id\tleft_stim\tright_stim\timpossible_side\n"
                       "1\tpractice\t1\ts1\ts2\tright\n2\ttest\t2\ts3\ts4\tleft\n")
    assert (root / "stimuli.tsv").read_text() == expected_stimuli
    assert (root / "trials.tsv").read_text() == expected_trials
    assert sorted(p.name for p in root.iterdir()) == ["images", "set.json", "stimuli.tsv", "trials.tsv"]
    assert {p.name: p.read_bytes() for p in (root / "images").iterdir()} == {f"{s}.png": b for s, b in images.items()}
    record = json.loads((root / "set.json").read_text())
    assert record == {"format_version": 1, "name": "pairs", "kind": "2afc", "builder": "x", "tables_sha256": {
        "stimuli.tsv": hashlib.sha256(expected_stimuli.encode()).hexdigest(),
        "trials.tsv": hashlib.sha256(expected_trials.encode()).hexdigest()}}
    # what write_set returns is the set as read back: integer columns are integers
    assert sset.path == root and sset.name == "pairs" and sset.kind == "2afc" and sset.has_images
    assert sset.trials["trial"].tolist() == [1, 2] and sset.stimuli["n_correct"].tolist() == [11, 0, 0, 11]
    assert verify_set(root) == []


def test_images_of_unlisted_stimuli_are_not_written_and_extra_columns_are_dropped(tmp_path: Path) -> None:
    stim, trials = _pair_tables()
    images = _images(["s1", "s2", "s3", "s4", "zz"])
    write_set(tmp_path / "s", {"kind": "2afc"}, stim.assign(extra=1), trials.assign(extra=2), images)
    assert sorted(p.name for p in (tmp_path / "s" / "images").iterdir()) == ["s1.png", "s2.png", "s3.png", "s4.png"]
    assert "extra" not in (tmp_path / "s" / "stimuli.tsv").read_text()
    assert "extra" not in (tmp_path / "s" / "trials.tsv").read_text()


def test_a_questionnaire_writes_its_own_trial_columns(tmp_path: Path) -> None:
    sset = _questionnaire(tmp_path / "q")
    assert (tmp_path / "q" / "trials.tsv").read_text() == "trial\tphase\tstim_id\n1\ttest\tq3\n2\ttest\tq1\n3\ttest\tq2\n"
    assert sset.kind == "questionnaire" and verify_set(tmp_path / "q") == []


def test_a_set_without_images_writes_n_a_and_no_images_folder(tmp_path: Path) -> None:
    sset = _questionnaire(tmp_path / "q", images=False)
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == ["set.json", "stimuli.tsv", "trials.tsv"]
    assert set(sset.stimuli["file"]) == {"n/a"} and set(sset.stimuli["sha256"]) == {"n/a"}
    assert not sset.has_images and verify_set(tmp_path / "q") == []
    with pytest.raises(UserError, match=r"images not included in this set \(imported table\)"):
        sset.image_path("q1")
    with pytest.raises(UserError, match=r"it can be analysed, not shown"):
        open_verified_set(tmp_path / "q")
    assert open_verified_set(tmp_path / "q", require_images=False).name == "q"
    stim, trials = sset.stimuli.drop(columns=["file", "sha256"]), sset.trials
    with pytest.raises(ValueError, match="a set with images 'not included' takes no images"):
        write_set(tmp_path / "q2", {"kind": "questionnaire", "images": IMAGES_NOT_INCLUDED}, stim, trials,
                  {"q1": b"x"})
    assert not (tmp_path / "q2").exists()


@pytest.mark.parametrize("kind", [None, "2AFC", "rating"])
def test_an_unknown_kind_is_refused_naming_it(tmp_path: Path, kind: object) -> None:
    stim, trials = _pair_tables()
    with pytest.raises(ValueError) as err:
        write_set(tmp_path / "s", {"kind": kind}, stim, trials, _images(list(stim["stim_id"])))
    assert str(err.value) == f"meta['kind'] must be one of ('2afc', 'questionnaire'), not {kind!r}"
    assert not (tmp_path / "s").exists()


def test_missing_images_are_named_first_five(tmp_path: Path) -> None:
    ids = [f"s{i}" for i in range(8)]
    stim = _stimuli(ids, ["trivial"] * 8)
    trials = pd.DataFrame({"trial": [1], "phase": ["test"], "stim_id": ["s0"]})
    with pytest.raises(ValueError) as err:
        write_set(tmp_path / "s", {"kind": "questionnaire"}, stim, trials, {"s0": b"x"})
    assert str(err.value) == "no image for stimuli ['s1', 's2', 's3', 's4', 's5']"
    assert not (tmp_path / "s").exists()


def test_inconsistent_tables_are_refused_with_every_problem(tmp_path: Path) -> None:
    stim, trials = _pair_tables()
    trials.loc[1, "trial"] = 5
    trials.loc[1, "phase"] = "warmup"
    with pytest.raises(ValueError) as err:
        write_set(tmp_path / "s", {"kind": "2afc"}, stim, trials, _images(list(stim["stim_id"])))
    assert str(err.value) == ("inconsistent stimulus set: trials.tsv: trial must number 1..2; "
                              "trials.tsv: unknown phase ['warmup']")
    assert not (tmp_path / "s").exists() and not list(tmp_path.iterdir())


def test_an_existing_set_is_refused_and_force_writes_only_into_an_empty_folder(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "s")
    before = {p: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    with pytest.raises(UserError) as err:
        _write_pairs(tmp_path / "s")
    assert str(err.value) == (f"{tmp_path / 's'}: stimulus set already exists "
                              "(choose a new name; --force only writes into an empty folder)")
    with pytest.raises(UserError) as err:
        write_set(tmp_path / "s", {"kind": "2afc"}, *_pair_tables(), _images(["s1", "s2", "s3", "s4"]), force=True)
    assert str(err.value) == f"{tmp_path / 's'}: stimulus set already exists"
    assert {p: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()} == before
    (tmp_path / "file").write_text("x")  # a file is no empty folder, even with force
    with pytest.raises(UserError, match="already exists"):
        write_set(tmp_path / "file", {"kind": "2afc"}, *_pair_tables(), _images(["s1", "s2", "s3", "s4"]), force=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="already exists"):  # empty but no force
        _write_pairs(tmp_path / "empty")
    stim, trials = _pair_tables()
    sset = write_set(tmp_path / "empty", {"kind": "2afc"}, stim, trials, _images(["s1", "s2", "s3", "s4"]), force=True)
    assert sset.path == tmp_path / "empty" and verify_set(tmp_path / "empty") == []


def test_a_killed_builds_leftovers_are_removed_a_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / ".old.999999999-0123456789ab.tmp"  # this host, no such pid
    dead.mkdir()
    (dead / "stimuli.tsv").write_text("x")
    live = tmp_path / f".other.{os.getpid()}-0123456789ab.tmp"
    live.mkdir()
    legacy = tmp_path / ".older.abcdefgh12.tmp"  # an older version's name without a pid
    legacy.mkdir()
    (legacy / "set.json").write_text("{}")
    os.utime(legacy, (0, 0))
    foreign = tmp_path / ".foreign.abcdefgh12.tmp"  # same old name shape, not a set's files
    foreign.mkdir()
    os.utime(foreign, (0, 0))
    assert leftovers_beside(tmp_path / "s") == sorted([dead, live, legacy])
    _write_pairs(tmp_path / "s")
    assert not dead.exists() and not legacy.exists() and live.exists() and foreign.exists()
    assert leftovers_beside(tmp_path / "s") == [live]


def test_legacy_build_is_a_folder_holding_a_sets_file(tmp_path: Path) -> None:
    for name in ("images", "stimuli.tsv", "trials.tsv", "set.json"):
        d = tmp_path / name.replace(".", "_")
        d.mkdir()
        (d / name).mkdir() if name == "images" else (d / name).write_text("")
        assert _legacy_build(d), name
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("")
    (tmp_path / "plain").write_text("")
    assert not _legacy_build(tmp_path / "other") and not _legacy_build(tmp_path / "plain")


def test_every_file_is_fsynced_whole_before_the_rename_and_the_folders_after(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_fsync_dir = os.fsync, os.replace, sets.fsync_dir

    def fsync(fd: int) -> None:  # os is one module: this sees labutil.io's fsyncs too
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):  # folders are recorded by fsync_dir below
            events.append(("fsync", f"{Path(os.readlink(f'/proc/self/fd/{fd}')).name}:{st.st_size}"))
        real_fsync(fd)

    def replace(src: object, dst: object) -> None:
        events.append(("replace", Path(str(dst)).name))
        real_replace(src, dst)

    def fsync_dir(path: Path) -> None:
        events.append(("fsync_dir", Path(path).name))
        real_fsync_dir(path)

    monkeypatch.setattr(sets.os, "fsync", fsync)
    monkeypatch.setattr(sets.os, "replace", replace)
    monkeypatch.setattr(sets, "fsync_dir", fsync_dir)
    images = _images(["s1", "s2", "s3", "s4"])
    sset = _write_pairs(tmp_path / "s")
    stimuli_size = len((sset.path / "stimuli.tsv").read_bytes())
    trials_size = len((sset.path / "trials.tsv").read_bytes())
    ours = [e for e in events if not e[1].startswith((".set.json", "set.json"))]  # write_json has its own test
    assert ours == [
        *[("fsync", f"{s}.png:{len(images[s])}") for s in ("s1", "s2", "s3", "s4")],
        ("fsync", f"stimuli.tsv:{stimuli_size}"), ("fsync", f"trials.tsv:{trials_size}"),
        ("fsync_dir", "images"), ("replace", "s"), ("fsync_dir", tmp_path.name)]


def test_a_failed_write_leaves_nothing_and_a_full_disk_names_the_set(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = sets._write_synced
    calls = []

    def failing(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(sets, "_write_synced", failing)
    with pytest.raises(DiskFull) as err:
        _write_pairs(tmp_path / "s")
    assert str(err.value).startswith(f"{tmp_path / 's'}: could not be written: no space left on device")
    assert list(tmp_path.iterdir()) == []
    calls.clear()
    monkeypatch.setattr(sets, "_write_synced", lambda p, d: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _write_pairs(tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


# --- the pieces ------------------------------------------------------------------------------------

def test_png_bytes_is_a_lossless_deterministic_png(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    data = png_bytes(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data == png_bytes(pixels)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    assert png_bytes(Image.fromarray(pixels)) == data
    # compression level 6 without optimisation: the bytes PIL gives for exactly these options
    ref = io.BytesIO()
    Image.fromarray(pixels).save(ref, format="PNG", compress_level=6)
    assert data == ref.getvalue()


def test_sha256_file_reads_files_longer_than_one_chunk(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 256, size=(1 << 20) * 2 + 17, dtype=np.uint8).tobytes()
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert sets.sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_tables_sha256_hashes_both_tables_with_their_names(tmp_path: Path) -> None:
    sset = _write_pairs(tmp_path / "s")
    s_bytes, t_bytes = (tmp_path / "s" / "stimuli.tsv").read_bytes(), (tmp_path / "s" / "trials.tsv").read_bytes()
    expected = hashlib.sha256(b"stimuli.tsv\0" + s_bytes + b"trials.tsv\0" + t_bytes).hexdigest()
    assert sset.tables_sha256 == expected


def test_image_path_and_phase_views(tmp_path: Path) -> None:
    sset = _write_pairs(tmp_path / "s")
    assert sset.image_path("s3") == tmp_path / "s" / "images" / "s3.png"
    with pytest.raises(KeyError) as err:
        sset.image_path("nope")
    assert err.value.args == ("nope",)  # names the unknown stimulus
    test, practice = sset.test_trials(), sset.practice_trials()
    assert test["trial"].tolist() == [2] and test.index.tolist() == [0]
    assert practice["trial"].tolist() == [1] and practice.index.tolist() == [0]
    assert list(test.columns) == list(practice.columns) == sets.TRIAL_COLUMNS["2afc"]  # no old index as a column


# --- reading ---------------------------------------------------------------------------------------

def test_reading_refuses_what_is_not_a_set(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        read_set(tmp_path)
    assert str(err.value) == f"{tmp_path}: not a stimulus set (no set.json)"
    (tmp_path / "set.json").mkdir()  # a folder named set.json is no set.json
    with pytest.raises(UserError, match=r"not a stimulus set \(no set.json\)"):
        read_set(tmp_path)


@pytest.mark.parametrize("kind", ["rating", ["2afc"], None])
def test_reading_refuses_an_unknown_kind(tmp_path: Path, kind: object) -> None:
    _write_pairs(tmp_path / "s")
    record = json.loads((tmp_path / "s" / "set.json").read_text())
    (tmp_path / "s" / "set.json").write_text(json.dumps({**record, "kind": kind}))
    with pytest.raises(UserError) as err:
        read_set(tmp_path / "s")
    assert str(err.value) == f"{tmp_path / 's' / 'set.json'}: kind must be one of 2afc, questionnaire"


def test_reading_names_a_missing_table_missing_columns_and_unreadable_bytes(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "s")
    root = tmp_path / "s"
    trials = (root / "trials.tsv").read_bytes()
    (root / "trials.tsv").unlink()
    with pytest.raises(UserError) as err:
        read_set(root)
    assert str(err.value) == f"{root / 'trials.tsv'}: file not found"
    (root / "trials.tsv").write_text("trial\tphase\tpair_id\tleft_stim\n1\ttest\t1\ts1\n")
    with pytest.raises(UserError) as err:
        read_set(root)
    assert str(err.value) == f"{root / 'trials.tsv'}: missing columns ['right_stim', 'impossible_side']"
    (root / "trials.tsv").write_bytes(trials.replace(b"s3", b"\xff\xfe"))
    with pytest.raises(UserError, match=rf"^{root / 'trials.tsv'}: unreadable \("):
        read_set(root)
    (root / "trials.tsv").write_bytes(trials + b"3\ttest\t3\ts1\ts2\tleft\textra\tmore\n")
    with pytest.raises(UserError, match=rf"^{root / 'trials.tsv'}: unreadable \("):
        read_set(root)


@pytest.mark.parametrize(("column", "value"), [("trial", "2a"), ("trial", "x2"), ("trial", ""), ("trial", "1.0"),
                                                ("pair_id", " 2"), ("n_correct", "eleven"), ("label", "+1"),
                                                ("n_models", "١١")])
def test_an_integer_column_with_another_value_names_row_and_column(tmp_path: Path, column: str, value: str) -> None:
    _write_pairs(tmp_path / "s")
    file = tmp_path / "s" / ("stimuli.tsv" if column in ("n_correct", "label", "n_models") else "trials.tsv")
    df = pd.read_csv(file, sep="\t", dtype=str, keep_default_na=False)
    df.loc[1, column] = value  # the second data row is row 3 of the file (the header is row 1)
    df.to_csv(file, sep="\t", index=False, lineterminator="\n")
    with pytest.raises(UserError) as err:
        read_set(tmp_path / "s")
    assert str(err.value) == f"{file}: row 3: column '{column}' must be an integer"


def test_integer_columns_are_read_as_integers_negatives_included(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "s")
    file = tmp_path / "s" / "stimuli.tsv"
    df = pd.read_csv(file, sep="\t", dtype=str, keep_default_na=False)
    df.loc[0, "label"] = "-1"
    df.to_csv(file, sep="\t", index=False, lineterminator="\n")
    sset = read_set(tmp_path / "s")
    assert sset.stimuli["label"].tolist() == [-1, 1, 2, 3]
    for frame, cols in ((sset.stimuli, ["label", "n_correct", "n_models"]), (sset.trials, ["trial", "pair_id"])):
        assert all(pd.api.types.is_integer_dtype(frame[c]) for c in cols)
    assert sset.stimuli["stim_id"].tolist() == ["s1", "s2", "s3", "s4"]  # text stays text


# --- checks of the tables --------------------------------------------------------------------------

def test_check_tables_names_each_problem() -> None:
    stim, trials = _pair_tables()
    meta = {"kind": "2afc"}
    assert _check_tables(meta, stim, trials) == []
    s = stim.copy()
    s.loc[3, "stim_id"] = "s1"
    s.loc[0, "difficulty"] = "easy"
    s.loc[1, "difficulty"] = "hard"
    assert _check_tables(meta, s, trials)[:2] == ["stimuli.tsv: duplicate stim_id",
                                                  "stimuli.tsv: unknown difficulty ['easy', 'hard']"]
    t = trials.copy()
    t["trial"] = [0, 1]
    assert _check_tables(meta, stim, t) == ["trials.tsv: trial must number 1..2"]
    t["trial"] = [2, 1]  # any order of 1..n is a numbering
    assert _check_tables(meta, stim, t) == []
    t = trials.assign(left_stim=["s1", "x9"], right_stim=["y1", "s4"])
    assert _check_tables(meta, stim, t) == ["trials.tsv: left_stim not in stimuli.tsv: ['x9']",
                                            "trials.tsv: right_stim not in stimuli.tsv: ['y1']"]
    t = trials.assign(left_stim=["a", "b"], right_stim=["s2", "s4"], impossible_side=["up", "left"])
    t.loc[len(t)] = [3, "test", 3, "c", "s2", "left"]
    t.loc[len(t)] = [4, "test", 4, "d", "s2", "left"]
    assert _check_tables(meta, stim, t) == ["trials.tsv: left_stim not in stimuli.tsv: ['a', 'b', 'c']"]


def test_check_tables_sides_of_a_pair() -> None:
    stim, trials = _pair_tables()
    meta = {"kind": "2afc"}
    bad = trials.assign(impossible_side=["right", "middle"])
    assert _check_tables(meta, stim, bad)[0] == "trials.tsv: impossible_side must be left or right"
    swapped = trials.assign(impossible_side=["left", "left"])  # trial 1: s1 (trivial) is no impossible image
    assert _check_tables(meta, stim, swapped) == [
        "trials.tsv: trial 1: impossible_side does not match the stimuli difficulties"]
    both = trials.assign(impossible_side=["left", "right"])  # both trials wrong: named once, the first
    assert _check_tables(meta, stim, both) == [
        "trials.tsv: trial 1: impossible_side does not match the stimuli difficulties"]
    in_between = stim.assign(difficulty=["trivial", "impossible", "impossible", "in-between"])
    assert _check_tables(meta, in_between, trials) == [
        "trials.tsv: trial 2: impossible_side does not match the stimuli difficulties"]
    two_impossible = stim.assign(difficulty=["impossible", "impossible", "impossible", "trivial"])
    assert _check_tables(meta, two_impossible, trials) == [
        "trials.tsv: trial 1: impossible_side does not match the stimuli difficulties"]


def test_check_tables_of_a_questionnaire_checks_its_stim_ids_only() -> None:
    stim = _stimuli(["q1", "q2"], ["trivial", "in-between"])
    trials = pd.DataFrame({"trial": [1, 2], "phase": ["practice", "test"], "stim_id": ["q1", "q7"]})
    assert _check_tables({"kind": "questionnaire"}, stim, trials) == ["trials.tsv: stim_id not in stimuli.tsv: ['q7']"]


# --- verification ----------------------------------------------------------------------------------

def test_verify_returns_a_read_problem_as_its_only_problem(tmp_path: Path) -> None:
    assert verify_set(tmp_path) == [f"{tmp_path}: not a stimulus set (no set.json)"]


def test_verify_names_stray_files_missing_checksums_and_changed_tables(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "s")
    root = tmp_path / "s"
    (root / "notes.txt").write_text("x")
    (root / "b-extra").mkdir()
    assert verify_set(root) == [f"{root / 'b-extra'}: not part of a stimulus set",
                                f"{root / 'notes.txt'}: not part of a stimulus set"]
    (root / "notes.txt").unlink()
    (root / "b-extra").rmdir()
    record = json.loads((root / "set.json").read_text())
    for value in (None, "abc", ["x"]):
        (root / "set.json").write_text(json.dumps({**record, "tables_sha256": value}))
        assert verify_set(root) == [f"{root / 'set.json'}: records no checksums of its tables (tables_sha256)"]
    del record["tables_sha256"]["stimuli.tsv"]
    (root / "set.json").write_text(json.dumps(record))
    assert verify_set(root) == [f"{root / 'stimuli.tsv'}: checksum mismatch (table changed since the set was written)"]
    record["tables_sha256"] = {"stimuli.tsv": sha256_file(root / "stimuli.tsv"), "trials.tsv": "0" * 64}
    (root / "set.json").write_text(json.dumps(record))
    assert verify_set(root) == [f"{root / 'trials.tsv'}: checksum mismatch (table changed since the set was written)"]


def test_verify_names_each_image_problem(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "s")
    root = tmp_path / "s"
    (root / "images" / "s2.png").unlink()
    data = bytearray((root / "images" / "s3.png").read_bytes())
    data[-1] ^= 1
    (root / "images" / "s3.png").write_bytes(bytes(data))
    (root / "images" / "a-stray.png").write_bytes(b"x")
    (root / "images" / "s1.png").unlink()
    (root / "images" / "s1.png").mkdir()  # a folder where the image belongs is no image
    assert verify_set(root) == [
        f"{root / 'images' / 's1.png'}: missing", f"{root / 'images' / 's2.png'}: missing",
        f"{root / 'images' / 's3.png'}: checksum mismatch (file changed since the set was written)",
        f"{root / 'images' / 'a-stray.png'}: not listed in stimuli.tsv"]


@pytest.mark.parametrize("file", ["../s1.png", "s1.png", "other/s1.png", "images/../images/s1.png", "images/x/s1.png"])
def test_verify_names_an_image_path_outside_images(tmp_path: Path, file: str) -> None:
    stim, trials = _pair_tables()
    images = _images(list(stim["stim_id"]))
    write_set(tmp_path / "s", {"kind": "2afc"}, stim, trials, images)
    root = tmp_path / "s"
    df = pd.read_csv(root / "stimuli.tsv", sep="\t", dtype=str, keep_default_na=False)
    df.loc[0, "file"] = file
    df.to_csv(root / "stimuli.tsv", sep="\t", index=False, lineterminator="\n")
    record = json.loads((root / "set.json").read_text())
    record["tables_sha256"]["stimuli.tsv"] = sha256_file(root / "stimuli.tsv")
    (root / "set.json").write_text(json.dumps(record))
    # the one problem (images/s1.png still counts as listed: the stray check goes by file name)
    assert verify_set(root) == [f"{root / 'stimuli.tsv'}: file '{file}' of s1 lies outside images/"]


def test_verify_of_a_set_without_images_refuses_an_images_folder(tmp_path: Path) -> None:
    _questionnaire(tmp_path / "q", images=False)
    (tmp_path / "q" / "images").mkdir()
    assert verify_set(tmp_path / "q") == [
        f"{tmp_path / 'q' / 'images'}: images folder in a set marked images 'not included'"]


def test_open_verified_set_names_the_first_problem_and_how_many_more(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "s")
    root = tmp_path / "s"
    (root / "images" / "s4.png").unlink()
    with pytest.raises(UserError) as err:
        open_verified_set(root)
    assert str(err.value) == f"stimulus set fails verification: {root / 'images' / 's4.png'}: missing"
    (root / "images" / "s3.png").unlink()
    with pytest.raises(UserError) as err:
        open_verified_set(root)
    assert str(err.value) == (f"stimulus set fails verification: {root / 'images' / 's3.png'}: missing"
                              " (and 1 more problems)")
    (root / "x").write_text("")
    with pytest.raises(UserError) as err:
        open_verified_set(root)
    assert str(err.value) == (f"stimulus set fails verification: {root / 'x'}: not part of a stimulus set"
                              " (and 2 more problems)")


def test_names_with_commas_are_read_as_one_cell(tmp_path: Path) -> None:
    """Tab-separated, never sniffed: ImageNet class names hold commas ("tench, Tinca tinca")."""
    stim, trials = _pair_tables()
    stim["class_name"] = ["tench, Tinca tinca", "goldfish, Carassius auratus", "a, b, c", "d, e"]
    sset = write_set(tmp_path / "s", {"kind": "2afc"}, stim, trials, _images(list(stim["stim_id"])))
    assert sset.stimuli["class_name"].tolist() == ["tench, Tinca tinca", "goldfish, Carassius auratus", "a, b, c", "d, e"]
    assert list(sset.stimuli.columns) == sets.STIMULI_COLUMNS


def test_the_write_error_surfaces_even_when_the_temporary_folder_is_already_gone(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Cleaning up after a failed write must not replace the error the user needs to see."""
    import shutil

    def vanish(path: Path, data: bytes) -> None:
        shutil.rmtree(path.parent.parent if path.parent.name == "images" else path.parent)
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(sets, "_write_synced", vanish)
    with pytest.raises(PermissionError, match="Permission denied"):
        _write_pairs(tmp_path / "s")
    assert list(tmp_path.iterdir()) == []
