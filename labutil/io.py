"""Atomic, durable file writes: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labutil.errors import DISK_FULL, DiskFull, UserError

# Temporary files and folders of every writer: `.<final name>.<host>-<pid>-<random hex>.tmp`
# beside the final path (the rename must stay on one file system). Host and pid tell a leftover
# of a dead process from the file a live writer is still filling (also one on another machine
# of a shared file system). `_LEGACY_TEMP` is the name older versions used (no pid).
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:(?P<host>[A-Za-z0-9]{1,16})-)?(?P<pid>\d+)-[0-9a-f]{8,}\.tmp$")
_LEGACY_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-z_]{8,12}\.tmp$")
LEGACY_TEMP_AGE_S = 3600.0  # a temporary file without a pid this old has no live writer


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None, sync_dir: bool = True) -> None:
    """Write `data` to `path` via a temporary file, fsync and rename.

    The file gets the permissions a plain `open()` would give (0666 less the umask), or exactly
    `mode` when given (e.g. 0o600 for restricted files; set before the rename, so never wider).
    `sync_dir=False` leaves the directory fsync to a later write into the same folder, which then
    makes both renames durable at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = _create_temp(path, 0o666 if mode is None else mode & 0o600)
    except OSError as exc:
        raise_if_disk_full(exc, path)
        raise
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise_if_disk_full(exc, path)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def _host_tag() -> str:
    """This machine's name as it goes into temporary names (letters and digits, at most 16)."""
    import socket

    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"


def temp_name(path: Path) -> Path:
    """A fresh temporary name for `path`: `.<name>.<host>-<pid>-<hex>.tmp` in the same folder."""
    path = Path(path)
    return path.parent / f".{path.name}.{_host_tag()}-{os.getpid()}-{secrets.token_hex(6)}.tmp"


def make_temp_dir(path: Path) -> Path:
    """Create (mode 0777 less the umask, like any folder) the temporary folder that becomes `path`
    by one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = temp_name(path)
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def is_temp_name(name: str, legacy: bool = True) -> bool:
    """True for the name of a writer's temporary file or folder (this version's, or with `legacy`
    also an older one's)."""
    return bool(_TEMP.match(name) or (legacy and _LEGACY_TEMP.match(name)))


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists on this host (this process always); a zombie (killed, not
    yet reaped) counts as gone."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_leftover(path: Path, now: float | None = None, legacy: Callable[[Path], bool] | bool = True) -> bool:
    """True for a temporary file or folder that no live writer owns: its pid is dead (on this
    host; one of another host, or an older version's name accepted by `legacy` (a folder other
    programs also use passes a check that it is ours, or False), counts once it is over
    LEGACY_TEMP_AGE_S old)."""
    path = Path(path)
    m = _TEMP.match(path.name)
    if m and m.group("host") in (None, _host_tag()):
        return not pid_alive(int(m.group("pid")))
    if m or (_LEGACY_TEMP.match(path.name) and (legacy is True or (callable(legacy) and legacy(path)))):
        try:
            age = (time.time() if now is None else now) - path.lstat().st_mtime
        except FileNotFoundError:
            return False
        return age > LEGACY_TEMP_AGE_S
    return False


def find_temp_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Temporary files and folders (by name) in `folder`, sorted; [] if it does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            if is_temp_name(name):
                found.append(Path(dirpath) / name)
        dirnames[:] = [d for d in dirnames if not is_temp_name(d)] if recursive else []
    return sorted(found)


def remove_leftovers(folder: Path, recursive: bool = False, all_temp: bool = False,
                     legacy: Callable[[Path], bool] | bool = True) -> list[Path]:
    """Remove the temporary files and folders that killed writers left in `folder` (and below it
    with `recursive`); `all_temp` also removes those of live processes (for a caller that holds
    the folder's lock, so no other writer can own them); `legacy` as in `is_leftover` (False in a
    folder the user chose, where another program's hidden `.x.abcdefgh.tmp` may lie). Returns
    what was removed."""
    removed = []
    for path in find_temp_files(folder, recursive):
        if not (all_temp and (_TEMP.match(path.name) or legacy is True)) and not is_leftover(path, legacy=legacy):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        fsync_dir(Path(folder))
    return removed


def raise_if_disk_full(exc: BaseException, path: Path | str) -> None:
    """Turn a full disk (or quota) while writing `path` into a one-line DiskFull naming it (also
    re-naming a DiskFull raised for a file inside `path`)."""
    if isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno in DISK_FULL):
        raise DiskFull(f"{path}: could not be written: no space left on device (or quota exceeded); "
                       "nothing was changed (free some space and run the command again)") from None


def _create_temp(path: Path, mode: int) -> tuple[int, str]:
    """A new, exclusive temporary file beside `path`, created with `mode` (less the umask)."""
    for _ in range(100):
        tmp = str(temp_name(path))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Write UTF-8 text atomically (`mode` as in atomic_write_bytes)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def write_json(path: Path, obj: Any, fast: bool = False) -> None:
    """Write JSON atomically, indented, keys in insertion order, newline-terminated.

    `fast` lays out a dict one top-level key per line and a list of records one record per line,
    each line encoded by json's C encoder (indent=2 forces the slow pure-Python one); for files
    rewritten often, such as a run's run.json after every epoch.
    """
    text = _dumps_lines(obj) if fast and isinstance(obj, dict) else json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def _dumps_lines(obj: dict[str, Any]) -> str:
    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, default=_json_default)

    def field(key: str, value: Any) -> str:
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return f"  {one(key)}: [\n" + ",\n".join(f"    {one(v)}" for v in value) + "\n  ]"
        return f"  {one(key)}: {one(value)}"

    return "{\n" + ",\n".join(field(k, v) for k, v in obj.items()) + "\n}" if obj else "{}"


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing, unreadable, non-UTF-8, torn or malformed file is a UserError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        torn = " - the file looks truncated" if exc.pos >= len(text.rstrip()) else ""
        raise UserError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}{torn})") from None


def read_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON file that must hold an object ({...}); anything else is a UserError naming it."""
    from labutil.validate import expect_object

    return expect_object(read_json(path), str(path))


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing, unreadable, non-UTF-8 or malformed file is a UserError naming it."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})") from None


_RENAME_EXCHANGE = 2  # renameat2 flag (Linux >= 3.15)
_AT_FDCWD = -100


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where
    the C library or the file system cannot, so the caller falls back to two renames."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def replace_folder(new: Path, target: Path, aside: Path) -> None:
    """Put folder `new` at `target`: one atomic swap with an existing `target` (which then sits at
    `new`; `aside` is unused), else two renames through `aside`; a missing `target` is one rename."""
    if not target.exists():
        os.rename(new, target)
    elif not exchange_paths(new, target):
        os.rename(target, aside)
        os.rename(new, target)
    fsync_dir(target.parent)
