"""A full disk (a 2 MiB tmpfs filled to the last page) is, in every command, one line naming the
file that could not be written, exit status 2, and nothing half-written: the files are as before,
and once space is freed the same command succeeds.

The tmpfs needs root (mount); where mounting is not permitted the tmpfs tests are skipped and
`test_enospc_at_fsync_*` still simulates the full disk by instrumenting `os.fsync`.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labutil.errors import DiskFull, run_cli

ROOT = Path(__file__).resolve().parents[1]
STUDY = """name = "full"
[dataset]
name = "digits"
train_per_class = 4
val_per_class = 3
seed = 3
[recipe]
arch = "mlp"
epochs = 2
batch_size = 8
[[conditions]]
name = "base"
"""


class Disk:
    """A small tmpfs and a filler file that takes all (or all but `leave` bytes) of its space."""

    def __init__(self, path: Path) -> None:
        self.path, self.filler = path, path / ".filler"

    def fill(self, leave: int = 0) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC
                        break
        finally:
            os.close(fd)
        if leave:
            os.truncate(self.filler, max(self.filler.stat().st_size - leave, 0))

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def snapshot(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.path)): p.read_bytes() for p in sorted(self.path.rglob("*"))
                if p.is_file() and p != self.filler and p.name != ".registry.lock"}


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[Disk]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs not permitted here: {done.stderr.decode().strip()}")
    try:
        yield Disk(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _one_line(capsys: pytest.CaptureFixture, names: str) -> None:
    err = capsys.readouterr().err  # a progress bar (carriage returns) may come first
    lines = [line for line in err.replace("\r", "\n").split("\n") if line.strip() and "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert f"{names}: could not be written: no space left on device" in lines[0], err


def _register(disk: Disk, tmp_path: Path) -> int:
    from participants.cli import main

    return run_cli(main, ["register", "--data-root", str(disk.path / "lab"), "--private-root",
                          str(tmp_path / "private"), "--cnn-familiarity", "naive", "--notes", "x" * 150])


def test_register_on_a_full_disk(disk: Disk, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _register(disk, tmp_path) == 0
    capsys.readouterr()
    disk.fill()
    before = disk.snapshot()
    assert _register(disk, tmp_path) == 2
    _one_line(capsys, str(disk.path / "lab" / "participants.tsv"))
    assert disk.snapshot() == before
    disk.free()
    assert _register(disk, tmp_path) == 0
    assert "sub-002" in capsys.readouterr().out


def test_session_rows_on_a_full_disk(disk: Disk) -> None:
    from participants.layout import SessionWriter, beh_path, read_session

    tsv = beh_path(disk.path / "lab", "sub-001", 1, "2afc")
    writer = SessionWriter(tsv, "2afc")
    writer.start({"TrialOrder": list(range(1, 10001))})
    disk.fill()
    row = {"trial": 1, "phase": "test", "pair_id": 1, "left_stim": "a" * 40, "right_stim": "b" * 40,
           "impossible_side": "left", "response_side": "left", "chosen_stim": "a" * 40, "correct": True,
           "rt": 0.5, "onset": 1.0}
    written = 0
    with pytest.raises(DiskFull, match=f"{tsv}: could not be written"):
        for t in range(1, 10001):
            writer.append({**row, "trial": t})
            written += 1
    assert written >= 1  # the TSV's last page had room for some rows
    assert tsv.read_bytes().endswith(b"\n")  # no half row
    assert list(read_session(tsv).trials["trial"]) == list(range(1, written + 1))


def test_stimulus_build_on_a_full_disk(disk: Disk, capsys: pytest.CaptureFixture) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "stimuli"))
    import numpy as np
    from stimuli_data import N_CLASSES, counts_design, synthetic_pixels, write_counts_study

    from labutil.io import find_temp_files
    from stimuli.build import build_2afc
    from stimuli.sources import from_study

    counts = counts_design()
    study = write_counts_study(disk.path.parent / "study", counts, np.arange(len(counts)) % N_CLASSES)
    source = from_study(study.path, image_source=synthetic_pixels)
    build_2afc(source, disk.path / "sets" / "a", n_test=3, n_practice=1, tolerance=1, seed=0, display_size=64)
    disk.fill(leave=4096)
    before = disk.snapshot()
    with pytest.raises(DiskFull, match=f"{disk.path / 'sets' / 'b'}: could not be written"):
        build_2afc(source, disk.path / "sets" / "b", n_test=3, n_practice=1, tolerance=1, seed=0, display_size=64)
    assert disk.snapshot() == before and find_temp_files(disk.path / "sets") == []
    disk.free()
    build_2afc(source, disk.path / "sets" / "b", n_test=3, n_practice=1, tolerance=1, seed=0, display_size=64)


def test_report_on_a_full_disk(disk: Disk, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from analysis.report.cli import main

    for d in ("data", "sets"):
        (tmp_path / d).mkdir()
    args = ["--no-models", "--data-root", str(tmp_path / "data"), "--stimuli", str(tmp_path / "sets"),
            "--out", str(disk.path / "reports")]
    assert run_cli(main, args) == 0
    capsys.readouterr()
    disk.fill()
    before = disk.snapshot()
    assert run_cli(main, args) == 2
    _one_line(capsys, str(disk.path / "reports" / "report.html"))
    assert disk.snapshot() == before
    assert sorted(p.name for p in (disk.path / "reports").iterdir()) == ["report.html", "report_files"]


@pytest.mark.subprocess
@pytest.mark.slow
def test_training_on_a_full_disk_then_resume(disk: Disk, tmp_path: Path) -> None:
    study = tmp_path / "full.toml"
    study.write_text(STUDY)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "TRIVIAL_OR_IMPOSSIBLE_CACHE": str(tmp_path / "cache")}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "model_runs", *args, "--device", "cpu", "--threads", "1",
                               "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    disk.fill(leave=64 * 1024)  # room for the study folder, not for a checkpoint
    done = cli("train", str(study), "--runs-dir", str(disk.path / "runs"))
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and err[-1].startswith("error: ") and "could not be written: no space" in err[-1], done.stderr
    assert "Traceback" not in done.stderr
    assert str(disk.path / "runs") in err[-1]
    from labutil.io import find_temp_files

    assert find_temp_files(disk.path / "runs", recursive=True) == []
    disk.free()
    done = cli("resume", str(disk.path / "runs" / "full"))
    assert done.returncode == 0, done.stderr
    from model_runs.store import open_study

    assert open_study(disk.path / "runs" / "full").run_info("base")["status"] == "complete"


def test_enospc_at_fsync_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a tmpfs: the write helper's fsync fails as on a full disk (NFS reports it there)."""
    from labutil.io import atomic_write_text, find_temp_files
    from participants.layout import SessionWriter, beh_path

    target = tmp_path / "a.txt"
    target.write_text("old\n")
    tsv = beh_path(tmp_path / "lab", "sub-001", 1, "2afc")
    writer = SessionWriter(tsv, "2afc")
    writer.start({})
    header = tsv.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull, match=f"{target}: could not be written"):
        atomic_write_text(target, "new\n")
    row = {"trial": 1, "phase": "test", "pair_id": 1, "left_stim": "a", "right_stim": "b", "impossible_side": "left",
           "response_side": "left", "chosen_stim": "a", "correct": True, "rt": 0.5, "onset": 1.0}
    with pytest.raises(DiskFull, match=f"{tsv}: could not be written"):
        writer.append(row)
    monkeypatch.undo()
    assert target.read_text() == "old\n" and find_temp_files(tmp_path) == []
    assert tsv.read_bytes() == header  # the appended row was truncated away


def test_export_on_a_full_disk(disk: Disk, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from participants.cli import main
    from participants.registry import Registry

    data, private = tmp_path / "lab", tmp_path / "private"
    Registry(data, private).register(cnn_familiarity="naive", name="Ann Bee")
    beh = data / "sub-001" / "ses-01" / "beh"
    beh.mkdir(parents=True)
    (beh / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # more than the disk holds
    args = ["export", "--data-root", str(data), "--private-root", str(private), str(disk.path / "export")]
    assert run_cli(main, args) == 2
    _one_line(capsys, str(disk.path / "export"))
    assert list(disk.path.iterdir()) == []  # the partial copy is gone
    (beh / "big.bin").write_bytes(b"small")
    assert run_cli(main, args) == 0
