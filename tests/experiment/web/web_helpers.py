"""Shared helpers of the experiment.web tests: a study app in process, and a served one as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiment.web.config import load_web_config
from experiment.web.state import StateStore
from experiment.web.study import OnlineStudy

REPO = Path(__file__).resolve().parents[3]
CLIENT = {"screen": [1920, 1080], "window": [1280, 720], "dpr": 1.0, "fullscreen": True}

TEST_CONFIG = """\
[study]
completion_code = "TESTCODE1"
completion_url = ""

[screen]
fullscreen = true
min_window_px = [800, 600]

[two_afc]
fixation_s = 0.05
break_every = 3

[questionnaire]
fixation_s = 0.05
break_every = 0

[catch]
every = 4
"""


def write_config(path: Path, text: str = TEST_CONFIG) -> Path:
    path.write_text(text)
    return path


def make_study(tmp: Path, stimuli: Path, config: Path | None = None, database: str | None = None) -> OnlineStudy:
    cfg = load_web_config(config)
    store = StateStore(database or f"sqlite:///{tmp / 'state.sqlite'}")
    return OnlineStudy(stimuli, tmp / "lab_data", tmp / "lab_private", cfg, store)


def two_afc_body(plan: dict[str, Any], index: int, side: str = "left", rt: float = 0.8) -> dict[str, Any]:
    t = plan["trials"][index]
    return {"index": index, "trial": t["trial"], "key": plan["keys"][side], "rt": rt, "onset": 1.0 + index,
            "client": dict(CLIENT)}


def questionnaire_body(plan: dict[str, Any], index: int, n: int = 2, main: str = "yes",
                       unusual: str = "no") -> dict[str, Any]:
    t = plan["trials"][index]
    return {"index": index, "trial": t["trial"], "answers": {"n_categories": n, "main_category": main,
                                                              "unusual": unusual},
            "rt": [0.5, 0.6, 0.7], "onset": 2.0 * index, "client": dict(CLIENT)}


@dataclass
class Served:
    """A `python -m experiment.web serve` process and its URL."""

    proc: subprocess.Popen
    url: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def serve(stimuli: Path, tmp: Path, config: Path | None = None, port: int = 0, database: str | None = None,
          timeout: float = 30) -> Served:
    """Start the server as a separate process and wait for its startup line."""
    cmd = [sys.executable, "-m", "experiment.web", "serve", "--stimuli", str(stimuli), "--data-root",
           str(tmp / "lab_data"), "--private-root", str(tmp / "lab_private"), "--port", str(port)]
    if config:
        cmd += ["--config", str(config)]
    if database:
        cmd += ["--database", database]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"server exited with {proc.wait()} before its startup line")
        m = re.search(r"at (http://\S+?)/\?", line)
        if m:
            return Served(proc, m.group(1))
    proc.kill()
    raise AssertionError("no startup line")
