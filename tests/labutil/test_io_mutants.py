"""labutil.io: the cases the first mutation run showed unpinned (docs/mutation/labutil.io.md).

Permissions are compared with 0666 less the umask (docs/formats.md, permissions); the creation
mode of a temporary file is observed by wrapping `os.open`; races of two cleaners are simulated by
removing a listed leftover between the listing and the removal; the JSON layouts are written out
by hand.
"""

from __future__ import annotations

import ctypes
import errno
import io as pyio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import labutil.io as lio
from labutil.errors import DiskFull, UserError


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- atomic writes: folders, permissions, a full disk


def test_a_write_creates_the_missing_folders(tmp_path: Path) -> None:
    lio.atomic_write_bytes(tmp_path / "a" / "b" / "c.json", b"1")
    assert (tmp_path / "a" / "b" / "c.json").read_bytes() == b"1"
    folder = lio.make_temp_dir(tmp_path / "x" / "y" / "set")
    assert folder.is_dir() and folder.parent == tmp_path / "x" / "y" and lio.is_temp_name(folder.name)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The mode argument of every os.open that creates a temporary file."""
    seen: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT and str(path).endswith(".tmp"):
            seen.append((Path(path).name, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return seen


def test_files_get_the_mode_of_a_plain_open(tmp_path: Path, created) -> None:
    """0666 less the umask: readable as the lab's policy says, never executable."""
    lio.atomic_write_bytes(tmp_path / "a.bin", b"x")
    lio.atomic_write_text(tmp_path / "b.txt", "x")
    lio.write_json(tmp_path / "c.json", {"a": 1})
    for name in ("a.bin", "b.txt", "c.json"):
        assert _mode(tmp_path / name) == 0o666 & ~_umask()
    assert [mode for _, mode in created] == [0o666] * 3


def test_a_restricted_file_is_never_open_to_others_not_even_while_written(tmp_path: Path, created) -> None:
    """mode=0600: the temporary file is created 0600 (not widened and narrowed later: another
    account could open it in between and read the data through its descriptor)."""
    lio.atomic_write_bytes(tmp_path / "p.json", b"secret", mode=0o600)
    lio.atomic_write_text(tmp_path / "q.json", "secret", mode=0o600)
    assert _mode(tmp_path / "p.json") == 0o600 and _mode(tmp_path / "q.json") == 0o600
    assert [mode for _, mode in created] == [0o600, 0o600]


def test_a_full_disk_while_creating_or_writing_is_one_line_naming_the_file(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run.json"
    target.write_text("old")
    expected = (f"{target}: could not be written: no space left on device (or quota exceeded); "
                "nothing was changed (free some space and run the command again)")
    real_open, real_fsync = os.open, os.fsync

    def no_inode(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_inode)
    with pytest.raises(DiskFull) as err:
        lio.atomic_write_bytes(target, b"new")
    assert str(err.value) == expected
    monkeypatch.setattr(os, "open", real_open)

    def quota(fd: int) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(os, "fsync", quota)
    with pytest.raises(DiskFull) as err:
        lio.atomic_write_text(target, "new")
    assert str(err.value) == expected
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_raise_if_disk_full_turns_the_disk_full_errors_into_diskfull(code: int, tmp_path: Path) -> None:
    with pytest.raises(DiskFull) as err:
        lio.raise_if_disk_full(OSError(code, os.strerror(code)), tmp_path / "x.tsv")
    assert str(err.value).startswith(f"{tmp_path / 'x.tsv'}: could not be written: no space left on device")
    assert err.value.errno == errno.ENOSPC


def test_raise_if_disk_full_renames_an_inner_diskfull_and_lets_other_errors_pass(tmp_path: Path) -> None:
    with pytest.raises(DiskFull) as err:  # a file inside a set: the message names the set
        lio.raise_if_disk_full(DiskFull("inner/file: could not be written"), tmp_path / "set")
    assert str(err.value).startswith(f"{tmp_path / 'set'}: could not be written")
    for exc in (OSError(errno.EACCES, "Permission denied"), OSError(errno.EROFS, "Read-only file system"),
                ValueError("x")):
        assert lio.raise_if_disk_full(exc, tmp_path / "x") is None  # not a full disk: the caller re-raises


# --- temporary names


@pytest.mark.parametrize("hostname,tag", [
    ("Lab-PC_07.uni-tuebingen.de", "LabPC07unituebin"),  # letters and digits only, at most 16
    ("node12", "node12"),
    ("", "host"),
    ("---", "host"),
])
def test_the_host_in_temporary_names(hostname: str, tag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    name = lio.temp_name(tmp_path / "run.json").name
    assert name.startswith(f".run.json.{tag}-{os.getpid()}-") and name.endswith(".tmp")
    assert lio.is_temp_name(name, legacy=False)
    # this host's own temporary file: judged by its pid at once (not by its age)
    dead = tmp_path / f".run.json.{tag}-{_dead_pid()}-0123456789ab.tmp"
    dead.write_text("x")
    assert lio.is_leftover(dead) and not lio.is_leftover(tmp_path / name)


def test_a_taken_temporary_name_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's temporary name (a collision) makes the writer draw again, not fail."""
    taken_file, taken_dir = tmp_path / ".a.json.h-1-000000000000.tmp", tmp_path / ".s.h-1-000000000000.tmp"
    taken_file.write_text("theirs")
    taken_dir.mkdir()
    real = lio.temp_name
    names = iter([taken_file])
    monkeypatch.setattr(lio, "temp_name", lambda p: next(names, None) or real(p))
    lio.atomic_write_bytes(tmp_path / "a.json", b"mine")
    names = iter([taken_dir])
    folder = lio.make_temp_dir(tmp_path / "s")
    assert (tmp_path / "a.json").read_bytes() == b"mine" and taken_file.read_text() == "theirs"
    assert folder.is_dir() and folder != taken_dir


def test_no_free_temporary_name_is_an_error_naming_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = tmp_path / ".a.h-1-000000000000.tmp"
    taken.mkdir()
    monkeypatch.setattr(lio, "temp_name", lambda p: taken)
    for call in (lambda: lio.atomic_write_bytes(tmp_path / "a", b"x"), lambda: lio.make_temp_dir(tmp_path / "a")):
        with pytest.raises(FileExistsError, match=rf"^no free temporary name beside {re.escape(str(tmp_path / 'a'))}$"):
            call()


# --- pid_alive and leftovers


def test_checking_a_pid_never_signals_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(3):
            assert lio.pid_alive(child.pid)
        time.sleep(0.3)
        assert child.poll() is None  # still running: the check sent it nothing (signal 0)
    finally:
        child.terminate()
        assert child.wait() == -signal.SIGTERM  # ended by our SIGTERM, not by a signal from the check


def test_a_process_of_another_account_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """kill(pid, 0) refused (EPERM): the process exists; its temporary files are not leftovers."""
    def refused(pid: int, sig: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", refused)
    assert lio.pid_alive(os.getpid() + 1)


def test_an_unreadable_process_status_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/<pid>/stat unreadable (e.g. hidepid): when in doubt a writer is alive (keep its files)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        def no_proc(path, *args, **kwargs):
            if str(path).startswith("/proc/"):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return open(path, *args, **kwargs)

        monkeypatch.setattr(lio, "open", no_proc, raising=False)
        assert lio.pid_alive(child.pid)
    finally:
        monkeypatch.undo()
        child.terminate()
        child.wait()


def test_a_zombie_whose_name_holds_a_parenthesis_is_gone() -> None:
    """/proc/<pid>/stat is `pid (comm) state ...` and comm may hold `) `: the state follows the last `)`."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            with open("/proc/self/comm", "w") as fh:
                fh.write("x) y")
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    try:
        for _ in range(1000):  # up to 10 s on a loaded machine
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().startswith(f"{pid} (x) y) "):
                    break
            time.sleep(0.01)
        assert lio.pid_alive(pid)
        os.write(w, b"x")
        for _ in range(1000):  # up to 10 s on a loaded machine
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert not lio.pid_alive(pid)
    finally:
        os.close(w)
        os.waitpid(pid, 0)


def _aged(path: Path, mtime: float = 1e9) -> Path:
    os.utime(path, (mtime, mtime))
    return path


def test_is_leftover_age_rule(tmp_path: Path) -> None:
    """A name without a pid of this host is a leftover once over LEGACY_TEMP_AGE_S old (`now` as given)."""
    legacy = tmp_path / ".c.k3j_x9qa.tmp"
    legacy.write_text("x")
    _aged(legacy)
    age = lio.LEGACY_TEMP_AGE_S
    assert lio.is_leftover(legacy, now=1e9 + age + 1)  # default: older versions' names are ours
    assert not lio.is_leftover(legacy, now=1e9 + age)  # exactly the age: not over it
    assert not lio.is_leftover(legacy, now=1e9 + age + 1, legacy=False)
    fresh = tmp_path / ".d.k3j_x9qb.tmp"
    fresh.write_text("x")
    assert not lio.is_leftover(fresh) and lio.is_leftover(fresh, now=time.time() + 2 * age)  # `now` is used
    assert not lio.is_leftover(tmp_path / ".gone.k3j_x9qc.tmp", now=1e9 + 2 * age)  # vanished meanwhile
    other = tmp_path / f".e.otherhostname-{_dead_pid()}-0123456789ab.tmp"
    assert not lio.is_leftover(other, now=time.time() + 2 * age)  # another host's, vanished


def test_a_legacy_check_decides_with_the_path(tmp_path: Path) -> None:
    """`legacy` as a callable gets the path: here only folders count as our older leftovers."""
    folder, file = tmp_path / ".rep.k3j_x9qa.tmp", tmp_path / ".rep.k3j_x9qb.tmp"
    folder.mkdir()
    file.write_text("x")
    seen: list[Path] = []

    def ours(p: Path) -> bool:
        seen.append(p)
        return p.is_dir()

    for p in (folder, file):
        _aged(p)
    now = 1e9 + 2 * lio.LEGACY_TEMP_AGE_S
    assert lio.is_leftover(folder, now=now, legacy=ours) and not lio.is_leftover(file, now=now, legacy=ours)
    assert seen == [folder, file]


def test_remove_leftovers_only_below_with_recursive(tmp_path: Path) -> None:
    nested = tmp_path / "checkpoints" / f".epoch-0001.pt.{_dead_pid()}-00ff00ff00ff.tmp"
    nested.parent.mkdir()
    nested.write_text("x")
    assert lio.remove_leftovers(tmp_path) == [] and nested.exists()  # default: this folder only
    assert lio.remove_leftovers(tmp_path, recursive=True) == [nested] and not nested.exists()


def test_a_leftover_folder_is_removed_whole_and_a_link_without_its_target(tmp_path: Path) -> None:
    folder = tmp_path / f".set.{_dead_pid()}-00ff00ff00ff.tmp"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "s1.png").write_bytes(b"png")
    elsewhere = tmp_path / "keep"
    elsewhere.mkdir()
    (elsewhere / "data.tsv").write_text("precious")
    link = tmp_path / f".link.{_dead_pid()}-00ff00ff00ff.tmp"
    link.symlink_to(elsewhere, target_is_directory=True)
    assert set(lio.remove_leftovers(tmp_path)) == {folder, link}
    assert not folder.exists() and not link.is_symlink()
    assert (elsewhere / "data.tsv").read_text() == "precious"  # the link's target is not followed


def test_a_leftover_removed_meanwhile_by_another_cleaner_is_no_error(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two programs clean the same folder at once: what the other removed first is not an error."""
    file = tmp_path / f".a.{_dead_pid()}-00ff00ff00ff.tmp"
    file.write_text("x")
    folder = tmp_path / f".b.{_dead_pid()}-00ff00ff00ff.tmp"
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "f").write_text("x")
    real_find = lio.find_temp_files

    def find_then_race(where: Path, recursive: bool = False) -> list[Path]:
        found = real_find(where, recursive)
        file.unlink()  # the other cleaner was faster with the file ...
        return found

    real_rmdir = os.rmdir

    def rmdir_race(path, *args, **kwargs):
        if Path(path).name == "inner" or path == "inner":
            real_rmdir(path, *args, **kwargs)  # ... and with the inner folder
        return real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(lio, "find_temp_files", find_then_race)
    monkeypatch.setattr(os, "rmdir", rmdir_race)
    assert set(lio.remove_leftovers(tmp_path)) == {file, folder}
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- JSON


OBJ = {"name": "Müller", "n": np.int64(3), "acc": np.float32(0.5), "ids": np.array([1, 2]), "root": Path("/data/x"),
       "runs": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}], "empty": [], "mixed": [1, {"x": 2}],
       "cfg": {"lr": 0.1}}
PLAIN = {"name": "Müller", "n": 3, "acc": 0.5, "ids": [1, 2], "root": "/data/x",
         "runs": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}], "empty": [], "mixed": [1, {"x": 2}],
         "cfg": {"lr": 0.1}}

FAST = """{
  "name": "Müller",
  "n": 3,
  "acc": 0.5,
  "ids": [1, 2],
  "root": "/data/x",
  "runs": [
    {"epoch": 1, "loss": 0.5},
    {"epoch": 2, "loss": 0.25}
  ],
  "empty": [],
  "mixed": [1, {"x": 2}],
  "cfg": {"lr": 0.1}
}
"""


def test_write_json_default_layout_is_indented_by_two_and_utf8(tmp_path: Path) -> None:
    lio.write_json(tmp_path / "a.json", OBJ)
    text = (tmp_path / "a.json").read_bytes().decode("utf-8")
    assert text.startswith('{\n  "name": "Müller",\n  "n": 3,\n')  # raw UTF-8, not \\u00fc
    assert '  "cfg": {\n    "lr": 0.1\n  }\n}\n' in text  # a nested object over lines, indent 2
    assert text == json.dumps(PLAIN, indent=2, ensure_ascii=False) + "\n"
    lio.write_json(tmp_path / "b.json", [1, {"a": "é"}], fast=True)  # fast applies to objects only
    assert (tmp_path / "b.json").read_text(encoding="utf-8") == '[\n  1,\n  {\n    "a": "é"\n  }\n]\n'


def test_write_json_fast_layout_one_field_and_one_record_per_line(tmp_path: Path) -> None:
    lio.write_json(tmp_path / "run.json", OBJ, fast=True)
    assert (tmp_path / "run.json").read_bytes().decode("utf-8") == FAST
    assert json.loads(FAST) == PLAIN
    lio.write_json(tmp_path / "e.json", {}, fast=True)
    assert (tmp_path / "e.json").read_text() == "{}\n"


def test_write_json_refuses_what_json_cannot_hold(tmp_path: Path) -> None:
    for fast in (False, True):
        with pytest.raises(TypeError, match=r"^not JSON serialisable: set$"):
            lio.write_json(tmp_path / "x.json", {"a": {1, 2}}, fast=fast)
    assert not (tmp_path / "x.json").exists() and list(tmp_path.iterdir()) == []


def test_read_json_is_utf8_whatever_the_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab PC with a Latin-1 locale still reads the UTF-8 files every writer makes."""
    (tmp_path / "a.json").write_bytes('{"name": "Müller"}'.encode())
    real = pyio.text_encoding
    monkeypatch.setattr(pyio, "text_encoding", lambda enc, stacklevel=2: "latin-1" if enc is None else real(enc))
    assert lio.read_json(tmp_path / "a.json") == {"name": "Müller"}


def test_read_json_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    cases = {
        "missing.json": (None, "file not found"),
        "latin1.json": ('{"a": "Müller"}'.encode("latin-1"), "not UTF-8 text (byte 8)"),
        "torn.json": (b'{"a": 1,', ("not valid JSON (line 1: Expecting property name enclosed in double quotes"
                                    " - the file looks truncated)")),
        "torn2.json": (b'[1, 2\n\n', "not valid JSON (line 3: Expecting ',' delimiter - the file looks truncated)"),
        "bad.json": (b'{"a": 1,, "b": 2}', "not valid JSON (line 1: Expecting property name enclosed in double quotes)"),
    }
    for name, (data, message) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError) as err:
            lio.read_json(tmp_path / name)
        assert str(err.value) == f"{tmp_path / name}: {message}"
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(UserError) as err:
        lio.read_json(tmp_path / "dir.json")
    assert str(err.value) == f"{tmp_path / 'dir.json'}: cannot be read (Is a directory)"


def test_read_json_object_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "l.json").write_text("[1, 2]")
    with pytest.raises(UserError) as err:
        lio.read_json_object(tmp_path / "l.json")
    assert str(err.value) == f'{tmp_path / "l.json"}: not an object but a list (expected {{"key": value, ...}})'


def test_read_toml_reads_and_names_the_file_and_the_problem(tmp_path: Path) -> None:
    (tmp_path / "ok.toml").write_text('[study]\nname = "Müller"\nn = 3\n', encoding="utf-8")
    assert lio.read_toml(str(tmp_path / "ok.toml")) == {"study": {"name": "Müller", "n": 3}}  # a str path too
    (tmp_path / "latin1.toml").write_bytes('name = "Müller"\n'.encode("latin-1"))
    (tmp_path / "bad.toml").write_text("name = \n")
    (tmp_path / "dir.toml").mkdir()
    expected = {
        "missing.toml": "file not found",
        "latin1.toml": "not UTF-8 text (byte 9); save it as UTF-8",
        "bad.toml": "not valid TOML (Invalid value (at line 1, column 8))",
        "dir.toml": "cannot be read (Is a directory)",
    }
    for name, message in expected.items():
        with pytest.raises(UserError) as err:
            lio.read_toml(tmp_path / name)
        assert str(err.value) == f"{tmp_path / name}: {message}"


# --- exchanging folders


def test_exchange_of_a_missing_path_names_both_paths(tmp_path: Path) -> None:
    b = tmp_path / "b"
    b.mkdir()
    ctypes.set_errno(0)  # the error must come from this call, not from an earlier one
    with pytest.raises(OSError) as err:
        lio.exchange_paths(tmp_path / "missing", b)
    e = err.value
    assert (e.errno, e.strerror, e.filename, e.filename2) == (errno.ENOENT, os.strerror(errno.ENOENT),
                                                              str(tmp_path / "missing"), str(b))


class _FailingCall:
    """A C function that fails with `code` (a file system or kernel without RENAME_EXCHANGE)."""

    def __init__(self, code: int) -> None:
        self.code = code

    def __call__(self, *args: object) -> int:
        ctypes.set_errno(self.code)
        return -1


class _FakeLibc:
    def __init__(self, code: int) -> None:
        self.renameat2 = _FailingCall(code)


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP])
def test_without_an_atomic_exchange_the_folder_is_replaced_by_two_renames(code: int, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    new, target = tmp_path / "new", tmp_path / "report_files"
    for p, text in ((new, "new"), (target, "old")):
        p.mkdir()
        (p / "f").write_text(text)
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: _FakeLibc(code))
    monkeypatch.setattr(ctypes, "get_errno", lambda: code)
    assert lio.exchange_paths(new, target) is False
    assert (new / "f").read_text() == "new" and (target / "f").read_text() == "old"  # nothing moved
    lio.replace_folder(new, target, aside=tmp_path / "aside")
    assert (target / "f").read_text() == "new" and (tmp_path / "aside" / "f").read_text() == "old"


def test_without_the_c_library_there_is_no_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise OSError("libc not found")

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert lio.exchange_paths(a, b) is False
