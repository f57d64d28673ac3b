"""A corpus of bad inputs over every command line program (issue 11).

Every case builds one bad input in a fresh copy of a small lab (decisions store, stimulus sets,
data root with a registry, tables, study and lab-config files, a copy of the published data),
runs the program in a subprocess and asserts what the developers' guide promises for a user
error: exit status 2, exactly one line on stderr that starts with `error:`, no traceback, and no
file anywhere under the case's folder created, removed or changed (its whole tree is hashed before
and after, modes and symlinks included). Cases whose point is a read-only target run the program
as an unprivileged user when the tests run as root (root ignores permissions).

The programs are `python -m stimuli | participants | model_runs | analysis.ddd | analysis.report |
analysis.reference | experiment.two_afc | experiment.questionnaire`. Each run is a child process
forked from a warm server that has imported numpy/pandas/pyarrow once (tests/cli_forkserver.py;
never a project module), which keeps the corpus to well under a minute; the unprivileged runs use a
fresh interpreter. The lab is built once per module through the owning packages' writers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from human_data import write_2afc_set, write_questionnaire_set
from model_runs.store import ModelWriter, create_study
from participants.layout import SessionWriter, beh_path, sidecar_path
from participants.registry import Registry
from reference_data import REFERENCE_DIR

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534
ARABIC_12 = "\u0661\u0662"  # '١٢': int() accepts it, a user never means it
FULLWIDTH_30 = "\uff13\uff10"  # '３０'
NOT_UTF8 = b"name = \"caf\xe9\"\n"

Setup = Callable[[Path], list[str]]
CASES: list[tuple[str, str, Setup, bool]] = []


def case(case_id: str, module: str, nobody: bool = False) -> Callable[[Setup], Setup]:
    """Register a case: `setup(w)` makes the bad input inside the lab copy `w` and returns argv."""

    def register(fn: Setup) -> Setup:
        CASES.append((case_id, module, fn, nobody))
        return fn

    return register


# ---------------------------------------------------------------------------------------- the lab

N_IMAGES = 24
N_MODELS = 5


def _write_store(path: Path) -> None:
    """5 complete models, epochs 0 and 1; the first half of the images trivial, the rest impossible."""
    labels = np.arange(N_IMAGES) % 4
    images = pd.DataFrame({"image_index": np.arange(N_IMAGES), "image_id": [f"img/{i:03d}.png" for i in range(N_IMAGES)],
                           "label": labels, "class_name": [f"c{c}" for c in labels]})
    definition = {"name": path.name, "dataset": {"name": "synthetic", "n_classes": 4},
                  "models": [{"model_id": f"base-{m}", "condition": "base", "arch": "toy"} for m in range(N_MODELS)]}
    study = create_study(path, definition, images)
    wrong = (labels + 1) % 4
    easy = np.arange(N_IMAGES) < N_IMAGES // 2
    for m in range(N_MODELS):
        w = ModelWriter(study, f"base-{m}")
        w.start({"condition": "base", "arch": "toy", "config": {"seed": m}})
        w.commit_epoch(0, wrong, {"val_loss": 1.0})
        w.commit_epoch(1, np.where(easy, labels, wrong), {"val_loss": 0.5})
        if m == 0:
            probs = np.full((N_IMAGES, 4), 0.1, dtype=np.float32)
            probs[np.arange(N_IMAGES), np.where(easy, labels, wrong)] = 0.7
            w.save_probabilities(probs)
        w.finish()


def _write_table(root: Path) -> None:
    """table.csv with image files under img/ (the --table source of the stimuli builder)."""
    from PIL import Image

    rows = []
    for i in range(N_IMAGES):
        rel = f"img/{i:03d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 12, 3), i * 9 % 256, dtype=np.uint8)).save(root / rel)
        rows.append({"image_id": rel, "n_correct": 5 if i < N_IMAGES // 2 else 0, "label": i % 4, "class_name": f"c{i % 4}",
                     "label_error": 0})
    pd.DataFrame(rows).to_csv(root / "table.csv", index=False)


STUDY_TOML = """\
name = "tiny"
[dataset]
name = "digits"
train_per_class = 5
val_per_class = 5
[recipe]
arch = "small_cnn"
epochs = 1
batch_size = 8
lr = 0.05
[[conditions]]
name = "base"
"""


@pytest.fixture(scope="module")
def lab_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab every case copies, built once per module through the owning packages' writers."""
    w = tmp_path_factory.mktemp("lab") / "lab"
    w.mkdir()
    _write_store(w / "runs" / "s1")
    write_2afc_set(w / "stimulus_sets", "pairs", 3, 1)
    write_questionnaire_set(w / "stimulus_sets", "quest", ["trivial", "in-between", "impossible"], [10, 5, 0])
    reg = Registry(w / "lab_data", w / "lab_private")
    reg.register(cnn_familiarity="naive", age=30, name="Ada Lovelace", email="ada@example.org")
    reg.register(cnn_familiarity="naive", age=40)
    _write_table(w)
    (w / "study.toml").write_text(STUDY_TOML)
    (w / "lab.toml").write_text('[two_afc]\nbreak_every = 10\n')
    ref = w / "ref"
    ref.mkdir()
    for name in ("experiment_two_trials.csv", "experiment_two_results_long.csv"):
        if (REFERENCE_DIR / name).is_file():
            shutil.copy(REFERENCE_DIR / name, ref / name)
    (w.parent / "outside").mkdir()
    (w.parent / "home").mkdir()
    return w.parent


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: kind, mode and content hash (files) or target (links)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(Path(dirpath) / name, uid, uid, follow_symlinks=False)


class Programs:
    """Runs `python -m MODULE ARGV` in child processes forked from a warm server (tests/cli_forkserver.py)."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_forkserver.py"))], cwd="/",
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, module: str, argv: list[str], cwd: Path, home: Path, out: Path, nobody: bool) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env.update(HOME=str(home), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        out.mkdir()
        if nobody:  # a fresh interpreter: the warm one's standard library may lie where that user cannot read
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-m", module, *argv]
            r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
            return r.returncode, r.stderr
        req = {"module": module, "argv": argv, "cwd": str(cwd), "env": env, "uid": NOBODY if nobody else None,
               "stdout": str(out / "stdout"), "stderr": str(out / "stderr")}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        code = json.loads(self.proc.stdout.readline())["returncode"]
        return code, (out / "stderr").read_text(errors="replace")

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def programs() -> Iterator[Programs]:
    server = Programs()
    yield server
    server.close()


# ----------------------------------------------------------------------------------- small helpers


def _set_json(w: Path, name: str, value: object) -> None:
    path = w / "stimulus_sets" / name / "set.json"
    path.write_text(json.dumps(value))


def _run_json(w: Path, model: str = "base-0") -> Path:
    return w / "runs" / "s1" / "models" / model / "run.json"


def _edit_run_json(w: Path, edit: Callable[[dict], object], model: str = "base-0") -> None:
    path = _run_json(w, model)
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _readonly(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    return path


def _table(w: Path, edit: Callable[[pd.DataFrame], pd.DataFrame], name: str = "bad.csv") -> str:
    df = edit(pd.read_csv(w / "table.csv", dtype=str, keep_default_na=False))
    df.to_csv(w / name, index=False)
    return str(w / name)


def _ref_edit(w: Path, which: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> list[str]:
    name = {"trials": "experiment_two_trials.csv", "results": "experiment_two_results_long.csv"}[which]
    df = edit(pd.read_csv(w / "ref" / name, dtype=str, keep_default_na=False))
    df.to_csv(w / "ref" / name, index=False)
    return _ref_args(w)


def _ref_args(w: Path, *extra: str) -> list[str]:
    return ["import", "--reference", str(w / "ref"), "--out-sets", str(w / "stimulus_sets"),
            "--data-root", str(w / "ref_data"), *extra]


def _session_2afc(w: Path, sidecar: object | None = None, rows: list[str] | None = None, pid: str = "sub-002") -> Path:
    """An incomplete 2AFC session of `pid` on the pairs set, its sidecar replaced by `sidecar`."""
    from stimuli.sets import read_set

    sset = read_set(w / "stimulus_sets" / "pairs")
    writer = SessionWriter(beh_path(w / "lab_data", pid, 1, "2afc"), "2afc")
    writer.start({"StimulusSet": {"Name": "pairs", "Path": str(sset.path), "TablesSHA256": sset.tables_sha256},
                  "TrialOrder": [1, 2, 3, 4], "TrialOrderSeed": 5})
    for line in rows or []:
        with open(writer.tsv, "a") as fh:
            fh.write(line)
    if sidecar is not None:
        sidecar_path(writer.tsv).write_text(json.dumps(sidecar))
    return writer.tsv


def _exp_args(w: Path, *extra: str, pid: str = "sub-002", stimuli: str = "pairs") -> list[str]:
    return ["--participant", pid, "--session", "1", "--stimuli", str(w / "stimulus_sets" / stimuli),
            "--data-root", str(w / "lab_data"), "--private-root", str(w / "lab_private"), *extra]


def _sidecar_of(w: Path, edit: Callable[[dict], object]) -> None:
    tsv = _session_2afc(w)
    side = sidecar_path(tsv)
    side.write_text(json.dumps(edit(json.loads(side.read_text()))))


def _build(w: Path, *extra: str, kind: str = "build-2afc") -> list[str]:
    sizes = ["--pairs", "2", "--practice-pairs", "1"] if kind == "build-2afc" else ["--per-difficulty", "1", "--practice", "0"]
    return [kind, "--study", str(w / "runs" / "s1"), *sizes, "--exclude-classes", "none",
            "--sets-dir", str(w / "stimulus_sets"), *extra]


def _build_table(w: Path, table: str | None = None, *extra: str) -> list[str]:
    return ["build-2afc", "--table", table or str(w / "table.csv"), "--n-models", "5", "--pairs", "2",
            "--practice-pairs", "1", "--exclude-classes", "none", "--sets-dir", str(w / "stimulus_sets"), *extra]


def _preview(w: Path, *extra: str) -> list[str]:
    return ["preview", str(w / "stimulus_sets" / "pairs"), *extra]


# ------------------------------------------------------------------------------------- stimuli

@case("stimuli-name-parent", "stimuli")
def _(w): return _build(w, "--name", "../escaped")
@case("stimuli-name-slash", "stimuli")
def _(w): return _build(w, "--name", "a/../../escaped")
@case("stimuli-name-absolute", "stimuli")
def _(w): return _build(w, "--name", str(w.parent / "outside" / "x"))
@case("stimuli-name-dotdot", "stimuli")
def _(w): return _build(w, "--name", "..")
@case("stimuli-name-symlink-out", "stimuli")
def _(w):
    (w / "stimulus_sets" / "linked").symlink_to(w.parent / "outside")
    return _build(w, "--name", "linked", "--force")
@case("stimuli-name-dangling-symlink", "stimuli")
def _(w):
    (w / "stimulus_sets" / "dangling").symlink_to(w.parent / "outside" / "nothing")
    return _build(w, "--name", "dangling")
@case("stimuli-name-existing-set", "stimuli")
def _(w): return _build(w, "--name", "pairs")
@case("stimuli-sets-dir-file", "stimuli")
def _(w): return [*_build(w)[:-2], "--sets-dir", str(w / "table.csv"), "--name", "new"]
@case("stimuli-sets-dir-readonly", "stimuli", nobody=True)
def _(w): return [*_build(w)[:-2], "--sets-dir", str(_readonly(w / "ro_sets")), "--name", "new"]
@case("stimuli-pairs-negative", "stimuli")
def _(w): return [*_build(w, "--name", "n"), "--pairs", "-3"]
@case("stimuli-pairs-unicode", "stimuli")
def _(w): return [*_build(w, "--name", "n"), "--pairs", ARABIC_12]
@case("stimuli-practice-negative", "stimuli")
def _(w): return [*_build(w, "--name", "n"), "--practice-pairs", "-1"]
@case("stimuli-seed-negative", "stimuli")
def _(w): return _build(w, "--name", "n", "--seed", "-1")
@case("stimuli-seed-unicode", "stimuli")
def _(w): return _build(w, "--name", "n", "--seed", FULLWIDTH_30)
@case("stimuli-tolerance-negative", "stimuli")
def _(w): return _build(w, "--name", "n", "--tolerance", "-1")
@case("stimuli-display-size-negative", "stimuli")
def _(w): return _build(w, "--name", "n", "--display-size", "-4")
@case("stimuli-per-difficulty-negative", "stimuli")
def _(w): return [*_build(w, "--name", "n", kind="build-questionnaire"), "--per-difficulty", "-2"]
@case("stimuli-epoch-negative", "stimuli")
def _(w): return _build(w, "--name", "n", "--epoch", "-1")
@case("stimuli-epoch-unicode", "stimuli")
def _(w): return _build(w, "--name", "n", "--epoch", ARABIC_12)
@case("stimuli-epoch-not-stored", "stimuli")
def _(w): return _build(w, "--name", "n", "--epoch", "7")
@case("stimuli-unknown-model", "stimuli")
def _(w): return _build(w, "--name", "n", "--models", "base-0,nobody")
@case("stimuli-study-missing", "stimuli")
def _(w): return [*_build(w, "--name", "n")[:1], "--study", str(w / "runs" / "nothing"), *_build(w, "--name", "n")[3:]]
@case("stimuli-study-toml-not-utf8", "stimuli")
def _(w):
    (w / "runs" / "s1" / "study.toml").write_bytes(NOT_UTF8)
    return _build(w, "--name", "n")
@case("stimuli-images-parquet-truncated", "stimuli")
def _(w):
    p = w / "runs" / "s1" / "images.parquet"
    p.write_bytes(p.read_bytes()[:100])
    return _build(w, "--name", "n")
@case("stimuli-run-json-list", "stimuli")
def _(w):
    _run_json(w).write_text("[1, 2]")
    return _build(w, "--name", "n")
@case("stimuli-run-json-epoch-without-number", "stimuli")
def _(w):
    _edit_run_json(w, lambda r: {**r, "epochs": [{k: v for k, v in e.items() if k != "epoch"} for e in r["epochs"]]})
    return _build(w, "--name", "n")
@case("stimuli-run-json-torn", "stimuli")
def _(w):
    p = _run_json(w)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return _build(w, "--name", "n")
@case("stimuli-decisions-truncated", "stimuli")
def _(w):
    p = w / "runs" / "s1" / "models" / "base-1" / "correct.bits"  # store format 2: packed rows, one per epoch
    p.write_bytes(p.read_bytes()[:-2])
    return _build(w, "--name", "n")
@case("stimuli-images-label-out-of-range", "stimuli")
def _(w):
    import pyarrow.parquet as pq

    p = w / "runs" / "s1" / "images.parquet"
    t = pq.read_table(p).to_pandas()
    t.loc[3, "image_index"] = 999
    t.to_parquet(p, index=False)
    return _build(w, "--name", "n")
@case("stimuli-store-label-negative", "stimuli")
def _(w):
    p = w / "runs" / "s1" / "images.parquet"
    t = pd.read_parquet(p)
    t.loc[5, "label"] = -2
    t.to_parquet(p, index=False)
    return _build(w, "--name", "n")
@case("stimuli-table-not-utf8", "stimuli")
def _(w):
    (w / "bad.csv").write_bytes(b"image_id,n_correct,label,class_name\n\xff\xfe,1,0,c\n")
    return _build_table(w, str(w / "bad.csv"), "--name", "n")
@case("stimuli-table-cell-mistyped", "stimuli")
def _(w): return _build_table(w, _table(w, lambda d: d.assign(n_correct=["x"] + list(d["n_correct"][1:]))), "--name", "n")
@case("stimuli-table-label-unicode", "stimuli")
def _(w): return _build_table(w, _table(w, lambda d: d.assign(label=[ARABIC_12] + list(d["label"][1:]))), "--name", "n")
@case("stimuli-table-count-above-models", "stimuli")
def _(w): return _build_table(w, _table(w, lambda d: d.assign(n_correct=["9"] + list(d["n_correct"][1:]))), "--name", "n")
@case("stimuli-table-torn", "stimuli")
def _(w):
    text = (w / "table.csv").read_text()
    (w / "bad.csv").write_text(text[: len(text) // 2])
    return _build_table(w, str(w / "bad.csv"), "--name", "n")
@case("stimuli-table-header-only", "stimuli")
def _(w):
    (w / "bad.csv").write_text((w / "table.csv").read_text().splitlines()[0] + "\n")
    return _build_table(w, str(w / "bad.csv"), "--name", "n")
@case("stimuli-table-empty-file", "stimuli")
def _(w):
    (w / "bad.csv").write_bytes(b"")
    return _build_table(w, str(w / "bad.csv"), "--name", "n")
@case("stimuli-table-path-escapes-root", "stimuli")
def _(w):
    shutil.copy(w / "img" / "000.png", w.parent / "outside" / "x.png")
    return _build_table(w, _table(w, lambda d: d.assign(image_id=["../outside/x.png"] + list(d["image_id"][1:]))), "--name", "n")
@case("stimuli-crop-negative", "stimuli")
def _(w): return _build_table(w, None, "--name", "n", "--crop", "-5", "--resize", "10")
@case("stimuli-resize-zero", "stimuli")
def _(w): return _build_table(w, None, "--name", "n", "--resize", "0", "--crop", "0")
@case("stimuli-n-models-zero", "stimuli")
def _(w): return [*_build_table(w, None, "--name", "n"), "--n-models", "0"]
@case("stimuli-n-models-unicode", "stimuli")
def _(w): return [*_build_table(w, None, "--name", "n"), "--n-models", ARABIC_12]
@case("stimuli-label-errors-not-utf8", "stimuli")
def _(w):
    (w / "errs.txt").write_bytes(b"\xff\xfeimg/000.png\n")
    return _build(w, "--name", "n", "--label-errors", str(w / "errs.txt"))
@case("stimuli-exclude-classes-missing", "stimuli")
def _(w): return [*_build(w, "--name", "n"), "--exclude-classes", str(w / "nothing.txt")]
@case("stimuli-verify-file", "stimuli")
def _(w): return ["verify", str(w / "table.csv")]
@case("stimuli-preview-set-json-list", "stimuli")
def _(w):
    _set_json(w, "pairs", ["kind", "2afc"])
    return _preview(w, "--out", str(w / "p.png"))
@case("stimuli-preview-set-json-string-kind", "stimuli")
def _(w):
    _set_json(w, "pairs", {"kind": ["2afc"]})
    return _preview(w, "--out", str(w / "p.png"))
@case("stimuli-preview-out-into-set", "stimuli")
def _(w): return _preview(w, "--out", str(w / "stimulus_sets" / "pairs" / "images" / "sheet.png"))
@case("stimuli-preview-out-into-other-set", "stimuli")
def _(w): return _preview(w, "--out", str(w / "stimulus_sets" / "quest" / "sheet.png"))
@case("stimuli-preview-out-dir", "stimuli")
def _(w):
    (w / "sheet.png").mkdir()
    return _preview(w, "--out", str(w / "sheet.png"))
@case("stimuli-preview-out-parent-file", "stimuli")
def _(w): return _preview(w, "--out", str(w / "table.csv" / "sheet.png"))
@case("stimuli-preview-out-readonly", "stimuli", nobody=True)
def _(w): return _preview(w, "--out", str(_readonly(w / "ro") / "sheet.png"))
@case("stimuli-preview-reports-dir-file", "stimuli")
def _(w): return _preview(w, "--reports-dir", str(w / "table.csv"))
@case("stimuli-preview-thumb-unicode", "stimuli")
def _(w): return _preview(w, "--out", str(w / "p.png"), "--thumb", ARABIC_12 + "0")
@case("stimuli-preview-columns-negative", "stimuli")
def _(w): return _preview(w, "--out", str(w / "p.png"), "--columns", "-2")
@case("stimuli-preview-trials-unknown-stim", "stimuli")
def _(w):
    p = w / "stimulus_sets" / "pairs" / "trials.tsv"
    p.write_text(p.read_text().replace("p1t", "zz9", 1))
    return _preview(w, "--out", str(w / "p.png"))


# ---------------------------------------------------------------------------------- participants

def _reg(w: Path, *extra: str) -> list[str]:
    return ["register", "--data-root", str(w / "lab_data"), "--private-root", str(w / "lab_private"),
            "--cnn-familiarity", "naive", *extra]


def _roots(w: Path) -> list[str]:
    return ["--data-root", str(w / "lab_data"), "--private-root", str(w / "lab_private")]


@case("participants-age-arabic-digits", "participants")
def _(w): return _reg(w, "--age", "\u0663\u0660")
@case("participants-age-fullwidth", "participants")
def _(w): return _reg(w, "--age", FULLWIDTH_30)
@case("participants-age-negative", "participants")
def _(w): return _reg(w, "--age", "-30")
@case("participants-age-nan", "participants")
def _(w): return _reg(w, "--age", "nan")
@case("participants-group-path", "participants")
def _(w): return _reg(w, "--group", "../x")
@case("participants-date-invalid", "participants")
def _(w): return _reg(w, "--registered", "2024-13-40")
@case("participants-notes-newline", "participants")
def _(w): return _reg(w, "--notes", "a\nb")
@case("participants-data-root-file", "participants")
def _(w): return ["register", "--data-root", str(w / "table.csv"), "--private-root", str(w / "lab_private"),
                  "--cnn-familiarity", "naive"]
@case("participants-data-root-readonly", "participants", nobody=True)
def _(w):
    (w / "lab_data").chmod(0o555)
    return _reg(w)
@case("participants-tsv-not-utf8", "participants")
def _(w):
    p = w / "lab_data" / "participants.tsv"
    p.write_bytes(p.read_bytes() + b"sub-009\t\xff\n")
    return ["list", *_roots(w)]
@case("participants-tsv-torn", "participants")
def _(w):
    p = w / "lab_data" / "participants.tsv"
    p.write_bytes(p.read_bytes()[:-7])
    return ["list", *_roots(w)]
@case("participants-tsv-age-mistyped", "participants")
def _(w):
    p = w / "lab_data" / "participants.tsv"
    p.write_text(p.read_text().replace("\t30\t", "\tthirty\t"))
    return ["list", *_roots(w)]
@case("participants-state-not-object", "participants")
def _(w):
    (w / "lab_data" / ".registry.json").write_text("[3]")
    return _reg(w)
@case("participants-session-sidecar-not-object", "participants")
def _(w):
    _session_2afc(w, sidecar=["SessionStatus", "complete"])
    return ["list", *_roots(w)]
@case("participants-consent-unknown", "participants")
def _(w): return ["consent", "sub-999", "--date", "2024-01-01", "--form-version", "v1", *_roots(w)]
@case("participants-consent-path-id", "participants")
def _(w): return ["consent", "../sub-001", "--date", "2024-01-01", "--form-version", "v1", *_roots(w)]
@case("participants-consent-date", "participants")
def _(w): return ["consent", "sub-001", "--date", "01/02/2024", "--form-version", "v1", *_roots(w)]
@case("participants-pay-hours-nan", "participants")
def _(w): return ["pay", "sub-001", "--hours", "nan", "--amount", "10", *_roots(w)]
@case("participants-pay-hours-negative", "participants")
def _(w): return ["pay", "sub-001", "--hours", "-1", "--amount", "10", *_roots(w)]
@case("participants-pay-amount-inf", "participants")
def _(w): return ["pay", "sub-001", "--hours", "1", "--amount", "inf", *_roots(w)]
@case("participants-pay-currency", "participants")
def _(w): return ["pay", "sub-001", "--hours", "1", "--amount", "10", "--currency", "euro", *_roots(w)]
@case("participants-export-out-file", "participants")
def _(w): return ["export", str(w / "table.csv"), *_roots(w)]
@case("participants-export-out-inside", "participants")
def _(w): return ["export", str(w / "lab_data" / "copy"), *_roots(w)]
@case("participants-export-out-readonly", "participants", nobody=True)
def _(w): return ["export", str(_readonly(w / "ro") / "copy"), *_roots(w)]
@case("participants-export-symlink-to-private", "participants")
def _(w):
    _session_2afc(w)
    (w / "lab_data" / "sub-002" / "ses-01" / "beh" / "ids.tsv").symlink_to(w / "lab_private" / "identities.tsv")
    return ["export", str(w / "copy"), *_roots(w)]
@case("participants-export-symlinked-subject", "participants")
def _(w):
    (w.parent / "outside" / "sub-003" / "ses-01" / "beh").mkdir(parents=True)
    (w / "lab_data" / "sub-003").symlink_to(w.parent / "outside" / "sub-003")
    return ["export", str(w / "copy"), *_roots(w)]
@case("participants-export-symlinked-file-out", "participants")
def _(w):
    (w.parent / "outside" / "secret.txt").write_text("x\n")
    _session_2afc(w)
    (w / "lab_data" / "sub-002" / "ses-01" / "beh" / "notes.txt").symlink_to(w.parent / "outside" / "secret.txt")
    return ["export", str(w / "copy"), *_roots(w)]
@case("participants-export-session-tsv-not-utf8", "participants")
def _(w):
    tsv = _session_2afc(w)
    tsv.write_bytes(tsv.read_bytes() + b"\xff\xfe\n")
    return ["export", str(w / "copy"), *_roots(w)]


# ------------------------------------------------------------------------------------- model_runs

def _study_file(w: Path, text: str | bytes) -> str:
    p = w / "bad.toml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


def _train(w: Path, study: str, *extra: str) -> list[str]:
    return ["train", study, "--runs-dir", str(w / "runs"), "--cache-dir", str(w / "cache"), "--quiet", *extra]


@case("model-runs-study-not-utf8", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.encode().replace(b"tiny", b"t\xe9ny")))
@case("model-runs-study-not-toml", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML + "lr = = 3\n"))
@case("model-runs-lr-nan", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace("lr = 0.05", "lr = nan")))
@case("model-runs-lr-negative", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace("lr = 0.05", "lr = -0.05")))
@case("model-runs-epochs-negative", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace("epochs = 1", "epochs = -1")))
@case("model-runs-batch-zero", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace("batch_size = 8", "batch_size = 0")))
@case("model-runs-seed-negative", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML + "seed = -3\n"))
@case("model-runs-width-negative", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace('arch = "small_cnn"', 'arch = "small_cnn"\nmodel_options = { width = -4 }')))
@case("model-runs-dataset-count-negative", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace("train_per_class = 5", "train_per_class = -5")))
@case("model-runs-name-path", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML.replace('name = "tiny"', 'name = "../tiny"')))
@case("model-runs-runs-dir-file", "model_runs")
def _(w): return ["train", _study_file(w, STUDY_TOML), "--runs-dir", str(w / "table.csv"), "--cache-dir", str(w / "cache"), "--quiet"]
@case("model-runs-runs-dir-readonly", "model_runs", nobody=True)
def _(w): return ["train", _study_file(w, STUDY_TOML), "--runs-dir", str(_readonly(w / "ro")), "--cache-dir", str(w / "cache"), "--quiet"]
@case("model-runs-threads-negative", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML), "--threads", "-2")
@case("model-runs-loader-workers-unicode", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML), "--loader-workers", ARABIC_12)
@case("model-runs-device-bogus", "model_runs")
def _(w): return _train(w, _study_file(w, STUDY_TOML), "--device", "tpu")
@case("model-runs-imagefolder-empty-class", "model_runs")
def _(w):
    from PIL import Image

    for cls in ("a", "b"):
        for split in ("train", "val"):
            d = w / "folder" / split / cls
            d.mkdir(parents=True)
            if cls == "a":
                for i in range(3):
                    Image.fromarray(np.full((8, 8, 3), i, dtype=np.uint8)).save(d / f"{i}.png")
    text = STUDY_TOML.replace('name = "digits"\ntrain_per_class = 5\nval_per_class = 5',
                              f'name = "imagefolder"\nroot = "{w / "folder"}"')
    return _train(w, _study_file(w, text), "--device", "cpu")
@case("model-runs-status-missing", "model_runs")
def _(w): return ["status", str(w / "runs" / "nothing")]
@case("model-runs-status-run-json-list", "model_runs")
def _(w):
    _run_json(w).write_text('["complete"]')
    return ["status", str(w / "runs" / "s1")]
@case("model-runs-status-run-json-torn", "model_runs")
def _(w):
    p = _run_json(w)
    p.write_bytes(p.read_bytes()[:30])
    return ["status", str(w / "runs" / "s1")]
@case("model-runs-status-epoch-without-number", "model_runs")
def _(w):
    _edit_run_json(w, lambda r: {**r, "epochs": [{"val_loss": 1.0}]})
    return ["status", str(w / "runs" / "s1")]
@case("model-runs-status-study-toml-not-utf8", "model_runs")
def _(w):
    (w / "runs" / "s1" / "study.toml").write_bytes(NOT_UTF8)
    return ["status", str(w / "runs" / "s1")]
@case("model-runs-resume-study-toml-list", "model_runs")
def _(w):
    (w / "runs" / "s1" / "study.toml").write_text('name = ["s1"]\n')
    return ["resume", str(w / "runs" / "s1"), "--quiet"]
@case("model-runs-evaluate-checkpoint-truncated", "model_runs")
def _(w):
    (w / "ck.pt").write_bytes(b"PK\x03\x04 torn")
    return ["evaluate", "--checkpoint", str(w / "ck.pt"), "--quiet"]
@case("model-runs-evaluate-dataset-option", "model_runs")
def _(w): return ["evaluate", "--weights", str(w / "x.pt"), "--arch", "small_cnn", "--dataset", "digits",
                  "--dataset-option", "=3", "--quiet"]
@case("model-runs-sweep-workers-zero", "model_runs")
def _(w): return ["sweep", _study_file(w, STUDY_TOML), "--runs-dir", str(w / "runs"), "--workers", "0"]
@case("model-runs-sweep-time-limit-negative", "model_runs")
def _(w): return ["sweep", _study_file(w, STUDY_TOML), "--runs-dir", str(w / "runs"), "--executor", "slurm",
                  "--time-limit", "-5", "--no-wait"]


# ------------------------------------------------------------------------------------ analysis.ddd

def _ddd(w: Path, *extra: str) -> list[str]:
    return [str(w / "runs" / "s1"), "--out", str(w / "ddd_out"), "--no-figures", "--no-progress", "--n-boot", "10", *extra]


def _summary(w: Path, table: str | None = None, *extra: str) -> list[str]:
    return ["summary", "--table", table or str(w / "table.csv"), "--correct-col", "n_correct", "--n-models", "5", *extra]


@case("ddd-study-missing", "analysis.ddd")
def _(w): return [str(w / "runs" / "nothing"), *_ddd(w)[1:]]
@case("ddd-tolerance-negative", "analysis.ddd")
def _(w): return _ddd(w, "--tolerance", "-1")
@case("ddd-tolerance-unicode", "analysis.ddd")
def _(w): return _ddd(w, "--tolerance", "\u0661")
@case("ddd-seed-negative", "analysis.ddd")
def _(w): return _ddd(w, "--seed", "-1")
@case("ddd-n-boot-zero", "analysis.ddd")
def _(w): return _ddd(w, "--n-boot", "0")
@case("ddd-out-file", "analysis.ddd")
def _(w): return _ddd(w, "--out", str(w / "table.csv"))
@case("ddd-out-readonly", "analysis.ddd", nobody=True)
def _(w): return _ddd(w, "--out", str(_readonly(w / "ro") / "ddd"))
@case("ddd-out-into-set", "analysis.ddd")
def _(w): return _ddd(w, "--out", str(w / "stimulus_sets" / "pairs" / "ddd"))
@case("ddd-probabilities-truncated", "analysis.ddd")
def _(w):
    p = w / "runs" / "s1" / "models" / "base-0" / "probabilities.npy"
    p.write_bytes(p.read_bytes()[:-30])
    return _ddd(w, "--label-issues", "probabilities")
@case("ddd-image-label-out-of-range", "analysis.ddd")
def _(w):
    p = w / "runs" / "s1" / "images.parquet"
    t = pd.read_parquet(p)
    t.loc[2, "label"] = 77
    t.to_parquet(p, index=False)
    return _ddd(w, "--label-issues", "probabilities")
@case("ddd-predictions-truncated", "analysis.ddd")
def _(w):
    p = w / "runs" / "s1" / "models" / "base-0" / "prediction.int16"  # store format 2: int16 rows, one per epoch
    p.write_bytes(p.read_bytes()[:-10])
    return _ddd(w)
@case("ddd-run-json-list", "analysis.ddd")
def _(w):
    _run_json(w, "base-2").write_text("[]")
    return _ddd(w)
@case("ddd-label-issues-table-missing", "analysis.ddd")
def _(w): return _ddd(w, "--label-issues", str(w / "nothing.csv"))
@case("ddd-map-model-unknown", "analysis.ddd")
def _(w): return _ddd(w, "--map-model", "nobody")
@case("ddd-cache-dir-file", "analysis.ddd")
def _(w): return _ddd(w, "--image-stats", "--cache-dir", str(w / "table.csv"))
@case("ddd-summary-not-utf8", "analysis.ddd")
def _(w):
    (w / "bad.csv").write_bytes(b"n_correct\n\xff\n")
    return _summary(w, str(w / "bad.csv"))
@case("ddd-summary-cell-mistyped", "analysis.ddd")
def _(w): return _summary(w, _table(w, lambda d: d.assign(n_correct=["x"] + list(d["n_correct"][1:]))))
@case("ddd-summary-count-negative", "analysis.ddd")
def _(w): return _summary(w, _table(w, lambda d: d.assign(n_correct=["-1"] + list(d["n_correct"][1:]))))
@case("ddd-summary-header-only", "analysis.ddd")
def _(w):
    (w / "bad.csv").write_text("image_id,n_correct\n")
    return _summary(w, str(w / "bad.csv"))
@case("ddd-summary-n-models-zero", "analysis.ddd")
def _(w): return [*_summary(w), "--n-models", "0"]
@case("ddd-summary-label-col-mistyped", "analysis.ddd")
def _(w): return _summary(w, _table(w, lambda d: d.assign(label_error=["yes"] + list(d["label_error"][1:]))),
                          "--label-col", "label_error")
@case("ddd-summary-out-file", "analysis.ddd")
def _(w): return _summary(w, None, "--out", str(w / "table.csv"))


# --------------------------------------------------------------------------------- analysis.report

def _report(w: Path, *extra: str) -> list[str]:
    return ["--runs", str(w / "runs"), "--stimuli", str(w / "stimulus_sets"), "--data-root", str(w / "lab_data"),
            "--out", str(w / "reports"), "--n-boot", "100", *extra]


@case("report-out-file", "analysis.report")
def _(w): return _report(w, "--out", str(w / "table.csv"))
@case("report-out-readonly", "analysis.report", nobody=True)
def _(w): return _report(w, "--out", str(_readonly(w / "ro")))
@case("report-out-into-set", "analysis.report")
def _(w): return _report(w, "--out", str(w / "stimulus_sets" / "pairs"))
@case("report-name-path", "analysis.report")
def _(w): return _report(w, "--name", "../r")
@case("report-tolerance-negative", "analysis.report")
def _(w): return _report(w, "--tolerance", "-1")
@case("report-seed-negative", "analysis.report")
def _(w): return _report(w, "--seed", "-4")
@case("report-balance-seed-unicode", "analysis.report")
def _(w): return _report(w, "--balance-seed", ARABIC_12)
@case("report-n-boot-text", "analysis.report")
def _(w): return _report(w, "--n-boot", "many")
@case("report-study-unknown", "analysis.report")
def _(w): return _report(w, "--study", "nothing")
@case("report-study-path-escape", "analysis.report")
def _(w): return _report(w, "--study", "../../etc")
@case("report-model-table-mistyped", "analysis.report")
def _(w): return _report(w, "--model-table", _table(w, lambda d: d.assign(n_correct=["x"] + list(d["n_correct"][1:]))),
                         "--model-table-correct-col", "n_correct", "--model-table-n-models", "5", "--model-table-label-col", "")
@case("report-model-table-n-models-zero", "analysis.report")
def _(w): return _report(w, "--model-table", str(w / "table.csv"), "--model-table-correct-col", "n_correct",
                         "--model-table-n-models", "0", "--model-table-label-col", "")
@case("report-model-table-not-utf8", "analysis.report")
def _(w):
    (w / "bad.csv").write_bytes(b"n_correct\n\xff\n")
    return _report(w, "--model-table", str(w / "bad.csv"), "--model-table-correct-col", "n_correct")
@case("report-session-sidecar-not-object", "analysis.report")
def _(w):
    _session_2afc(w, sidecar=[{"SessionStatus": "complete"}])
    return _report(w)
@case("report-out-parent-file", "analysis.report")
def _(w): return _report(w, "--out", str(w / "table.csv" / "reports"))
@case("report-run-json-list", "analysis.report")
def _(w):
    _run_json(w).write_text("[]")
    return _report(w)


# ------------------------------------------------------------------------------ analysis.reference

needs_reference = (REFERENCE_DIR / "experiment_two_trials.csv").is_file()


@case("reference-name-parent", "analysis.reference")
def _(w): return _ref_args(w, "--name", "../escaped")
@case("reference-name-absolute", "analysis.reference")
def _(w): return _ref_args(w, "--name", str(w.parent / "outside" / "set"))
@case("reference-out-sets-file", "analysis.reference")
def _(w): return [*_ref_args(w), "--out-sets", str(w / "table.csv")]
@case("reference-out-sets-readonly", "analysis.reference", nobody=True)
def _(w): return [*_ref_args(w), "--out-sets", str(_readonly(w / "ro"))]
@case("reference-data-root-file", "analysis.reference")
def _(w): return [*_ref_args(w), "--data-root", str(w / "table.csv")]
@case("reference-data-root-readonly", "analysis.reference", nobody=True)
def _(w): return [*_ref_args(w), "--data-root", str(_readonly(w / "ro") / "data")]
@case("reference-is-training-mistyped", "analysis.reference")
def _(w): return _ref_edit(w, "trials", lambda d: d.assign(is_training=["x"] + list(d["is_training"][1:])))
@case("reference-class-index-mistyped", "analysis.reference")
def _(w): return _ref_edit(w, "trials", lambda d: d.assign(class_index=["n01"] + list(d["class_index"][1:])))
@case("reference-trial-mistyped", "analysis.reference")
def _(w): return _ref_edit(w, "trials", lambda d: d.assign(trial=list(d["trial"][:10]) + ["x"] + list(d["trial"][11:])))
@case("reference-answer-mistyped", "analysis.reference")
def _(w): return _ref_edit(w, "results", lambda d: d.assign(answer=["three"] + list(d["answer"][1:])))
@case("reference-results-trial-unknown", "analysis.reference")
def _(w): return _ref_edit(w, "results", lambda d: d.assign(trial=["999"] * 3 + list(d["trial"][3:])))
@case("reference-trials-header-only", "analysis.reference")
def _(w):
    p = w / "ref" / "experiment_two_trials.csv"
    p.write_text(p.read_text().splitlines()[0] + "\n")
    return _ref_args(w)
@case("reference-trials-torn", "analysis.reference")
def _(w):
    p = w / "ref" / "experiment_two_trials.csv"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return _ref_args(w)
@case("reference-results-torn", "analysis.reference")
def _(w):
    p = w / "ref" / "experiment_two_results_long.csv"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 500])
    return _ref_args(w)
@case("reference-trials-not-utf8", "analysis.reference")
def _(w):
    p = w / "ref" / "experiment_two_trials.csv"
    p.write_bytes(p.read_bytes().replace(b"n01744401", b"n0\xff744401", 1))
    return _ref_args(w)


# ------------------------------------------------------------------------------------ experiment

@case("experiment-config-not-utf8", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_bytes(b'[monitor]\nname = "b\xfcro"\n')
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("experiment-config-not-toml", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_text("[monitor\n")
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("experiment-config-stray-brace", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_text('[two_afc]\ninstructions = "Press {left} or {right. Go"\n')
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("experiment-config-lone-brace", "experiment.questionnaire")
def _(w):
    (w / "lab.toml").write_text('[questionnaire]\ninstructions = "Answer { then go"\n')
    return _exp_args(w, "--config", str(w / "lab.toml"), stimuli="quest")
@case("experiment-config-closing-brace", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_text('[two_afc]\ninstructions = "Press {left} } to go"\n')
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("experiment-config-attribute-placeholder", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_text('[two_afc]\ninstructions = "Press {left.upper}"\n')
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("experiment-config-nan", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_text("[monitor]\nwidth_cm = nan\n")
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("experiment-config-fixation-inf", "experiment.two_afc")
def _(w):
    (w / "lab.toml").write_text("[two_afc]\nfixation_s = inf\n")
    return _exp_args(w, "--config", str(w / "lab.toml"))
@case("questionnaire-config-not-utf8", "experiment.questionnaire")
def _(w):
    (w / "lab.toml").write_bytes(b'[questionnaire]\ninstructions = "Gr\xfc\xdfe"\n')
    return _exp_args(w, "--config", str(w / "lab.toml"), stimuli="quest")
@case("questionnaire-session-fullwidth", "experiment.questionnaire")
def _(w): return [*_exp_args(w, stimuli="quest"), "--session", FULLWIDTH_30]
@case("questionnaire-set-json-not-object", "experiment.questionnaire")
def _(w):
    _set_json(w, "quest", "questionnaire")
    return _exp_args(w, stimuli="quest")
@case("questionnaire-wrong-kind-of-set", "experiment.questionnaire")
def _(w): return _exp_args(w, stimuli="pairs")
@case("questionnaire-set-without-images", "experiment.questionnaire")
def _(w): return _exp_args(w, stimuli="quest")
@case("questionnaire-keys-nan", "experiment.questionnaire")
def _(w):
    (w / "lab.toml").write_text("[questionnaire]\nbreak_every = nan\n")
    return _exp_args(w, "--config", str(w / "lab.toml"), stimuli="quest")
@case("experiment-session-unicode", "experiment.two_afc")
def _(w): return [*_exp_args(w), "--session", "\u0661"]
@case("experiment-session-negative", "experiment.two_afc")
def _(w): return [*_exp_args(w), "--session", "-1"]
@case("experiment-seed-negative", "experiment.two_afc")
def _(w): return [*_exp_args(w), "--seed", "-5"]
@case("experiment-participant-path", "experiment.two_afc")
def _(w): return _exp_args(w, pid="../sub-001")
@case("experiment-sim-rt-scale-nan", "experiment.two_afc")
def _(w): return _exp_args(w, "--simulate", "demo", "--sim-rt-scale", "nan")
@case("experiment-data-root-file", "experiment.two_afc")
def _(w): return [*_exp_args(w), "--data-root", str(w / "table.csv")]
@case("experiment-set-json-list", "experiment.two_afc")
def _(w):
    _set_json(w, "pairs", [])
    return _exp_args(w)
@case("experiment-empty-trials-table", "experiment.two_afc")
def _(w):
    folder = w / "stimulus_sets" / "pairs"
    trials = folder / "trials.tsv"
    trials.write_text(trials.read_text().splitlines()[0] + "\n")
    meta = json.loads((folder / "set.json").read_text())
    meta["tables_sha256"]["trials.tsv"] = hashlib.sha256(trials.read_bytes()).hexdigest()
    (folder / "set.json").write_text(json.dumps(meta))
    return _exp_args(w)
@case("experiment-resume-sidecar-not-object", "experiment.two_afc")
def _(w):
    _session_2afc(w, sidecar=["TrialOrder", [1, 2, 3, 4]])
    return _exp_args(w, "--resume")
@case("experiment-resume-trial-order-string", "experiment.two_afc")
def _(w):
    _sidecar_of(w, lambda m: {**m, "TrialOrder": "1234"})
    return _exp_args(w, "--resume")
@case("experiment-resume-trial-order-unknown-trial", "experiment.two_afc")
def _(w):
    _sidecar_of(w, lambda m: {**m, "TrialOrder": [1, 2, 3, 99]})
    return _exp_args(w, "--resume")
@case("experiment-resume-trial-order-repeats", "experiment.two_afc")
def _(w):
    _sidecar_of(w, lambda m: {**m, "TrialOrder": [1, 2, 2, 3]})
    return _exp_args(w, "--resume")
@case("experiment-resume-trial-order-floats", "experiment.two_afc")
def _(w):
    _sidecar_of(w, lambda m: {**m, "TrialOrder": [1.5, 2, 3, 4]})
    return _exp_args(w, "--resume")
@case("experiment-resume-seed-string", "experiment.two_afc")
def _(w):
    _sidecar_of(w, lambda m: {**m, "TrialOrderSeed": "five"})
    return _exp_args(w, "--resume")
@case("experiment-resume-stimulus-set-string", "experiment.two_afc")
def _(w):
    _sidecar_of(w, lambda m: {**m, "StimulusSet": "pairs"})
    return _exp_args(w, "--resume")
@case("experiment-resume-sidecar-torn", "experiment.two_afc")
def _(w):
    tsv = _session_2afc(w)
    side = sidecar_path(tsv)
    side.write_bytes(side.read_bytes()[:40])
    return _exp_args(w, "--resume")
@case("experiment-resume-tsv-mistyped-row", "experiment.two_afc")
def _(w):
    _session_2afc(w, rows=["one\tpractice\t1\tq1i\tq1t\tleft\tleft\tq1i\t1\t1.0\t2.0\n"])
    return _exp_args(w, "--resume")


# ---------------------------------------------------------------------------------------- the test

@pytest.mark.slow
@pytest.mark.parametrize("case_id, module, setup, nobody", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_exit_2_nothing_changed(
    lab_template: Path, programs: Programs, tmp_path: Path, case_id: str, module: str, setup: Setup, nobody: bool
) -> None:
    if module == "analysis.reference" and not needs_reference:
        pytest.skip(f"published data not found in {REFERENCE_DIR}")
    as_nobody = nobody and os.geteuid() == 0
    # an unprivileged user must reach the files: pytest's own temporary folders are root-only
    base = Path(tempfile.mkdtemp(prefix="bad-input-")) if as_nobody else tmp_path
    try:
        root = base / "case"
        shutil.copytree(lab_template, root, symlinks=True)
        w = root / "lab"
        argv = setup(w)
        if as_nobody:
            base.chmod(0o755)
            _chown_tree(root, NOBODY)
        before = _tree(root)
        code, stderr = programs.run(module, argv, cwd=w, home=root / "home", out=tmp_path / "out", nobody=as_nobody)
        after = _tree(root)
    finally:
        if as_nobody:
            shutil.rmtree(base, ignore_errors=True)
    lines = stderr.splitlines()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert code == 2, f"exit {code}; stderr: {stderr[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"changed: {changed[:5]}; stderr: {stderr}"


def test_corpus_is_large_enough() -> None:
    """The issue asks for at least 100 cases; the ids name each one once."""
    ids = [c[0] for c in CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)
