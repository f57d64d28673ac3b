"""scripts/pipeline.sh: any study to a report; its interface, its one-line errors, and a re-run
after a kill at any step that simply carries on (no "pass --resume")."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from participants.layout import beh_path, read_session

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "pipeline.sh"
# A study small enough for a test: three small CNNs on the noisy digits, two epochs.
TINY = """\
name = "tiny"
[dataset]
name = "digits"
train_per_class = 20
val_per_class = 0
seed = 0
noise_sd_max = 100.0
[recipe]
arch = "small_cnn"
model_options = { width = 8 }
epochs = 2
batch_size = 32
lr = 0.05
[[conditions]]
name = "base"
[[conditions]]
name = "init"
vary = { init_seed = [1, 2] }
"""
SIZES = ["--observers", "2", "--pairs", "3", "--practice-pairs", "1", "--per-difficulty", "2", "--practice", "1",
         "--tolerance", "0", "--no-cleanlab"]


def _env(home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    if home is not None:  # PsychoPy writes its preferences under $HOME
        home.mkdir(exist_ok=True)
        env["HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.pop("DISPLAY", None)  # the script starts its own Xvfb servers
    return env


def _run(*args: str, cwd: Path, timeout: float = 60, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the script to its end; nothing it started (Xvfb servers, sessions) may outlive it."""
    with subprocess.Popen(["bash", str(SCRIPT), *args], cwd=cwd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as proc:
        out, err = proc.communicate(timeout=timeout)
    time.sleep(0.5)
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        pass
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"processes of the pipeline outlived it:\n{err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_help_names_the_interface(tmp_path: Path) -> None:
    r = _run("--help", cwd=tmp_path)
    assert r.returncode == 0
    for option in ("--study STUDY", "--data-root DIR", "--out-dir DIR", "--observers N", "--pairs N", "--practice-pairs N",
                   "--per-difficulty N", "--practice N"):
        assert option in r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    ((), "error: --study is required"),
    (("--study", "nosuch"), "error: unknown study 'nosuch'"),
    (("--study", "missing.toml"), "error: missing.toml: study file not found"),
    (("--study", "demo", "--observers", "two"), "error: --observers 'two': must be a whole number"),
    (("--study", "demo", "--observers", "0"), "error: --observers 0: must be 1 or more"),
    (("--study", "demo", "--data-root", "nowhere"), "error: --data-root nowhere: folder not found"),
    (("--study", "demo", "--pairs"), "error: --pairs needs a value"),
    (("--study", "demo", "--sim-rt-scale", "-1"), "error: --sim-rt-scale '-1': must be a positive number"),
    (("--study", "demo", "--frobnicate"), "error: unknown option '--frobnicate'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    r = _run(*args, "--out-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def _start(cwd: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(["bash", str(SCRIPT), "--study", "tiny.toml", "--out-dir", str(out), *SIZES], cwd=cwd, env=_env(cwd / "home"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _kill_when(proc: subprocess.Popen[str], ready, timeout: float = 400) -> None:
    """SIGKILL the script and everything it started (its process group) once `ready()` holds."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"the pipeline ended before the kill point:\n{proc.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "kill point not reached"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


def _rows(tsv: Path) -> int:
    return tsv.read_bytes().count(b"\n") - 1 if tsv.is_file() else 0


@pytest.mark.slow
@pytest.mark.display
@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
@pytest.mark.timeout(1500)  # four pipeline runs: about 8 minutes on 2 loaded cores
def test_killed_twice_then_rerun_finishes_with_every_step(tmp_path: Path) -> None:
    """Killed (with every process it started) while training and again in the middle of a
    session, the same command line finishes: every model, both sets, both observers' sessions
    (the interrupted one resumed), the report; a further run changes no session."""
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "out"
    models = out / "runs" / "tiny" / "models"
    _kill_when(_start(tmp_path, out), lambda: any(models.glob("*/checkpoints/*")) or any(models.glob("*/epoch-*")))
    data = out / "lab_data" / "tiny"
    tsv = beh_path(data, "sub-001", 1, "2afc")
    _kill_when(_start(tmp_path, out), lambda: _rows(tsv) >= 2)
    assert read_session(tsv).status == "incomplete"
    r = _run("--study", "tiny.toml", "--out-dir", str(out), *SIZES, cwd=tmp_path, timeout=600, home=tmp_path / "home")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "pass --resume" not in r.stdout + r.stderr
    for pid in ("sub-001", "sub-002"):
        for ses, task in ((1, "2afc"), (2, "questionnaire")):
            s = read_session(beh_path(data, pid, ses, task))
            assert s.status == "complete" and s.meta["Simulated"] is True
    assert len(read_session(tsv).meta["Attempts"]) == 2  # resumed, not restarted
    report = out / "reports" / "tiny"
    assert (report / "report.html").is_file() and (report / "ddd").is_dir()
    assert "reused from" in (report / "report.html").read_text()  # step 2's DDD analysis, not run twice
    assert {p.name for p in (out / "stimulus_sets").iterdir()} == {"tiny-2afc", "tiny-questionnaire"}
    steps = [line.split("\t")[0] for line in (report / "pipeline-times.tsv").read_text().splitlines()]
    assert steps == ["step", "train", "ddd", "sets", "register", "sessions", "report", "total"]
    sessions = {p: p.read_bytes() for p in data.rglob("*_beh.tsv")}
    again = _run("--study", "tiny.toml", "--out-dir", str(out), *SIZES, cwd=tmp_path, timeout=600, home=tmp_path / "home")
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(r"already complete: nothing to do", (report / "session-logs" / "sub-002.log").read_text())
    assert {p: p.read_bytes() for p in data.rglob("*_beh.tsv")} == sessions
