"""Atomic, durable file writes: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

from labutil.errors import UserError


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
    fd, tmp = _create_temp(path, 0o666 if mode is None else mode & 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def _create_temp(path: Path, mode: int) -> tuple[int, str]:
    """A new, exclusive temporary file beside `path`, created with `mode` (less the umask)."""
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(6)}.tmp")
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
