"""One writer per model: an exclusive `flock` on `models/<id>/.lock` held while a process trains it.

The lock belongs to the open file, so it goes away with the process (also on SIGKILL): a killed
run can be resumed at once, while a model that a live process is training is reported busy
instead of being started a second time (two writers would bump `attempts` and delete each
other's uncommitted epoch files).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labutil.errors import UserError

LOCK_FILE = ".lock"
_TRIES = 10


class ModelBusy(UserError):
    """Another live process holds the model's lock."""


def lock_path(model_dir: Path) -> Path:
    return Path(model_dir) / LOCK_FILE


def _holder(path: Path) -> str:
    try:
        text = path.read_text().split()
    except OSError:
        text = []
    if len(text) >= 2:
        return f"process pid {text[0]} on {text[1]}"
    return f"process pid {text[0]}" if text else "another process"


def busy_message(model_id: str, model_dir: Path) -> str | None:
    """Who trains the model now (one line), or None when nobody holds its lock."""
    path = lock_path(model_dir)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return f"model '{model_id}' is busy: {_holder(path)} is training it ({path})"
    finally:
        os.close(fd)
    return None


@contextmanager
def model_lock(model_id: str, model_dir: Path) -> Iterator[None]:
    """Hold the model's lock for the block; raise ModelBusy at once if another process holds it."""
    path = lock_path(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for attempt in range(_TRIES):  # a `busy_message` check holds a shared lock for microseconds
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _TRIES - 1:
                    raise ModelBusy(f"model '{model_id}' is busy: {_holder(path)} is training it ({path})") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
