"""Drive the experiment programs from a test: start them, follow their screens, press real keys."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_SCREEN = re.compile(r"\tEXP \tSCREEN (\S+)(.*)$")


def program_env(home: Path) -> dict[str, str]:
    """Environment for a program run: PsychoPy's prefs in a temporary HOME, the repo importable."""
    env = dict(os.environ)
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def start(module: str, args: list[str], home: Path) -> subprocess.Popen[str]:
    """Start `python -m experiment.<module> ARGS` in the background."""
    return subprocess.Popen([sys.executable, "-m", f"experiment.{module}", *args], cwd=REPO, env=program_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(module: str, args: list[str], home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a program to its end."""
    return subprocess.run([sys.executable, "-m", f"experiment.{module}", *args], cwd=REPO, env=program_env(home),
                          capture_output=True, text=True, timeout=timeout)


class ScreenWatcher:
    """Follows the SCREEN lines of the newest PsychoPy log of a session folder."""

    def __init__(self, beh_dir: Path, attempt: int) -> None:
        self.beh_dir = beh_dir
        self.attempt = attempt
        self._pos = 0
        self._buf = ""

    def next(self, proc: subprocess.Popen[str], timeout: float = 60, repress: Callable[[], None] | None = None,
             repress_after: float = 10.0) -> tuple[str, dict[str, str]]:
        """The next screen shown: (name, info); fails if the program ends or nothing comes. `repress`
        (the key presser's press_again) is called when no screen came for `repress_after` seconds:
        an XTEST press can be lost, and then the program waits for it forever (at most 3 times)."""
        deadline = time.monotonic() + timeout
        next_repress, represses = time.monotonic() + repress_after, 0
        while time.monotonic() < deadline:
            if repress is not None and represses < 3 and time.monotonic() > next_repress:
                repress()
                represses += 1
                next_repress = time.monotonic() + repress_after
            logs = list(self.beh_dir.glob(f"*_attempt-{self.attempt:02d}_psychopy.log"))
            if logs:
                with open(logs[0], encoding="utf-8") as fh:
                    fh.seek(self._pos)
                    self._buf += fh.read()
                    self._pos = fh.tell()
                while "\n" in self._buf:
                    line, self._buf = self._buf.split("\n", 1)
                    m = _SCREEN.search(line)
                    if m:
                        info = dict(kv.split("=", 1) for kv in m.group(2).split())
                        return m.group(1), info
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"program ended (status {proc.returncode}) while waiting for a screen:\n{err[-3000:]}")
            time.sleep(0.02)
        raise AssertionError("no screen within the timeout")


def wait_rows(tsv: Path, n: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until the session TSV holds at least `n` trial rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tsv.is_file() and tsv.read_bytes().count(b"\n") - 1 >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"program ended (status {proc.returncode}) before {n} rows:\n{proc.stderr.read()[-3000:]}")
        time.sleep(0.01)
    raise AssertionError(f"{tsv} did not reach {n} rows")
