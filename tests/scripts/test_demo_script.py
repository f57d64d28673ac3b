"""scripts/demo.sh: the published reference data's import and report run beside the pipeline; the
demo waits for them, fails when they fail, and leaves no process behind when it is killed.

The pipeline and `python` are stand-ins here (scripts/pipeline.sh itself is tested in
test_pipeline_script.py), so that these tests take seconds and see what demo.sh starts and when."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Stand-in for scripts/pipeline.sh: notes when it started and ended, writes the report it names.
PIPELINE = """#!/usr/bin/env bash
set -e
date +%s%N > pipeline.start
sleep "${PIPELINE_S:-1}"
mkdir -p reports/demo && echo '<html>' > reports/demo/report.html
date +%s%N > pipeline.end
"""
# Stand-in for python: the reference import and report note when they ran; REPORT_S sleeps in the
# report, REPORT_STATUS is its exit status; IMPORT_STATUS makes the import fail half-way.
PYTHON = """#!/usr/bin/env bash
case "$*" in
  *analysis.reference\\ import*) mkdir -p reference_data/lab_data; date +%s%N > import.start
                                   [ -z "${IMPORT_STATUS:-}" ] || { touch reference_data/lab_data/half; exit "$IMPORT_STATUS"; } ;;
  *analysis.report\\ --model-table*) date +%s%N > report.start; echo "reference report ran"
                                     [ "${REPORT_STATUS:-0}" != 0 ] || exec sleep "${REPORT_S:-0}"  # one process, as python
                                     exit "$REPORT_STATUS" ;;
  *) echo "unexpected python $*" >&2; exit 9 ;;
esac
"""


def _tree(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of demo.sh beside the stand-ins, in a process environment that finds them."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "demo.sh", repo / "scripts" / "demo.sh")
    (repo / "scripts" / "pipeline.sh").write_text(PIPELINE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(PYTHON)
    (bin_dir / "python").chmod(0o755)
    reference = tmp_path / "reference"
    reference.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", REFERENCE=str(reference))
    return repo, env


def _stamp(path: Path) -> int:
    return int(path.read_text())


def test_reference_runs_beside_the_pipeline_and_is_waited_for(tmp_path: Path) -> None:
    repo, env = _tree(tmp_path)
    r = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env={**env, "PIPELINE_S": "2", "REPORT_S": "3"},
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    # imported (no reference_data yet), then reported, while the pipeline was still running
    assert _stamp(repo / "import.start") <= _stamp(repo / "report.start") < _stamp(repo / "pipeline.end")
    # the demo ended after the report: its log printed after the heading, then the closing line
    out = r.stdout
    assert out.index("and the original study") < out.index("reference report ran") < out.index("Demo finished")
    assert (repo / "reports" / "reference.log").read_text().strip() == "reference report ran"
    again = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert _stamp(repo / "report.start") > _stamp(repo / "pipeline.start") - 10**9  # reported again ...
    assert _stamp(repo / "import.start") < _stamp(repo / "pipeline.start")  # ... but not imported again


def test_a_failed_reference_report_fails_the_demo(tmp_path: Path) -> None:
    repo, env = _tree(tmp_path)
    r = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env={**env, "REPORT_STATUS": "3"},
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == "error: the reference report failed (see reports/reference.log); run make demo again"
    assert "Demo finished" not in r.stdout


def test_an_interrupted_reference_import_is_done_again(tmp_path: Path) -> None:
    repo, env = _tree(tmp_path)
    r = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env={**env, "IMPORT_STATUS": "1"},
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1 and (repo / "reference_data" / "lab_data" / "half").exists()
    assert not (repo / "reports" / "reference.log").read_text().count("reference report ran")  # not reported from half
    first = _stamp(repo / "import.start")
    again = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert _stamp(repo / "import.start") > first  # imported again, from scratch
    assert not (repo / "reference_data" / "lab_data" / "half").exists()
    assert "reference report ran" in again.stdout


def test_no_reference_data_is_skipped(tmp_path: Path) -> None:
    repo, env = _tree(tmp_path)
    r = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env={**env, "REFERENCE": str(tmp_path / "none")},
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert f"skipped: no reference data at {tmp_path / 'none'}" in r.stdout
    assert not (repo / "report.start").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_killed_demo_leaves_no_reference_process(tmp_path: Path, sig: signal.Signals) -> None:
    """Interrupted while the reference report runs (the pipeline still running too) by Ctrl-C (the
    terminal signals the whole foreground group; the background reference part ignores SIGINT) or a
    kill of the group, the demo ends and so does everything it started."""
    repo, env = _tree(tmp_path)
    proc = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=repo, env={**env, "PIPELINE_S": "30", "REPORT_S": "30"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not ((repo / "report.start").exists() and (repo / "pipeline.start").exists()):
            assert time.monotonic() < deadline, "the reference report never started"
            time.sleep(0.1)
        os.killpg(proc.pid, sig)
        assert proc.wait(timeout=20) != 0
        time.sleep(1)
        ps = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(proc.pid)], capture_output=True, text=True, check=False).stdout
        left = [line for line in ps.splitlines() if line.split()[1][0] != "Z"]  # ended, not yet reaped by init: gone
        assert left == [], "processes of the demo outlived it:\n" + "\n".join(left)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
