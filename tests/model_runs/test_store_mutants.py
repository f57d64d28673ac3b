"""The decisions store's commit protocol and readers, pinned for mutation testing (issue 18).

Durability is observed, not timed: every fsync / fdatasync / replace / ftruncate / unlink the store
makes is logged (file names, temporary files as `~<final name>`), and a fresh reader is asked what
it sees just before each of them (what a reader, or a resumed run, finds after a kill there).
Expected values come from the format's definition (docs/formats.md): packed bits with image 0 as
the high bit of byte 0, little-endian int16 and float16 rows, one row per committed epoch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kill_points import killed_at

from labutil.errors import UserError
from model_runs.store import ModelWriter, create_study, dumps_toml, open_study

LABELS = np.array([0, 1, 2, 0, 1, 2, 1, 0, 2, 1])  # 10 images: 2 bytes of packed bits per row
N_TRAIN = 4
DEFINITION = {"name": "t", "dataset": {"name": "digits", "seed": 0}, "models": [{"model_id": "a", "condition": "base"}]}
OPTIONS = {"val_probabilities": True, "train_probabilities": True, "activations": 0, "n_train": N_TRAIN}
INFO = {"condition": "base", "config": {"seed": 1}, "store_options": OPTIONS}
ROW_FILES = ["correct.bits", "prediction.int16", "val_probability.f16", "val_margin.f16",
             "train_probability.f16", "train_margin.f16"]
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9]+-\d+-[0-9a-f]+\.tmp$")


def _study(root: Path, labels: np.ndarray = LABELS):
    images = pd.DataFrame({"image_index": np.arange(len(labels)), "image_id": [f"val/{i}" for i in range(len(labels))],
                           "label": labels, "class_name": [f"c{x}" for x in labels]})
    return create_study(root, DEFINITION, images)


def _epoch(epoch: int, shift: int = 0) -> dict[str, Any]:
    """Everything committed for one epoch (depends on epoch and shift, so a re-commit differs)."""
    k = epoch + 3 * shift
    rng = np.random.default_rng(k)
    pred = (np.arange(len(LABELS)) * (k + 1) + k) % 3
    sample = np.arange(N_TRAIN)
    train_pred = (sample + k) % 3
    return {
        "prediction": pred,
        "train": (sample, train_pred, train_pred == sample % 3),
        "dynamics": {("val", "probability"): rng.random(len(LABELS)).astype(np.float16),
                     ("val", "margin"): (rng.random(len(LABELS)) * 2 - 1).astype(np.float16),
                     ("train", "probability"): rng.random(N_TRAIN).astype(np.float16),
                     ("train", "margin"): (rng.random(N_TRAIN) * 2 - 1).astype(np.float16)},
        "metrics": {"val_loss": 1.0 + k},
    }


def _commit(w: ModelWriter, epoch: int, shift: int = 0) -> None:
    e = _epoch(epoch, shift)
    w.commit_epoch(epoch, e["prediction"], e["metrics"], train_decisions=e["train"], dynamics=e["dynamics"])


def _name(path: str) -> str:
    base = Path(path).name
    m = _TEMP.match(base)
    return f"~{m['name']}" if m else base


@contextmanager
def _events(before: Callable[[tuple], None] | None = None) -> Iterator[list[tuple]]:
    """Log the store's write events (unlinks of files that exist); `before(event)` runs just before each."""
    log: list[tuple] = []
    real = {n: getattr(os, n) for n in ("fsync", "fdatasync", "replace", "ftruncate", "unlink")}
    busy = [False]

    def note(event: tuple) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            if before is not None:
                before(event)
            log.append(event)
        finally:
            busy[0] = False

    def fd_name(fd: int) -> str:
        return _name(os.readlink(f"/proc/self/fd/{fd}"))

    def sync(kind: str):
        return lambda fd: (note((kind, fd_name(fd))), real[kind](fd))[1]

    patched = {
        "fsync": sync("fsync"),
        "fdatasync": sync("fdatasync"),
        "replace": lambda src, dst, **kw: (note(("replace", _name(str(dst)))), real["replace"](src, dst, **kw))[1],
        "ftruncate": lambda fd, length: (note(("ftruncate", fd_name(fd), length)), real["ftruncate"](fd, length))[1],
        "unlink": lambda path, **kw: (os.path.lexists(path) and note(("unlink", _name(str(path)))), real["unlink"](path, **kw))[1],
    }
    for n, fn in patched.items():
        setattr(os, n, fn)
    try:
        yield log
    finally:
        for n, fn in real.items():
            setattr(os, n, fn)


def _packed(correct: np.ndarray) -> bytes:
    """Packed bits by the format's definition: image i is bit 7 - i % 8 of byte i // 8."""
    out = bytearray((len(correct) + 7) // 8)
    for i, c in enumerate(correct):
        if c:
            out[i // 8] |= 1 << (7 - i % 8)
    return bytes(out)


def _expected_files(epochs: list[tuple[int, int]]) -> dict[str, bytes]:
    """The row files' exact bytes after committing (epoch, shift) in this order, one row each."""
    rows: dict[str, list[bytes]] = {f: [] for f in ROW_FILES}
    for epoch, shift in epochs:
        e = _epoch(epoch, shift)
        rows["correct.bits"].append(_packed(e["prediction"] == LABELS))
        rows["prediction.int16"].append(b"".join(int(p).to_bytes(2, "little") for p in e["prediction"]))
        for (split, quantity), values in e["dynamics"].items():
            rows[f"{split}_{quantity}.f16"].append(values.astype("<f2").tobytes())
    return {f: b"".join(r) for f, r in rows.items()}


def _view(root: Path) -> dict[str, Any]:
    """What a fresh reader sees of model a: per committed epoch its rows, and its training decisions."""
    study = open_study(root)
    if "a" not in study.model_ids():
        return {}
    epochs = study.committed_epochs("a")
    out: dict[str, Any] = {"epochs": epochs, "status": study.run_info("a")["status"]}
    if not epochs:
        return out
    d = study.epoch_decisions("a")
    out["prediction"] = d.prediction.tolist()
    out["correct"] = d.correct.tolist()
    for split in ("val", "train"):
        out[f"{split}_probability"] = study.epoch_probabilities("a", split).tolist()
        out[f"{split}_margin"] = study.epoch_margins("a", split).tolist()
    train = study.train_decisions_table("a")
    out["train"] = None if train is None else train.to_dict("list")
    return out


def _expected_view(epochs: list[tuple[int, int]], status: str = "running") -> dict[str, Any]:
    """The view a reader must get of the committed (epoch, shift) list, from the definition."""
    out: dict[str, Any] = {"epochs": [e for e, _ in epochs], "status": status}
    if not epochs:
        return out
    es = [_epoch(e, s) for e, s in epochs]
    out["prediction"] = [x["prediction"].tolist() for x in es]
    out["correct"] = [(x["prediction"] == LABELS).tolist() for x in es]
    for split in ("val", "train"):
        for q in ("probability", "margin"):
            out[f"{split}_{q}"] = [x["dynamics"][(split, q)].astype(np.float16).tolist() for x in es]
    train = {"epoch": [], "sample_index": [], "prediction": [], "correct": []}
    for (epoch, _), x in zip(epochs, es):
        idx, pred, corr = x["train"]
        train["epoch"] += [epoch] * len(idx)
        train["sample_index"] += idx.tolist()
        train["prediction"] += pred.tolist()
        train["correct"] += corr.tolist()
    out["train"] = train
    return out


def _same(view: dict[str, Any], want: dict[str, Any]) -> bool:
    """Equal views (NaN-free float16 values compare exactly)."""
    return view == want


# --------------------------------------------------------------------------------------------
# The commit of an epoch


def test_commit_writes_every_row_then_commits_once(tmp_path: Path) -> None:
    """Each row file is cut to its committed rows, written and fdatasynced, the training part synced
    and renamed, all before run.json is replaced; the folder is fsynced once, after that replace
    (it makes the new files durable with their commit); the files hold exactly the committed rows."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    _commit(w, 0)
    mdir = study.model_dir("a")
    seen: dict[str, bytes] = {}

    def before(event: tuple) -> None:
        if event[0] == "fdatasync":  # the row is in the file when it is synced
            seen[event[1]] = (mdir / event[1]).read_bytes()

    with _events(before) as log:
        _commit(w, 1)
    want = _expected_files([(0, 0), (1, 0)])
    assert seen == want
    commit = log.index(("replace", "run.json"))
    assert log[commit - 1] == ("fsync", "~run.json") and log[commit + 1:] == [("fsync", "a")]
    for f in ROW_FILES:
        row = len(want[f]) // 2
        assert log.index(("ftruncate", f, row)) < log.index(("fdatasync", f)) < commit, f
    part = "train_decisions.epoch-0001.parquet"
    assert log.index(("fsync", f"~{part}")) < log.index(("replace", part)) < commit
    assert [e for e in log if e[0] == "fsync" and not e[1].startswith("~")] == [("fsync", "a")]
    assert [e for e in log if e[0] == "replace"] == [("replace", part), ("replace", "run.json")]
    assert not [e for e in log if e[0] == "unlink"]
    for f in ROW_FILES:
        assert (mdir / f).read_bytes() == want[f], f
    assert _view(study.path) == _expected_view([(0, 0), (1, 0)])


def test_a_reader_sees_the_old_or_the_new_store_at_every_write_of_a_commit(tmp_path: Path) -> None:
    """Just before each write event of committing epoch 2, and of re-committing epoch 1 (which drops
    epoch 2), a fresh reader sees exactly one committed state: before, un-committed, or after."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    _commit(w, 0)
    _commit(w, 1)
    states = {"before": _expected_view([(0, 0), (1, 0)]), "after": _expected_view([(0, 0), (1, 0), (2, 0)])}
    views: list[str] = []

    def before(event: tuple) -> None:
        view = _view(study.path)
        views.append(next((k for k, v in states.items() if _same(view, v)), f"other: {view}"))

    with _events(before) as log:
        _commit(w, 2)
    commit = log.index(("replace", "run.json"))  # views[i] is what a reader saw just before log[i]
    assert set(views[:commit + 1]) == {"before"} and set(views[commit + 1:]) == {"after"}, views
    assert _view(study.path) == states["after"]
    states = {"before": states["after"], "uncommitted": _expected_view([(0, 0)]),
              "after": _expected_view([(0, 0), (1, 1)])}
    views.clear()
    with _events(before) as log:
        _commit(w, 1, shift=1)
    commits = [i for i, e in enumerate(log) if e == ("replace", "run.json")]
    assert len(commits) == 2, log  # run.json first drops epochs 1 and 2, then commits the new epoch 1
    assert set(views[:commits[0] + 1]) == {"before"}, views
    assert set(views[commits[0] + 1:commits[1] + 1]) == {"uncommitted"}, views
    assert set(views[commits[1] + 1:]) == {"after"}, views
    assert commits[0] < log.index(("ftruncate", "correct.bits", 2)) < commits[1]
    assert _view(study.path) == states["after"]
    want = _expected_files([(0, 0), (1, 1)])
    for f in ROW_FILES:
        assert (study.model_dir("a") / f).read_bytes() == want[f], f


def test_a_kill_at_every_write_of_a_commit_resumes_to_the_new_values(tmp_path: Path) -> None:
    """Killed before each write event of committing epoch 1 (a fresh epoch) and of re-committing it:
    the reader sees the state before or after; resumed and committed again with other values, the
    files hold exactly the new rows and no training part of an uncommitted epoch is left."""
    import shutil

    for recommit in (False, True):
        template = tmp_path / f"template{int(recommit)}"
        w = ModelWriter(_study(template), "a")
        w.start(INFO)
        _commit(w, 0)
        if recommit:
            _commit(w, 1)
        old = [(0, 0), (1, 0)] if recommit else [(0, 0)]
        for at in range(1, 60):
            root = tmp_path / f"r{int(recommit)}-k{at}"
            shutil.copytree(template, root)
            w = ModelWriter(open_study(root), "a")
            new = [(0, 0), (1, 1)]
            if not killed_at(at, lambda w=w: _commit(w, 1, shift=1)):
                assert _view(root) == _expected_view(new)
                break
            view = _view(root)
            states = [old, [(0, 0)], new]
            match = [s for s in states if view == _expected_view(s)]
            assert match, f"kill {at}: {view}"
            w = ModelWriter(open_study(root), "a")
            w.start(INFO)
            committed = open_study(root).committed_epochs("a")
            assert committed == [e for e, _ in match[0]], at
            for f, data in _expected_files(match[0]).items():
                assert (root / "models" / "a" / f).read_bytes() == data, (f, at)  # cut back to the committed rows
            parts = sorted(p.name for p in (root / "models" / "a").glob("train_decisions.epoch-*.parquet"))
            assert parts == [f"train_decisions.epoch-{e:04d}.parquet" for e in committed], at
            _commit(w, 1, shift=2)
            want = [(0, 0), (1, 2)]
            assert _view(root) == _expected_view(want), f"kill {at}"
            for f, data in _expected_files(want).items():
                assert (root / "models" / "a" / f).read_bytes() == data, (f, at)
        else:
            raise AssertionError("the commit never ran to its end")


# --------------------------------------------------------------------------------------------
# Resume (start of an unfinished run) and finish


def _killed_after_rows(root: Path) -> Path:
    """A run with epochs 0 and 1 committed, killed after writing epoch 2's rows and training part
    (run.json as before that commit), with a consolidated file and temporary files of killed writes."""
    study = _study(root)
    w = ModelWriter(study, "a")
    w.start(INFO)
    _commit(w, 0)
    _commit(w, 1)
    mdir = study.model_dir("a")
    committed = (mdir / "run.json").read_bytes()
    _commit(w, 2)
    (mdir / "run.json").write_bytes(committed)
    stale = pd.DataFrame({"epoch": np.repeat(np.arange(3, dtype=np.int16), N_TRAIN), "sample_index": np.tile(np.arange(N_TRAIN, dtype=np.int32), 3),
                          "prediction": np.full(3 * N_TRAIN, 7, dtype=np.int32), "correct": np.zeros(3 * N_TRAIN, dtype=bool)})
    stale.to_parquet(mdir / "train_decisions.parquet")  # left by a kill in finish() of an earlier attempt
    from labutil.io import temp_name

    (mdir / "checkpoints").mkdir()
    for final in (mdir / "run.json", mdir / "checkpoints" / "epoch-0002.pt"):  # of this (live) process: the caller holds the lock
        temp_name(final).write_bytes(b"{")
    return mdir


def test_resume_cuts_every_row_file_back_and_syncs_the_cut(tmp_path: Path) -> None:
    """start() of the killed run: run.json says running, one more attempt; each row file (decisions
    and dynamics) holds exactly the committed rows, the cut fsynced; uncommitted parts, the stale
    consolidated file and temporary files are gone; a reader sees the committed epochs only."""
    mdir = _killed_after_rows(tmp_path / "s")
    assert _view(tmp_path / "s") != _expected_view([(0, 0), (1, 0)])  # the stale consolidated file is read
    with _events() as log:
        info = ModelWriter(open_study(tmp_path / "s"), "a").start(INFO)
    assert info["status"] == "running" and info["attempts"] == 2
    stored = open_study(tmp_path / "s").run_info("a")
    assert stored["status"] == "running" and stored["attempts"] == 2 and stored["store_options"] == OPTIONS
    want = _expected_files([(0, 0), (1, 0)])
    for f in ROW_FILES:
        assert (mdir / f).read_bytes() == want[f], f
        assert log.index(("ftruncate", f, len(want[f]))) < log.index(("fsync", f)), f
    assert ("unlink", "train_decisions.epoch-0002.parquet") in log and ("unlink", "train_decisions.parquet") in log
    assert sorted(p.name for p in mdir.iterdir() if p.name.startswith((".", "train_decisions"))) == [
        "train_decisions.epoch-0000.parquet", "train_decisions.epoch-0001.parquet"]
    assert list((mdir / "checkpoints").iterdir()) == []
    assert _view(tmp_path / "s") == _expected_view([(0, 0), (1, 0)])
    info = ModelWriter(open_study(tmp_path / "s"), "a").start(INFO)
    assert info["attempts"] == 3


def test_resume_of_a_run_without_dynamics_touches_no_dynamics_file(tmp_path: Path) -> None:
    """Dynamics files are cut only where the model's store options ask for them (a file of that
    name beside a model without them is not the store's)."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    info = {"condition": "base", "config": {"seed": 1}}
    w.start(info)
    w.commit_epoch(0, LABELS.copy(), {})
    other = study.model_dir("a") / "val_probability.f16"
    other.write_bytes(b"\x00" * 100)
    ModelWriter(study, "a").start(info)
    assert other.stat().st_size == 100
    assert open_study(study.path).epoch_probabilities("a") is None


def test_finish_consolidates_then_commits_then_removes_the_parts(tmp_path: Path) -> None:
    """The consolidated training decisions are synced and renamed (folder synced) before the
    final run.json; the parts are removed only after it; a reader sees the same training decisions
    and a running model before that replace, a complete one after it."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    for e in range(3):
        _commit(w, e)
    running = _expected_view([(0, 0), (1, 0), (2, 0)])
    complete = {**running, "status": "complete"}
    views: list[str] = []

    def before(event: tuple) -> None:
        view = _view(study.path)
        views.append("running" if view == running else "complete" if view == complete else f"other {view}")

    with _events(before) as log:
        w.finish(note="done")
    commit = log.index(("replace", "run.json"))
    consolidated = log.index(("replace", "train_decisions.parquet"))
    assert log.index(("fsync", "~train_decisions.parquet")) < consolidated < log.index(("fsync", "a")) < commit
    unlinks = [i for i, e in enumerate(log) if e[0] == "unlink"]
    assert sorted(log[i][1] for i in unlinks) == [f"train_decisions.epoch-{e:04d}.parquet" for e in range(3)]
    assert min(unlinks) > commit
    assert set(views[:commit + 1]) == {"running"} and set(views[commit + 1:]) == {"complete"}, views
    info = open_study(study.path).run_info("a")
    assert info["status"] == "complete" and info["note"] == "done" and "finished" in info
    assert sorted(p.name for p in study.model_dir("a").glob("train_decisions*")) == ["train_decisions.parquet"]
    assert _view(study.path) == complete
    import pyarrow.parquet as pq  # formats.md: parts uncompressed, the consolidated file zstd

    assert pq.read_metadata(study.model_dir("a") / "train_decisions.parquet").row_group(0).column(0).compression == "ZSTD"


def test_training_parts_are_uncompressed(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    study, w = _dynamics_model(tmp_path / "s", epochs=0)
    _commit(w, 0)
    meta = pq.read_metadata(study.model_dir("a") / "train_decisions.epoch-0000.parquet")
    assert {meta.row_group(0).column(i).compression for i in range(4)} == {"UNCOMPRESSED"}


def test_a_failed_run_keeps_its_parts_and_is_resumed(tmp_path: Path) -> None:
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    _commit(w, 0)
    _commit(w, 1)
    w.finish("failed", error="out of memory")
    info = open_study(study.path).run_info("a")
    assert info["status"] == "failed" and info["error"] == "out of memory"
    assert sorted(p.name for p in study.model_dir("a").glob("train_decisions*")) == [
        "train_decisions.epoch-0000.parquet", "train_decisions.epoch-0001.parquet"]
    assert _view(study.path) == {**_expected_view([(0, 0), (1, 0)]), "status": "failed"}
    with pytest.raises(UserError, match="failed, not complete"):
        open_study(study.path).final_decisions(["a"])
    w = ModelWriter(open_study(study.path), "a")
    assert w.start(INFO)["status"] == "running"
    _commit(w, 2)
    w.finish()
    assert _view(study.path) == {**_expected_view([(0, 0), (1, 0), (2, 0)]), "status": "complete"}


def test_a_complete_run_is_returned_as_it_is_and_its_leftover_parts_removed(tmp_path: Path) -> None:
    """A kill between the final run.json and the removal of the parts: start() removes them and
    changes nothing else (no new attempt, status complete)."""
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start(INFO)
    _commit(w, 0)
    _commit(w, 1)
    w.finish()
    mdir = study.model_dir("a")
    before = (mdir / "run.json").read_bytes()
    for e in (0, 1):
        (mdir / f"train_decisions.epoch-{e:04d}.parquet").write_bytes(b"x")
        (mdir / f"decisions.epoch-{e:04d}.parquet").write_bytes(b"x")
    info = ModelWriter(study, "a").start(INFO)
    assert info["status"] == "complete" and info["attempts"] == 1
    assert (mdir / "run.json").read_bytes() == before
    assert not list(mdir.glob("*.epoch-*.parquet"))
    assert _view(study.path) == {**_expected_view([(0, 0), (1, 0)]), "status": "complete"}


# --------------------------------------------------------------------------------------------
# Migration from format 1

V1 = Path(__file__).parent / "data" / "store_v1"


def _v1_copy(root: Path) -> Path:
    import shutil

    shutil.copytree(V1, root)
    return root


def _v1_labels() -> np.ndarray:
    import pyarrow.parquet as pq

    return pq.read_table(V1 / "images.parquet").column("label").to_numpy()


def test_migration_writes_the_row_files_then_commits_then_removes_the_parquet_files(tmp_path: Path) -> None:
    """Row files synced and renamed, then run.json (format 2) replaced and the folder synced once,
    then the Parquet decisions removed; before each event a reader sees the same arrays."""
    from model_runs.store import migrate_model

    root = _v1_copy(tmp_path / "s")
    want = np.load(V1 / "expected_predictions.npy")[1, :2]
    views: list[bool] = []

    def before(event: tuple) -> None:
        e = open_study(root).epoch_decisions("going")
        views.append(e.epochs.tolist() == [0, 1] and e.prediction.tolist() == want.tolist())

    with _events(before) as log:
        assert migrate_model(open_study(root), "going")
    assert views and all(views)
    commit = log.index(("replace", "run.json"))
    for f in ("correct.bits", "prediction.int16"):
        assert log.index(("fsync", f"~{f}")) < log.index(("replace", f)) < commit
    assert [e for e in log if e[0] == "fsync" and not e[1].startswith("~")] == [("fsync", "going")]
    assert log.index(("fsync", "going")) == commit + 1
    unlinks = [i for i, e in enumerate(log) if e[0] == "unlink"]
    assert sorted(log[i][1] for i in unlinks) == ["decisions.epoch-0000.parquet", "decisions.epoch-0001.parquet"]
    assert min(unlinks) > commit
    mdir = root / "models" / "going"
    assert (mdir / "correct.bits").read_bytes() == b"".join(_packed(p == _v1_labels()) for p in want)
    assert (mdir / "prediction.int16").read_bytes() == want.astype("<i2").tobytes()
    info = open_study(root).run_info("going")
    assert info["format_version"] == 2 and set(info["migrated"]) == {"from_format", "at"}
    assert info["migrated"]["from_format"] == 1 and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$", info["migrated"]["at"])
    assert sorted(p.name for p in mdir.glob("train_decisions*")) == [
        "train_decisions.epoch-0000.parquet", "train_decisions.epoch-0001.parquet"]  # training decisions stay


def test_a_format_1_record_without_version_or_epochs_migrates(tmp_path: Path) -> None:
    """run.json of the first writers: no format_version (format 1 by definition), and a model
    started without any epoch (no `epochs`): readers take it as format 1, migration as an empty
    format-2 model whose row files hold nothing."""
    import json

    from model_runs.store import migrate_model

    root = _v1_copy(tmp_path / "s")
    for model_id, drop in (("going", ["format_version"]), ("done", ["format_version"])):
        path = root / "models" / model_id / "run.json"
        record = json.loads(path.read_text())
        for key in drop:
            record.pop(key)
        path.write_text(json.dumps(record))
    empty = root / "models" / "empty"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"model_id": "empty", "status": "running", "config": {}}))
    study = open_study(root)
    assert [study.format_version(m) for m in ("done", "going", "empty")] == [1, 1, 1]
    preds = np.load(V1 / "expected_predictions.npy")
    np.testing.assert_array_equal(study.final_decisions(["done"]).correct[0], preds[0, -1] == _v1_labels())
    np.testing.assert_array_equal(study.final_decisions(["going"], epoch=1).correct[0], preds[1, 1] == _v1_labels())
    assert study.epoch_decisions("going").prediction.tolist() == preds[1, :2].tolist()
    assert migrate_model(study, "going") and migrate_model(study, "empty")
    study = open_study(root)
    assert study.format_version("going") == 2 and study.format_version("empty") == 2
    np.testing.assert_array_equal(study.epoch_decisions("going").prediction, preds[1, :2])
    assert study.committed_epochs("empty") == []
    assert (empty / "correct.bits").stat().st_size == 0 and (empty / "prediction.int16").stat().st_size == 0
    with pytest.raises(UserError, match=r"models/empty: no committed epochs"):
        study.epoch_decisions("empty")
    w = ModelWriter(study, "empty")
    w.start({"config": {}})
    w.commit_epoch(0, _v1_labels(), {})
    assert open_study(root).epoch_decisions("empty").prediction.tolist() == [_v1_labels().tolist()]
    assert not migrate_model(open_study(root), "empty")


def test_migrating_a_study_refuses_a_model_being_trained_naming_it(tmp_path: Path) -> None:
    import fcntl

    from model_runs.model_lock import lock_path
    from model_runs.store import migrate_study

    root = _v1_copy(tmp_path / "s")
    path = lock_path(root / "models" / "going")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="model 'going' is busy"):
            migrate_study(root)
    finally:
        os.close(fd)
    assert migrate_study(root) == (1, 1)  # 'done' was migrated before 'going' was refused


# --------------------------------------------------------------------------------------------
# Readers of the optional files


def _dynamics_model(root: Path, options: dict[str, Any] | None = OPTIONS, epochs: int = 2):
    study = _study(root)
    w = ModelWriter(study, "a")
    w.start({**INFO, "store_options": options} if options is not None else {"condition": "base", "config": {"seed": 1}})
    for e in range(epochs):
        if options and (options.get("val_probabilities") or options.get("train_probabilities")):
            d = {k: v for k, v in _epoch(e)["dynamics"].items() if options.get(f"{k[0]}_probabilities")}
            w.commit_epoch(e, _epoch(e)["prediction"], {}, dynamics=d)
        else:
            w.commit_epoch(e, _epoch(e)["prediction"], {})
    return study, w


def test_dynamics_rows_are_read_per_split_and_quantity(tmp_path: Path) -> None:
    study, _ = _dynamics_model(tmp_path / "s")
    for split, width in (("val", len(LABELS)), ("train", N_TRAIN)):
        for quantity, read in (("probability", study.epoch_probabilities), ("margin", study.epoch_margins)):
            got = read("a", split)
            assert got.dtype == np.float16 and got.shape == (2, width)
            want = np.stack([_epoch(e)["dynamics"][(split, quantity)] for e in range(2)])
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(study.epoch_probabilities("a"), study.epoch_probabilities("a", "val"))
    assert study.store_options("a") == OPTIONS
    with pytest.raises(ValueError, match="split must be 'val' or 'train', not 'test'"):
        study.epoch_margins("a", "test")


def test_dynamics_of_a_model_without_them_are_none(tmp_path: Path) -> None:
    study, _ = _dynamics_model(tmp_path / "s", {"val_probabilities": True, "train_probabilities": False, "n_train": N_TRAIN})
    assert study.epoch_probabilities("a", "val").shape == (2, len(LABELS))
    assert study.epoch_probabilities("a", "train") is None and study.epoch_margins("a", "train") is None
    study, _ = _dynamics_model(tmp_path / "t", None)
    assert study.epoch_probabilities("a") is None and study.epoch_margins("a", "train") is None
    assert study.store_options("a") == {}
    assert open_study(V1).epoch_probabilities("done") is None and open_study(V1).store_options("done") == {}
    path = study.model_dir("a") / "run.json"
    import json

    record = json.loads(path.read_text())
    record["store_options"] = ["val_probabilities"]  # not an object: nothing stored beyond the decisions
    path.write_text(json.dumps(record))
    assert open_study(study.path).epoch_probabilities("a") is None


def test_dynamics_before_any_epoch_are_empty_rows_of_the_right_width(tmp_path: Path) -> None:
    study, _ = _dynamics_model(tmp_path / "s", epochs=0)
    for split, width in (("val", len(LABELS)), ("train", N_TRAIN)):
        got = study.epoch_margins("a", split)
        assert got.shape == (0, width) and got.dtype == np.float16


@pytest.mark.parametrize("n_train", [True, "4", -1, 2.0, None])
def test_a_bad_n_train_is_named(tmp_path: Path, n_train: Any) -> None:
    import json

    study, _ = _dynamics_model(tmp_path / "s")
    path = study.model_dir("a") / "run.json"
    record = json.loads(path.read_text())
    record["store_options"]["n_train"] = n_train
    path.write_text(json.dumps(record))
    with pytest.raises(UserError) as err:
        open_study(study.path).epoch_probabilities("a", "train")
    assert str(err.value) == f"{path}:store_options.n_train: {n_train!r} is not a number of training images"
    assert open_study(study.path).epoch_probabilities("a", "val").shape == (2, len(LABELS))


def test_a_short_dynamics_file_is_refused(tmp_path: Path) -> None:
    study, _ = _dynamics_model(tmp_path / "s")
    path = study.model_dir("a") / "train_margin.f16"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: holds fewer rows than run.json commits \(2\)$"):
        study.epoch_margins("a", "train")
    path.unlink()
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: committed epochs have no decisions file$"):
        study.epoch_margins("a", "train")


def test_dynamics_rows_of_the_wrong_shape_or_missing_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s", epochs=1)
    mdir = study.model_dir("a")
    before = {f: (mdir / f).read_bytes() for f in ROW_FILES + ["run.json"]}
    d = dict(_epoch(1)["dynamics"])
    d[("train", "margin")] = d[("train", "margin")][:-1]
    with pytest.raises(ValueError, match=r"^train margin rows \(1, 3\) != \(1, 4\)$"):
        w.commit_epoch(1, _epoch(1)["prediction"], {}, dynamics=d)
    del d[("train", "margin")]
    with pytest.raises(ValueError, match=r"the store options ask for train margin rows; none given$"):
        w.commit_epoch(1, _epoch(1)["prediction"], {}, dynamics=d)
    assert open_study(study.path).committed_epochs("a") == [0]
    assert (mdir / "run.json").read_bytes() == before["run.json"]
    assert _view(study.path)["val_margin"] == _expected_view([(0, 0)])["val_margin"]


def test_train_labels_round_trip_as_little_endian_int16(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s", epochs=0)
    assert study.train_labels("a") is None
    labels = np.array([2, 0, 1, 300])
    w.save_train_labels(labels)
    path = study.model_dir("a") / "train_labels.int16"
    assert path.read_bytes() == b"".join(int(v).to_bytes(2, "little") for v in labels)
    got = study.train_labels("a")
    assert got.dtype == np.int64 and got.tolist() == labels.tolist()
    w.save_train_labels(np.array([1, 2, 0]))
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: 3 labels, run.json says 4 training images$"):
        study.train_labels("a")
    with pytest.raises(ValueError, match="int16"):
        w.save_train_labels(np.array([0, -1, 2, 1]))
    plain, w2 = _dynamics_model(tmp_path / "t", None, epochs=0)
    w2.save_train_labels(np.array([1, 2, 0]))  # no n_train recorded: nothing to check against
    assert plain.train_labels("a").tolist() == [1, 2, 0]


def test_activations_are_read_only_once_the_model_is_complete(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s")
    assert study.activations("a") is None
    index = np.array([1, 4, 9], dtype=np.int32)
    acts = np.arange(6, dtype=np.float64).reshape(3, 2) / 4
    with _events() as log:
        w.save_activations(index, acts)
    assert ("fsync", "a") not in log  # the folder is synced by the commit that follows
    assert [e for e in log if e[0] == "replace"] == [("replace", "activation_index.npy"), ("replace", "activations.npy")]
    assert study.activations("a") is None  # written before the final epoch is committed: not final yet
    w.finish()
    got_index, got = study.activations("a")
    assert got_index.dtype == np.int64 and got_index.tolist() == [1, 4, 9]
    assert got.dtype == np.float16 and got.tolist() == acts.tolist()
    mdir = study.model_dir("a")
    assert np.load(mdir / "activation_index.npy").dtype == np.int64 and np.load(mdir / "activations.npy").dtype == np.float16


@pytest.mark.parametrize(("index", "acts"), [
    ([0, 10], np.zeros((2, 3))),      # image 10 of 10
    ([-1, 3], np.zeros((2, 3))),      # a negative index
    ([0, 3, 5], np.zeros((2, 3))),    # one row short
    ([[0, 3]], np.zeros((1, 3))),     # index not a vector
    ([0, 3], np.zeros(2)),            # activations not a matrix
])
def test_activations_that_do_not_match_are_refused(tmp_path: Path, index: list, acts: np.ndarray) -> None:
    study, w = _dynamics_model(tmp_path / "s")
    w.finish()
    mdir = study.model_dir("a")
    np.save(mdir / "activation_index.npy", np.array(index, dtype=np.int64))
    np.save(mdir / "activations.npy", acts.astype(np.float16))
    with pytest.raises(UserError) as err:
        study.activations("a")
    shape, ishape = acts.shape, np.array(index).shape
    assert str(err.value) == (f"{mdir / 'activations.npy'}: activations {shape} do not match image indices {ishape} "
                              f"of the study's 10 images")


def test_unreadable_activations_are_refused(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s")
    w.save_activations(np.array([0, 1]), np.zeros((2, 3)))
    w.finish()
    mdir = study.model_dir("a")
    (mdir / "activations.npy").write_bytes((mdir / "activations.npy").read_bytes()[:-3])
    with pytest.raises(UserError, match=rf"^{re.escape(str(mdir))}: unreadable activations \(.+\)$"):
        study.activations("a")
    np.save(mdir / "activation_index.npy", np.array([{"x": 1}, 2], dtype=object))  # a pickle: refused, not loaded
    np.save(mdir / "activations.npy", np.zeros((2, 3), dtype=np.float16))
    with pytest.raises(UserError, match="unreadable activations"):
        study.activations("a")
    (mdir / "activations.npy").unlink()
    assert study.activations("a") is None


def test_probabilities_are_float32_and_checked(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s")
    probs = np.full((len(LABELS), 3), 1 / 3)
    w.save_probabilities(probs)
    got = study.probabilities("a")
    assert got.dtype == np.float32 and got.tolist() == probs.astype(np.float32).tolist()
    path = study.model_dir("a") / "probabilities.npy"
    for bad in (np.zeros((len(LABELS), 3), dtype=np.int64), np.zeros(len(LABELS)), np.zeros((len(LABELS) - 1, 3))):
        np.save(path, bad)
        with pytest.raises(UserError) as err:
            study.probabilities("a")
        assert str(err.value) == (f"{path}: probabilities of shape {bad.shape} ({bad.dtype}); expected "
                                  f"({len(LABELS)}, n_classes) floats, one row per image")
    np.save(path, np.full((len(LABELS), 3), None, dtype=object))  # a pickle of the right shape: never unpickled
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: unreadable or truncated probabilities \(.*pickle.*\)$"):
        study.probabilities("a")
    np.save(path, probs.astype(np.float32))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(UserError) as err:
        study.probabilities("a")
    try:
        np.load(path, allow_pickle=False)
    except ValueError as exc:
        first_line = str(exc).splitlines()[0]
    assert str(err.value) == f"{path}: unreadable or truncated probabilities ({first_line})"


def test_data_location_round_trip(tmp_path: Path) -> None:
    study = _study(tmp_path / "s")
    assert study.data_location() is None
    record = {"format_version": 1, "dataset": "digits", "fingerprint": {}}
    study.write_data_location(record)
    assert open_study(study.path).data_location() == record
    (study.path / "data_location.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"data_location.json: not an object"):
        study.data_location()


# --------------------------------------------------------------------------------------------
# Growing a study (create_study on an existing folder)


def _model(model_id: str, condition: str, **fields: Any) -> dict[str, Any]:
    return {"model_id": model_id, "condition": condition, "arch": "mlp", "lr": 0.1, "seeds": {"init": 1, "order": 1}, **fields}


GROWN = {"name": "g", "dataset": {"name": "digits", "seed": 0}, "description": "first", "recipe": {"lr": 0.1},
         "models": [_model("a", "base"), _model("b", "init")],
         "comparisons": {"base": {"label": "base models"}, "init": {"label": "init seeds"}}}


def _grown(root: Path, trained: tuple[str, ...] = ("a",)) -> Path:
    """A study folder of GROWN whose models `trained` have a run.json."""
    study = _study(root)
    (root / "study.toml").write_text(dumps_toml(GROWN))  # as if created from GROWN
    for model_id in trained:
        ModelWriter(study, model_id).start({"condition": "x", "config": {}})
    return root


def _definition(root: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads((root / "study.toml").read_text())


def _grow(root: Path, definition: dict[str, Any]):
    images = open_study(root).images
    return create_study(root, definition, images)


def test_a_grown_study_adds_new_models_keeps_unlisted_ones_and_takes_the_new_texts(tmp_path: Path) -> None:
    root = _grown(tmp_path / "s")
    new = {"name": "g", "dataset": {"name": "digits", "seed": 0}, "description": "second", "recipe": {"lr": 0.2},
           "models": [_model("c", "wide", lr=0.3), _model("a", "base")],
           "comparisons": {"wide": {"label": "wide models"}, "base": {"label": "renamed"}}}
    _grow(root, new)
    assert _definition(root) == {
        "name": "g", "dataset": {"name": "digits", "seed": 0}, "description": "second", "recipe": {"lr": 0.2},
        "models": [_model("c", "wide", lr=0.3), _model("a", "base"), _model("b", "init")],  # the new order, then the kept ones
        "comparisons": {"init": {"label": "init seeds"}, "wide": {"label": "wide models"}, "base": {"label": "renamed"}},
    }


def test_a_study_file_without_models_keeps_the_stored_ones(tmp_path: Path) -> None:
    root = _grown(tmp_path / "s")
    new = {k: v for k, v in GROWN.items() if k not in ("models", "comparisons")}
    _grow(root, new)
    got = _definition(root)
    assert got["models"] == GROWN["models"] and got["comparisons"] == GROWN["comparisons"]
    root2 = tmp_path / "t"
    _study(root2)
    bare = {"name": "t", "dataset": {"name": "digits", "seed": 0}}
    (root2 / "study.toml").write_text(dumps_toml(bare))
    _grow(root2, {**bare, "description": "x"})
    assert _definition(root2) == {**bare, "description": "x"}  # no models anywhere: no models key


def test_an_untrained_model_may_change_and_a_trained_one_may_not(tmp_path: Path) -> None:
    root = _grown(tmp_path / "s")
    changed_b = {**GROWN, "models": [_model("a", "base"), _model("b", "init", lr=0.5)]}
    _grow(root, changed_b)
    assert _definition(root)["models"][1]["lr"] == 0.5
    before = (root / "study.toml").read_bytes()
    where = f"{root / 'study.toml'}: folder holds a different study definition"
    tail = f"; give the changed model another name (condition), or remove {root / 'models' / 'a'} to retrain it"
    cases = [
        (_model("a", "base", lr=0.05), "'lr' is 0.1 there, 0.05 in the study file"),
        (_model("a", "base", seeds={"init": 1, "order": 2}), "'seeds.order' is 1 there, 2 in the study file"),
        (_model("a", "base", momentum=0.9), "'momentum' is absent there, 0.9 in the study file"),
        ({k: v for k, v in _model("a", "base").items() if k != "arch"}, "'arch' is 'mlp' there, absent in the study file"),
        (_model("a", "base", eval_resize=224), "'eval_resize' is 0 there, 224 in the study file"),
    ]
    for entry, difference in cases:
        with pytest.raises(UserError) as err:
            _grow(root, {**GROWN, "models": [entry, _model("b", "init", lr=0.5)]})
        assert str(err.value) == f"{where}: model 'a': {difference}{tail}"
        assert (root / "study.toml").read_bytes() == before
    # keys added to recipes later count with their defaults: writing them out changes nothing
    _grow(root, {**GROWN, "models": [_model("a", "base", eval_resize=0, eval_interpolation="bilinear"), _model("b", "init", lr=0.5)]})
    assert _definition(root)["models"][0]["eval_resize"] == 0


@pytest.mark.parametrize(("change", "difference"), [
    ({"name": "h"}, "'name' is 'g' there, 'h' in the study file"),
    ({"dataset": {"name": "digits", "seed": 1}}, "'dataset.seed' is 0 there, 1 in the study file"),
    ({"dataset": {"name": "digits", "seed": 0, "val_per_class": 3}}, "'dataset.val_per_class' is absent there, 3 in the study file"),
    ({"extra": [1, 2]}, "'extra' is absent there, [1, 2] in the study file"),
    ({"name": "h", "dataset": {"name": "other", "seed": 0}}, "'dataset.name' is 'digits' there, 'other' in the study file"),
])
def test_a_different_study_is_refused_naming_the_first_field(tmp_path: Path, change: dict[str, Any], difference: str) -> None:
    root = _grown(tmp_path / "s")
    before = (root / "study.toml").read_bytes()
    with pytest.raises(UserError) as err:
        _grow(root, {**GROWN, **change})
    assert str(err.value) == f"{root / 'study.toml'}: folder holds a different study definition: {difference}; choose another --runs-dir"
    assert (root / "study.toml").read_bytes() == before
    stored_only = {k: v for k, v in GROWN.items() if k != "description"}
    (root / "study.toml").write_text(dumps_toml({**GROWN, "extra": 1}))
    with pytest.raises(UserError, match=r"'extra' is 1 there, absent in the study file; choose another --runs-dir$"):
        _grow(root, stored_only)


# --------------------------------------------------------------------------------------------
# Readers of the decisions (both formats)


def _plain_model(root: Path, preds: list[list[int]], finish: bool = True):
    study = _study(root)
    w = ModelWriter(study, "a")
    w.start({"condition": "base", "config": {"seed": 1}})
    for e, p in enumerate(preds):
        w.commit_epoch(e, np.array(p), {})
    if finish:
        w.finish()
    return open_study(root)


PREDS = [[0] * 10, [0, 1, 2, 0, 1, 2, 0, 0, 0, 0], [0, 1, 2, 0, 1, 2, 1, 0, 2, 2]]


def test_final_decisions_and_their_refusals_name_the_model_and_the_epochs(tmp_path: Path) -> None:
    study = _plain_model(tmp_path / "s", PREDS, finish=False)
    mdir = study.model_dir("a")
    with pytest.raises(UserError) as err:
        study.final_decisions(["a"])
    assert str(err.value) == (f"{mdir}: model is running, not complete: its last stored epoch (2) is not its final "
                              "one; ask for an epoch explicitly to use it")
    with pytest.raises(UserError) as err:
        study.final_decisions(["a"], epoch=5)
    assert str(err.value) == f"{mdir}: epoch 5 not stored (have 0..2)"
    m = study.final_decisions(["a"], epoch=1)
    assert m.epochs.tolist() == [1] and np.issubdtype(m.epochs.dtype, np.integer) and m.model_ids == ["a"]
    assert m.image_index.tolist() == list(range(10))
    assert m.correct.tolist() == [(np.array(PREDS[1]) == LABELS).tolist()]
    e = study.epoch_decisions("a")
    assert e.model_id == "a" and e.image_index.tolist() == list(range(10)) and e.epochs.tolist() == [0, 1, 2]
    path = mdir / "correct.bits"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: holds fewer rows than run.json commits \(3\)$"):
        study.final_decisions(["a"], epoch=2)


def test_a_model_without_epochs_has_none_committed(tmp_path: Path) -> None:
    import json

    study = _plain_model(tmp_path / "s", [])
    path = study.model_dir("a") / "run.json"
    record = json.loads(path.read_text())
    del record["epochs"]  # a record of the first writers, started and never committed
    path.write_text(json.dumps(record))
    assert study.committed_epochs("a") == []
    for read in (lambda: study.epoch_decisions("a"), lambda: study.final_decisions(["a"])):
        with pytest.raises(UserError) as err:
            read()
        assert str(err.value) == f"{study.model_dir('a')}: no committed epochs"


def test_decisions_table_is_the_format_1_layout(tmp_path: Path) -> None:
    study = _plain_model(tmp_path / "s", PREDS)
    table = study.decisions_table("a")
    assert list(table.columns) == ["epoch", "image_index", "prediction", "correct"]
    assert [str(t) for t in table.dtypes] == ["int16", "int32", "int32", "bool"]
    assert table["epoch"].tolist() == [e for e in range(3) for _ in range(10)]
    assert table["image_index"].tolist() == list(range(10)) * 3
    assert table["prediction"].tolist() == sum(PREDS, [])
    assert table["correct"].tolist() == (np.array(PREDS) == LABELS).ravel().tolist()
    assert study.decisions_table("a", [2, 0])["epoch"].tolist() == [0] * 10 + [2] * 10


def test_run_info_is_a_deep_copy(tmp_path: Path) -> None:
    study = _plain_model(tmp_path / "s", PREDS)
    study.run_info("a")["epochs"][0]["val_accuracy"] = -1.0
    assert study.run_info("a")["epochs"][0]["val_accuracy"] == pytest.approx(np.mean(np.array(PREDS[0]) == LABELS))


def test_row_files_get_the_mode_of_a_plain_open(tmp_path: Path) -> None:
    """The one permission policy: 0666 less the umask (here 002: every bit but one shows)."""
    old = os.umask(0o002)
    try:
        study, _ = _dynamics_model(tmp_path / "s")
    finally:
        os.umask(old)
    for f in ROW_FILES:
        assert (study.model_dir("a") / f).stat().st_mode & 0o777 == 0o664, f


def test_training_decisions_of_a_running_model_read_from_its_parts(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s", epochs=0)
    for e in range(3):
        _commit(w, e)
    table = open_study(study.path).train_decisions_table("a")
    assert list(table.columns) == ["epoch", "sample_index", "prediction", "correct"]
    assert table.index.tolist() == list(range(12))
    assert table["epoch"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    _plain_model(tmp_path / "t", PREDS)
    assert open_study(tmp_path / "t").train_decisions_table("a") is None


def test_every_training_part_has_the_decision_table_types(tmp_path: Path) -> None:
    """One schema for all parts of a model (finish() concatenates them, also parts of an earlier
    attempt): the types of the decisions' Parquet table, whatever integer types the caller passes."""
    import pyarrow.parquet as pq

    study, w = _dynamics_model(tmp_path / "s", epochs=0)
    idx = np.arange(N_TRAIN, dtype=np.int64)
    w.commit_epoch(0, LABELS.copy(), {}, train_decisions=(idx, idx.astype(np.int8) % 3, (idx % 2).astype(np.int64)),
                   dynamics={k: v for k, v in _epoch(0)["dynamics"].items()})
    schema = pq.read_schema(study.model_dir("a") / "train_decisions.epoch-0000.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [("epoch", "int16"), ("sample_index", "int32"),
                                                       ("prediction", "int32"), ("correct", "bool")]


# -- format 1


def _v1_done(tmp_path: Path):
    root = _v1_copy(tmp_path / "v1")
    return open_study(root), root / "models" / "done", np.load(V1 / "expected_predictions.npy")


def _rewrite(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    pq.write_table(pa.Table.from_pandas(change(pq.read_table(path).to_pandas()), schema=schema, preserve_index=False), path)


def test_format_1_reads_only_the_committed_epochs_with_int32_predictions(tmp_path: Path) -> None:
    import json

    study, mdir, preds = _v1_done(tmp_path)
    e = study.epoch_decisions("done")
    assert e.prediction.dtype == np.int32 and e.correct.dtype == bool
    record = json.loads((mdir / "run.json").read_text())
    record["epochs"] = record["epochs"][:2]  # decisions.parquet also holds epoch 2, which run.json does not list
    (mdir / "run.json").write_text(json.dumps(record))
    e = open_study(study.path).epoch_decisions("done")
    assert e.epochs.tolist() == [0, 1] and e.prediction.tolist() == preds[0, :2].tolist()
    # the slow path (rows out of order) gives the same types
    _rewrite(mdir / "decisions.parquet", lambda df: df.iloc[::-1])
    slow = open_study(study.path).epoch_decisions("done")
    assert slow.prediction.dtype == np.int32 and slow.correct.dtype == bool
    assert slow.prediction.tolist() == preds[0, :2].tolist()
    lean = open_study(study.path).epoch_decisions("done", with_prediction=False)
    assert lean.prediction is None and lean.correct.tolist() == (preds[0, :2] == _v1_labels()).tolist()


@pytest.mark.parametrize(("model_id", "image", "epoch"), [("done", 11, 1), ("done", -1, 1), ("going", 3, 5)])
def test_format_1_decisions_outside_the_study_are_refused(tmp_path: Path, model_id: str, image: int, epoch: int) -> None:
    """An image outside 0..n-1, or a row of an epoch run.json does not list inside a committed part."""
    root = _v1_copy(tmp_path / "s")
    mdir = root / "models" / model_id
    committed = "0..2" if model_id == "done" else "0..1"

    def change(df: pd.DataFrame) -> pd.DataFrame:
        row = df.index[(df["epoch"] == 1) & (df["image_index"] == 4)][0]
        df.loc[row, ["image_index", "epoch"]] = [image, epoch]
        return df

    _rewrite(mdir / ("decisions.parquet" if model_id == "done" else "decisions.epoch-0001.parquet"), change)
    with pytest.raises(UserError) as err:
        open_study(root).epoch_decisions(model_id)
    assert str(err.value) == (f"{mdir}: decisions name images or epochs outside the study "
                              f"(image_index 0..10, committed epochs {committed})")


@pytest.mark.parametrize(("image", "named"), [(11, 11), (12, 12), (-1, -1)])
def test_format_1_final_decisions_name_an_image_outside_the_study(tmp_path: Path, image: int, named: int) -> None:
    study, mdir, _ = _v1_done(tmp_path)
    _rewrite(mdir / "decisions.parquet", lambda df: df.assign(image_index=np.where(
        (df["epoch"] == 2) & (df["image_index"] == 10), image, df["image_index"])))
    with pytest.raises(UserError) as err:
        study.final_decisions(["done"])
    assert str(err.value) == (f"{mdir}: decisions name image_index {named}, outside the study's images (0..10)")


def test_format_1_final_decisions_refuse_a_repeated_image_in_any_order(tmp_path: Path) -> None:
    """Image 10 missing and image 8 twice, every row away from its own place (no row i holds image i)."""
    study, mdir, _ = _v1_done(tmp_path)
    order = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 8])

    def change(df: pd.DataFrame) -> pd.DataFrame:
        last = df[df["epoch"] == 2].copy()
        last["image_index"] = order
        return pd.concat([df[df["epoch"] != 2], last], ignore_index=True)

    _rewrite(mdir / "decisions.parquet", change)
    with pytest.raises(UserError) as err:
        study.final_decisions(["done"])
    assert str(err.value) == f"{mdir}: decisions cover a different image set (some image_index repeated, others missing)"
    _rewrite(mdir / "decisions.parquet", lambda df: df[~((df["epoch"] == 2) & (df["image_index"] == 8))])
    with pytest.raises(UserError) as err:
        open_study(study.path).final_decisions(["done"])
    assert str(err.value) == f"{mdir}: 9 decisions for 11 images"


def test_format_1_missing_short_or_unreadable_decisions_are_named(tmp_path: Path) -> None:
    root = _v1_copy(tmp_path / "s")
    mdir = root / "models" / "going"
    part = mdir / "decisions.epoch-0001.parquet"
    _rewrite(part, lambda df: df.iloc[:-1])
    with pytest.raises(UserError) as err:
        open_study(root).epoch_decisions("going")
    assert str(err.value) == f"{mdir}: expected 22 decisions, found 21"
    part.unlink()
    with pytest.raises(UserError) as err:
        open_study(root).epoch_decisions("going")
    assert str(err.value) == f"{part}: committed epoch has no decisions file"
    (mdir / "decisions.epoch-0000.parquet").unlink()
    with pytest.raises(UserError) as err:
        open_study(root).epoch_decisions("going")
    assert str(err.value) == f"{mdir / 'decisions.epoch-0000.parquet'}: committed epoch has no decisions file"
    done = root / "models" / "done" / "decisions.parquet"
    done.write_bytes(done.read_bytes()[:100])
    with pytest.raises(UserError, match=rf"^{re.escape(str(root / 'models' / 'done'))}: unreadable decisions \(.+\)$"):
        open_study(root).final_decisions(["done"])


# --------------------------------------------------------------------------------------------
# study.toml writer and the image list


def test_dumps_toml_round_trips_nested_tables_odd_keys_and_false() -> None:
    import tomllib

    data = {"name": "x", "skip": None, "off": False, "on": True, "after": 1,
            "dataset": {"name": "d", "options": {"resize": 256, "deep": {"k": "v"}},
                        "splits": [{"name": "train"}, {"name": "val"}]},
            "keys": {"a b": 1, "x.y": 2, "CAPS": 3, "ünï": "çødé"}}
    text = dumps_toml(data)
    want = {k: v for k, v in data.items() if k != "skip"}  # None: left out (TOML has no null)
    assert tomllib.loads(text) == want
    assert "off = false" in text.splitlines() and "[dataset.options.deep]" in text and "[[dataset.splits]]" in text
    with pytest.raises(TypeError, match="cannot write set to TOML"):
        dumps_toml({"s": {1, 2}})


def test_the_image_list_is_stored_with_its_own_index_only(tmp_path: Path) -> None:
    images = pd.DataFrame({"image_index": np.arange(len(LABELS)), "image_id": [f"val/{i}" for i in range(len(LABELS))],
                           "label": LABELS, "class_name": [f"c{x}" for x in LABELS], "extra": 1},
                          index=np.arange(len(LABELS)) + 100)
    study = create_study(tmp_path / "s", DEFINITION, images)
    got = open_study(study.path).images
    assert list(got.columns) == ["image_index", "image_id", "label", "class_name"]
    assert got["image_index"].tolist() == list(range(len(LABELS))) and got["label"].tolist() == LABELS.tolist()
    assert create_study(tmp_path / "s", DEFINITION, images).images.equals(got)  # reopened: the same list
    with pytest.raises(ValueError, match=r"^image_index must be 0..n-1 in order$"):
        create_study(tmp_path / "t", DEFINITION, images.assign(image_index=np.arange(len(LABELS))[::-1]))


# --------------------------------------------------------------------------------------------
# commit_epochs: several epochs at once, and its refusals


def test_several_epochs_committed_at_once_are_stored_row_by_row(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s", epochs=0)
    es = [_epoch(e) for e in range(3)]
    dynamics = {k: np.stack([x["dynamics"][k] for x in es]) for k in es[0]["dynamics"]}
    w.commit_epochs([0, 1, 2], np.stack([x["prediction"] for x in es]), [x["metrics"] for x in es],
                    [None] + [x["train"] for x in es[1:]], dynamics)
    want = _expected_files([(0, 0), (1, 0), (2, 0)])
    for f in ROW_FILES:
        assert (study.model_dir("a") / f).read_bytes() == want[f], f
    info = open_study(study.path).run_info("a")
    assert [e["epoch"] for e in info["epochs"]] == [0, 1, 2]
    assert [e["val_loss"] for e in info["epochs"]] == [1.0, 2.0, 3.0]
    assert [e["val_accuracy"] for e in info["epochs"]] == [float(np.mean(x["prediction"] == LABELS)) for x in es]
    assert open_study(study.path).train_decisions_table("a")["epoch"].tolist() == [1] * 4 + [2] * 4  # none for epoch 0


def test_commit_refusals_name_what_does_not_match_and_change_nothing(tmp_path: Path) -> None:
    import json

    study, w = _dynamics_model(tmp_path / "s", None, epochs=1)
    path = study.model_dir("a") / "run.json"
    before = path.read_bytes()
    preds = np.stack([LABELS, LABELS])
    cases = [
        (lambda: w.commit_epochs([1, 2], preds, [{}]), r"^predictions \(2, 10\) do not match 2 epochs x 10 images$"),
        (lambda: w.commit_epochs([1, 2], preds[:, :9], [{}, {}]), r"^predictions \(2, 9\) do not match 2 epochs x 10 images$"),
        (lambda: w.commit_epochs([2, 1], preds, [{}, {}]), r"^epochs must ascend without repeats: \[2, 1\]$"),
        (lambda: w.commit_epochs([1, 1], preds, [{}, {}]), r"^epochs must ascend without repeats: \[1, 1\]$"),
        (lambda: w.commit_epoch(1, LABELS[:9], {}), r"^prediction shape \(9,\) != \(10,\)$"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
        assert path.read_bytes() == before
    record = json.loads(before)
    del record["format_version"]  # a format-1 record: start() migrates it first
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(study.model_dir('a')))}: run.json is of store format 1; "
                                         r"start\(\) migrates it before epochs are added$"):
        ModelWriter(study, "a").commit_epoch(1, LABELS, {})
    record = {k: v for k, v in json.loads(before).items() if k != "epochs"}  # format 2, no epoch list yet
    path.write_text(json.dumps(record))
    (study.model_dir("a") / "correct.bits").write_bytes(b"")
    (study.model_dir("a") / "prediction.int16").write_bytes(b"")
    ModelWriter(study, "a").commit_epoch(0, LABELS, {})
    assert open_study(study.path).epoch_decisions("a").prediction.tolist() == [LABELS.tolist()]


def test_a_study_without_images_commits_accuracy_zero(tmp_path: Path) -> None:
    study = _study(tmp_path / "s", labels=np.array([], dtype=int))
    w = ModelWriter(study, "a")
    w.start({"condition": "base", "config": {}})
    w.commit_epoch(0, np.array([], dtype=int), {})
    assert open_study(study.path).run_info("a")["epochs"][0]["val_accuracy"] == 0.0


# --------------------------------------------------------------------------------------------
# run.json and images.parquet as read


@pytest.mark.parametrize(("text", "message"), [
    ('{"epochs": [{"epoch": 0}', "not valid JSON"),
    ('[1, 2]', "not a run record (a JSON object)"),
    (b'{"status": "\xff"}', "not valid JSON"),
    ('{"epochs": {"epoch": 0}}', ":epochs: not a list of epoch records"),
    ('{"epochs": [{"epoch": 0}, 3]}', ":epochs[1]: no 'epoch' number (each record is {\"epoch\": N, ...})"),
    ('{"epochs": [{"epoch": 0}, {"val_loss": 1}]}', ":epochs[1]: no 'epoch' number"),
    ('{"epochs": [{"epoch": 0}, {"epoch": 0}]}', ":epochs[1].epoch: 0 is out of range (an integer >= 1); epochs increase"),
    ('{"epochs": [{"epoch": -1}]}', ":epochs[0].epoch: -1 is out of range (an integer >= 0); epochs increase"),
    ('{"epochs": [{"epoch": 0}, {"epoch": 2}, {"epoch": 1}]}', ":epochs[2].epoch: 1 is out of range (an integer >= 3)"),
    ('{"epochs": [{"epoch": "1"}]}', ":epochs[0].epoch: '1' is not an integer"),
    ('{"status": 1}', ":status: 1 is not a status name"),
])
def test_a_bad_run_json_is_one_error_naming_the_file_and_key(tmp_path: Path, text: str | bytes, message: str) -> None:
    study = _plain_model(tmp_path / "s", PREDS[:1])
    path = study.model_dir("a") / "run.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    for read in (lambda: open_study(study.path).run_info("a"), lambda: open_study(study.path).committed_epochs("a")):
        with pytest.raises(UserError) as err:
            read()
        assert str(err.value).startswith(f"{path}") and message in str(err.value), str(err.value)
        assert len(str(err.value).splitlines()) == 1
    with pytest.raises(UserError) as err:  # the writer reads it with labutil's read_json, then the same checks
        ModelWriter(study, "a").info
    assert str(err.value).startswith(f"{path}") and len(str(err.value).splitlines()) == 1


def test_epochs_may_skip_numbers_and_run_json_is_parsed_again_after_a_rewrite(tmp_path: Path) -> None:
    import json

    study = _plain_model(tmp_path / "s", PREDS)
    path = study.model_dir("a") / "run.json"
    record = json.loads(path.read_text())
    record["epochs"] = [{"epoch": 0}, {"epoch": 5}, {"epoch": 9}]
    path.write_text(json.dumps(record))
    reader = open_study(study.path)
    assert reader.committed_epochs("a") == [0, 5, 9]
    assert reader.final_decisions(["a"]).epochs.tolist() == [9]
    record["epochs"] = record["epochs"][:2]
    path.write_text(json.dumps(record))
    assert reader.committed_epochs("a") == [0, 5]  # the same reader, the new contents
    with pytest.raises(UserError, match=r": no model 'b' in this study$"):
        reader.run_info("b")


def test_models_are_listed_sorted_by_status_and_only_with_a_run_json(tmp_path: Path) -> None:
    study = _plain_model(tmp_path / "s", PREDS)
    for model_id, finish in (("c", True), ("b", False)):
        w = ModelWriter(study, model_id)
        w.start({"config": {}})
        w.commit_epoch(0, LABELS, {})
        if finish:
            w.finish()
    (study.path / "models" / "no-run").mkdir()
    reader = open_study(study.path)
    assert reader.model_ids() == ["a", "b", "c"]
    assert reader.model_ids(status="complete") == ["a", "c"] and reader.model_ids(status="running") == ["b"]
    assert reader.final_decisions().model_ids == ["a", "c"]
    assert open_study(_study(tmp_path / "empty").path).model_ids() == []
    assert reader.model_dir("b") == study.path / "models" / "b"
    for bad in ("", ".hidden", "a/b", "a b", "../x"):
        with pytest.raises(UserError) as err:
            ModelWriter(study, bad)
        assert str(err.value) == f"invalid model id '{bad}' (letters, digits, '_', '-', '.')"
    assert ModelWriter(study, "A-1_b.2").dir == study.path / "models" / "A-1_b.2"


def _write_images(root: Path, df: pd.DataFrame) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.toml").write_text(dumps_toml(DEFINITION))
    df.to_parquet(root / "images.parquet", index=False)
    return root / "images.parquet"


def _images_df(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"image_index": np.arange(n), "image_id": [f"val/{i}" for i in range(n)],
                         "label": np.arange(n) % 2, "class_name": [f"c{i % 2}" for i in range(n)]})


@pytest.mark.parametrize(("change", "message"), [
    (lambda df: df.drop(columns=["label", "class_name"]), ": missing columns ['class_name', 'label']"),
    (lambda df: df.assign(image_index=[0, 2, 1, 3]), ": image_index must be 0..n-1 in order"),
    (lambda df: df.assign(image_index=[1, 2, 3, 4]), ": image_index must be 0..n-1 in order"),
    (lambda df: df.assign(label=[0, 1, -3, 1]), ": row 2: label -3 is not a class index (integers >= 0)"),
    (lambda df: df.assign(label=[-1, 1, 0, 1]), ": row 0: label -1 is not a class index (integers >= 0)"),
    (lambda df: df.assign(label=[0.0, 1.0, 0.0, 1.5]), ": row 0: label 0.0 is not a class index (integers >= 0)"),
    (lambda df: df.assign(label=["a", "b", "a", "b"]), ": row 0: label 'a' is not a class index (integers >= 0)"),
])
def test_a_bad_image_list_is_named(tmp_path: Path, change: Callable[[pd.DataFrame], pd.DataFrame], message: str) -> None:
    path = _write_images(tmp_path / "s", change(_images_df()))
    with pytest.raises(UserError) as err:
        open_study(tmp_path / "s").images
    assert str(err.value) == f"{path}{message}"


def test_a_missing_or_unreadable_image_list_is_named(tmp_path: Path) -> None:
    path = _write_images(tmp_path / "s", _images_df())
    assert open_study(tmp_path / "s").n_images == 4 and len(open_study(tmp_path / "s").images) == 4
    path.write_bytes(path.read_bytes()[:50])
    for read in (lambda: open_study(tmp_path / "s").images, lambda: open_study(tmp_path / "s").n_images):
        with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: unreadable \(.+\)$"):
            read()
    path.unlink()
    for read in (lambda: open_study(tmp_path / "s").images, lambda: open_study(tmp_path / "s").n_images):
        with pytest.raises(UserError) as err:
            read()
        assert str(err.value) == f"{path}: file not found (is this a study folder?)"
    with pytest.raises(UserError) as err:
        open_study(tmp_path / "nowhere")
    assert str(err.value) == f"{tmp_path / 'nowhere'}: not a study folder (no study.toml)"
    assert open_study(str(tmp_path / "s")).path == tmp_path / "s"
    assert open_study(tmp_path / "s").name == "t"


def test_resume_of_a_run_before_its_first_epoch_and_of_an_old_record(tmp_path: Path) -> None:
    """A run killed before any epoch (no row files yet) resumes; a record without `attempts` counts
    this start as its first attempt; a model folder made before run.json (by its lock) is used."""
    import json

    study = _study(tmp_path / "s")
    study.model_dir("a").mkdir(parents=True)
    (study.model_dir("a") / ".lock").write_text("123 host")
    w = ModelWriter(study, "a")
    assert w.start(INFO)["attempts"] == 1
    info = ModelWriter(study, "a").start(INFO)
    assert info["attempts"] == 2 and info["epochs"] == [] and not (study.model_dir("a") / "correct.bits").exists()
    path = study.model_dir("a") / "run.json"
    record = json.loads(path.read_text())
    del record["attempts"]
    path.write_text(json.dumps(record))
    assert ModelWriter(study, "a").start(INFO)["attempts"] == 1
    record = json.loads(path.read_text())
    assert record["attempts"] == 1 and record["status"] == "running" and record["model_id"] == "a"
    assert record["format_version"] == 2 and record["store_options"] == OPTIONS and "created" in record


def test_comparisons_of_listed_conditions_come_from_the_study_file_only(tmp_path: Path) -> None:
    """A condition the study file lists keeps only the study file's comparison (none: none); a
    stored definition without models is grown by the study file's models; a table that became a
    value is named as such."""
    root = _grown(tmp_path / "s")
    _grow(root, {**{k: v for k, v in GROWN.items() if k != "comparisons"}})
    assert "comparisons" not in _definition(root)
    root2 = tmp_path / "t"
    _study(root2)
    bare = {"name": "t", "dataset": {"name": "digits", "seed": 0}}
    (root2 / "study.toml").write_text(dumps_toml(bare))
    _grow(root2, {**bare, "models": [_model("a", "base")]})
    assert _definition(root2)["models"] == [_model("a", "base")]
    with pytest.raises(UserError, match=r": 'dataset' is \{'name': 'digits', 'seed': 0\} there, 'digits' in the study file; "):
        _grow(root2, {**bare, "dataset": "digits"})


def test_activations_index_zero_is_valid_and_pickles_are_refused(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s")
    w.save_activations(np.array([0, 9]), np.ones((2, 3)))
    w.finish()
    index, acts = study.activations("a")
    assert index.tolist() == [0, 9] and acts.tolist() == [[1.0] * 3] * 2
    mdir = study.model_dir("a")
    np.save(mdir / "activations.npy", np.full((2, 3), None, dtype=object))  # a pickle of the right shape: never unpickled
    with pytest.raises(UserError) as err:
        study.activations("a")
    try:
        np.load(mdir / "activations.npy", allow_pickle=False)
    except ValueError as exc:
        first_line = str(exc).splitlines()[0]
    assert str(err.value) == f"{mdir}: unreadable activations ({first_line})"


def test_training_dynamics_alone_are_stored_as_float16_whatever_the_caller_passes(tmp_path: Path) -> None:
    study, w = _dynamics_model(tmp_path / "s", {"val_probabilities": False, "train_probabilities": True, "n_train": N_TRAIN},
                               epochs=0)
    values = {("train", "probability"): np.array([0.1, 0.2, 0.3, 0.4]), ("train", "margin"): np.array([-0.5, 0.0, 0.25, 1.0])}
    w.commit_epoch(0, LABELS.copy(), {}, dynamics=values)
    mdir = study.model_dir("a")
    for (split, quantity), v in values.items():
        assert (mdir / f"{split}_{quantity}.f16").read_bytes() == v.astype("<f2").tobytes()
    assert not (mdir / "val_probability.f16").exists() and study.epoch_probabilities("a", "val") is None
    np.testing.assert_array_equal(study.epoch_margins("a", "train"), values[("train", "margin")][None, :].astype(np.float16))


def test_resume_of_a_format_1_record_without_version_migrates_it(tmp_path: Path) -> None:
    import json

    root = _v1_copy(tmp_path / "s")
    path = root / "models" / "going" / "run.json"
    record = json.loads(path.read_text())
    del record["format_version"]  # the first writers wrote none: format 1
    path.write_text(json.dumps(record))
    w = ModelWriter(open_study(root), "going")
    info = w.start({"condition": "base", "arch": "mlp", "config": {"seed": "going"}})
    assert info["format_version"] == 2 and info["attempts"] == 2
    preds = np.load(V1 / "expected_predictions.npy")[1]
    w.commit_epoch(2, preds[2], {})
    assert open_study(root).epoch_decisions("going").prediction.tolist() == preds.tolist()
    assert not list((root / "models" / "going").glob("decisions*.parquet"))


def test_run_json_records_when_it_was_created_updated_and_finished(tmp_path: Path) -> None:
    """formats.md: `created`, `updated`, `finished`, as local time with its UTC offset."""
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
    study = _study(tmp_path / "s")
    w = ModelWriter(study, "a")
    w.start({"config": {}})
    first = open_study(study.path).run_info("a")
    assert stamp.match(first["created"]) and stamp.match(first["updated"]) and "finished" not in first
    w.commit_epoch(0, LABELS, {})
    w.finish()
    info = open_study(study.path).run_info("a")
    assert all(stamp.match(info[k]) for k in ("created", "updated", "finished")), info
    assert info["updated"] >= first["updated"] and info["created"] == first["created"]


def test_dynamics_default_to_the_validation_split_and_need_format_2(tmp_path: Path) -> None:
    import json

    study, _ = _dynamics_model(tmp_path / "s")
    np.testing.assert_array_equal(study.epoch_margins("a"), study.epoch_margins("a", "val"))
    path = study.model_dir("a") / "run.json"
    record = json.loads(path.read_text())
    del record["format_version"]  # format 1 by definition: it has no dynamics files, whatever its options say
    path.write_text(json.dumps(record))
    assert open_study(study.path).epoch_probabilities("a") is None and open_study(study.path).epoch_margins("a", "train") is None


def test_a_model_with_no_training_images_has_empty_training_rows(tmp_path: Path) -> None:
    study, _ = _dynamics_model(tmp_path / "s", {"val_probabilities": True, "train_probabilities": False, "n_train": 0})
    import json

    path = study.model_dir("a") / "run.json"
    record = json.loads(path.read_text())
    record["store_options"]["train_probabilities"] = True  # n_train 0 is a number of training images
    path.write_text(json.dumps(record))
    (study.model_dir("a") / "train_margin.f16").write_bytes(b"")
    assert open_study(study.path).epoch_margins("a", "train").shape == (2, 0)


def test_a_study_folder_is_made_where_asked_and_reopened_without_rewriting(tmp_path: Path) -> None:
    """The folder's parents are made, an existing empty folder is used, the image list has exactly
    its four columns, and reopening with the same definition leaves study.toml as it is."""
    import pyarrow.parquet as pq

    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "runs" / "deep" / "s", tmp_path / "empty"):
        study = _study(root)
        assert pq.read_schema(root / "images.parquet").names == ["image_index", "image_id", "label", "class_name"]
        text = (root / "study.toml").read_text() + "# a note the user added\n"
        (root / "study.toml").write_text(text)
        _study(root)
        assert (root / "study.toml").read_text() == text
        assert open_study(study.path).definition == DEFINITION


def test_rows_of_a_multiple_of_8_images_and_the_largest_class_index(tmp_path: Path) -> None:
    """ceil(8 / 8) = 1 byte per correctness row; class 32767 is the largest an int16 row holds."""
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 32767])
    study = _study(tmp_path / "s", labels=labels)
    w = ModelWriter(study, "a")
    w.start({"config": {}})
    w.commit_epoch(0, labels.copy(), {})
    w.commit_epoch(1, np.zeros(8, dtype=int), {})
    mdir = study.model_dir("a")
    assert (mdir / "correct.bits").read_bytes() == bytes([0b11111111, 0b10000000])
    assert open_study(study.path).epoch_decisions("a").prediction[0].tolist() == labels.tolist()
    assert open_study(study.path).final_decisions(["a"], epoch=1).correct.tolist() == [[True] + [False] * 7]


@pytest.mark.parametrize("finished", [False, True])
def test_a_damaged_training_decisions_file_is_named_in_one_line(tmp_path: Path, finished: bool) -> None:
    study, w = _dynamics_model(tmp_path / "s", epochs=0)
    _commit(w, 0)
    if finished:
        w.finish()
    mdir = study.model_dir("a")
    damaged = mdir / ("train_decisions.parquet" if finished else "train_decisions.epoch-0000.parquet")
    damaged.write_bytes(damaged.read_bytes()[:20])  # torn by hand: atomic writes never leave this
    with pytest.raises(UserError) as err:
        open_study(tmp_path / "s").train_decisions_table("a")
    assert str(err.value).startswith(f"{damaged}: unreadable training decisions (") and "\n" not in str(err.value)
    assert "parquet" in str(err.value).split("(", 1)[1].lower()  # pyarrow's own reason, first line
